"""Prints the requirements of CloudBrain's extras, one a line, from pyproject.toml alone.

    python3 requirements.py server > requirements.txt
    python3 requirements.py --build        # the build backend's requirement (setuptools>=69)

The images install these before they copy the sources, so the layer with the dependencies
(minutes to build, hundreds of MB) is rebuilt only when pyproject.toml changes. An extra that
names the project itself (``cloudbrain[agent]``) brings in that extra's requirements.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path
from typing import Any


def requirements(project: dict[str, Any], extras: list[str]) -> list[str]:
    found: list[str] = list(project.get("dependencies", []))
    seen: set[str] = set()
    todo = list(extras)
    while todo:
        extra = todo.pop(0)
        if extra in seen:
            continue
        seen.add(extra)
        for requirement in project["optional-dependencies"][extra]:
            own = re.fullmatch(rf"{re.escape(project['name'])}\[([\w,\s-]+)\]", requirement)
            if own:
                todo.extend(name.strip() for name in own.group(1).split(","))
            elif requirement not in found:
                found.append(requirement)
    return found


def main(argv: list[str]) -> int:
    pyproject = tomllib.loads(Path("pyproject.toml").read_text())
    if argv[1:] == ["--build"]:
        print("\n".join(pyproject["build-system"]["requires"]))
    else:
        print("\n".join(requirements(pyproject["project"], argv[1:])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
