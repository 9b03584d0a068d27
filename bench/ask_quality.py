"""Whether asks answer only when someone knows: the demo family, asked questions it can and
cannot answer.

    python -m bench.ask_quality                 # SQLite and PostgreSQL, about a minute
    python -m bench.ask_quality --no-postgres --json-only > result.json

``cloudbrain demo --brain recall`` runs as a real process, on a fresh database (ada, linus and
grace live and answering from their own device's memory, hopper known only by what she stored),
with the embedder it is configured with (the shipped model unless ``CLOUDBRAIN_EMBEDDER`` says
otherwise). Each question of ``bench.ask_questions`` is then asked once as ``you``, with a
3-second deadline, and the result is scored:

- ``on_topic.right_first``: the share of on-topic questions whose first answer comes from the
  specialist whose knowledge answers it (and that is not "nobody knows");
  ``on_topic.right_chosen_first`` the same for the first specialist chosen;
- ``off_topic.nobody_knows``: the share of questions nobody in the family can answer that end
  in "nobody knows".

Both are given for the development half (even-numbered questions, on which the relevance floor
was chosen) and the held-out half. Latency per ask (p50, p99, milliseconds) is measured from
the client and includes the live specialists' answers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.ask_questions import OFF_TOPIC, ON_TOPIC
from bench.servers import fresh_postgres
from cloudbrain.agent.client import Client
from cloudbrain.credentials import resolve
from tests.processes import ListeningProcess, cli_env

LIVE = ("ada", "linus", "grace")
TIMEOUT = 3.0
TARGET = 0.9


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def share(hits: list[bool]) -> float:
    return round(sum(hits) / len(hits), 3) if hits else 0.0


def halves(hits: list[bool]) -> dict[str, float]:
    return {"dev": share(hits[0::2]), "held_out": share(hits[1::2]), "all": share(hits)}


async def until_online(client: Client, names: tuple[str, ...]) -> None:
    for _ in range(600):
        if set(names) <= {a.name for a in await client.who(online=True)}:
            return
        await asyncio.sleep(0.1)
    raise TimeoutError(f"{names} did not come online")


async def measure(db_url: str, workdir: Path) -> dict[str, Any]:
    home = workdir / "home"
    home.mkdir(parents=True)
    embedder = os.environ.get("CLOUDBRAIN_EMBEDDER")
    env = cli_env(
        home,
        CLOUDBRAIN_DATABASE_URL=db_url,
        **({"CLOUDBRAIN_EMBEDDER": embedder} if embedder else {}),
    )
    demo = ListeningProcess(
        [sys.executable, "-m", "cloudbrain", "demo", "--brain", "recall"], env, home / "demo.log"
    )
    with demo:
        you = resolve(home, demo.url, "you", None)
        async with Client(demo.url, "you", you.token, timeout=30) as client:
            await until_online(client, LIVE)
            on_first, on_chosen, off_nobody, ms = [], [], [], []
            for question, expert in ON_TOPIC:
                started = time.perf_counter()
                result = await client.ask_and_wait(question, timeout=TIMEOUT)
                ms.append((time.perf_counter() - started) * 1000)
                first = result.answers[0].agent if result.answers else None
                on_first.append(not result.nobody_knows and first == expert)
                chosen = result.specialists[0].agent if result.specialists else None
                on_chosen.append(chosen == expert)
                print(
                    f"  on  {'ok ' if on_first[-1] else 'MISS'} {first} {question}", file=sys.stderr
                )
            for question in OFF_TOPIC:
                started = time.perf_counter()
                result = await client.ask_and_wait(question, timeout=TIMEOUT)
                ms.append((time.perf_counter() - started) * 1000)
                off_nobody.append(result.nobody_knows)
                print(f"  off {'ok ' if off_nobody[-1] else 'MISS'} {question}", file=sys.stderr)
    return {
        "on_topic": {
            "questions": len(ON_TOPIC),
            "right_first": halves(on_first),
            "right_chosen_first": halves(on_chosen),
        },
        "off_topic": {"questions": len(OFF_TOPIC), "nobody_knows": halves(off_nobody)},
        "ask_ms": {"p50": round(percentile(ms, 50), 1), "p99": round(percentile(ms, 99), 1)},
    }


async def run(postgres: str | None) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "embedder": os.environ.get("CLOUDBRAIN_EMBEDDER", "onnx:minilm (default)"),
        "backends": {},
    }
    with tempfile.TemporaryDirectory() as folder:
        print("sqlite:", file=sys.stderr)
        doc["backends"]["sqlite"] = await measure(
            f"sqlite+aiosqlite:///{Path(folder) / 'demo.db'}", Path(folder) / "sqlite"
        )
    if postgres:
        async with fresh_postgres(postgres) as url:
            with tempfile.TemporaryDirectory() as folder:
                print("postgresql:", file=sys.stderr)
                doc["backends"]["postgresql"] = await measure(url, Path(folder))
    doc["target"] = {
        backend: {
            "off_topic_nobody_knows_held_out": r["off_topic"]["nobody_knows"]["held_out"] >= TARGET,
            "on_topic_right_first_held_out": r["on_topic"]["right_first"]["held_out"] >= TARGET,
        }
        for backend, r in doc["backends"].items()
    }
    return doc


def table(doc: dict[str, Any]) -> str:
    lines = [
        "| back end | half | on-topic: right AI first | off-topic: nobody knows | ask p50 / p99 |",
        "|---|---|---|---|---|",
    ]
    for backend, r in doc["backends"].items():
        for half in ("dev", "held_out"):
            lines.append(
                f"| {backend} | {half} | {r['on_topic']['right_first'][half]:.2f} "
                f"| {r['off_topic']['nobody_knows'][half]:.2f} "
                f"| {r['ask_ms']['p50']:.0f} / {r['ask_ms']['p99']:.0f} ms |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--postgres",
        default="postgresql+asyncpg://postgres@127.0.0.1:5432/postgres",
        help="a PostgreSQL server to make a fresh database on (default: %(default)s)",
    )
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--json-only", action="store_true", help="no table on stderr")
    args = parser.parse_args(argv)
    doc = asyncio.run(run(None if args.no_postgres else args.postgres))
    if not args.json_only:
        print(table(doc), file=sys.stderr)
    print(json.dumps(doc, indent=2))


if __name__ == "__main__":
    main()
