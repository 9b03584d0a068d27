"""Printing for people (rich) and for programs (``--json``), and errors that say what to do."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import asdict, is_dataclass
from datetime import datetime
from typing import Any, NoReturn

import typer
from pydantic import BaseModel
from rich.console import Console

from cloudbrain.errors import CloudBrainError

console = Console()
errors = Console(stderr=True)


def to_jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True, exclude_none=True)
    if is_dataclass(value) and not isinstance(value, type):
        return to_jsonable(asdict(value))
    if isinstance(value, dict):
        return {k: to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(to_jsonable(value), ensure_ascii=False) + "\n")
    sys.stdout.flush()


def emit(value: Any, as_json: bool, render: Callable[[], None]) -> None:
    """One result: as a JSON document with ``--json``, else as ``render`` draws it."""
    if as_json:
        print_json(value)
    else:
        render()


def wants_json() -> bool:
    """Whether ``--json`` is on the command line (for errors met before a command knows)."""
    return "--json" in sys.argv[1:]


def fail(error: BaseException, as_json: bool | None = None) -> NoReturn:
    """Report an error and exit 1 (see :func:`report`)."""
    report(error, as_json)
    raise typer.Exit(1)


def report(error: BaseException, as_json: bool | None = None, hint: str = "") -> None:
    """Say what went wrong, then what to do about it: as JSON when ``as_json``, or when not
    said, when --json is on the command line."""
    if isinstance(error, CloudBrainError):
        hint = error.hint
    if as_json is None:
        as_json = wants_json()
    if as_json:
        print_json({"error": {"type": type(error).__name__, "message": str(error), "hint": hint}})
    else:
        errors.print(f"[bold red]error:[/] {error}", highlight=False)
        if hint:
            errors.print(f"[yellow]hint:[/] {hint}", highlight=False)


def plural(count: int, word: str, many: str = "") -> str:
    """``1 turn``, ``2 turns``: a count with its noun in the right number."""
    return f"{count} {word if count == 1 else many or word + 's'}"


def ago(when: datetime | None) -> str:
    if when is None:
        return "never"
    seconds = (datetime.now(when.tzinfo) - when).total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit} ago"
    return "just now"
