"""What the fault suite counted, gathered while it runs and shown at the end of the run (and
kept in tests/artifacts/faults.json): per fault and database, messages lost, doubled, out of
order and stuck (stored, but not delivered until the reader reconnected), and the memory of
the process that served them. The tests assert the invariants; this shows the numbers."""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from sqlalchemy import make_url

ARTIFACTS = Path(__file__).parent / "artifacts"


@dataclass(frozen=True)
class FaultRun:
    fault: str
    database: str
    messages: int
    lost: int
    doubled: int
    out_of_order: int
    stuck: int
    rss_mib: float


RUNS: list[FaultRun] = []


def backend(db_url: str) -> str:
    """ "sqlite" or "postgresql", for the report."""
    return make_url(db_url).get_backend_name()


def rss_mib(pid: int | str = "self") -> float:
    """Resident memory of a process, in MiB (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def tally(sent: list[str], live: list[str], replayed: Sequence[str] = ()) -> dict[str, int]:
    """Counts of what ``sent`` became: ``live`` arrived while connected, ``replayed`` only
    after the reader reconnected."""
    position = {mid: i for i, mid in enumerate(sent)}
    got = [*live, *replayed]
    seen = [position[m] for m in dict.fromkeys(live)]
    return {
        "lost": len(set(sent) - set(got)),
        "doubled": len(got) - len(set(got)),
        "out_of_order": sum(1 for a, b in itertools.pairwise(seen) if b < a),
        "stuck": len(set(replayed) - set(live)),
    }


def record(
    fault: str, database: str, sent: list[str], counts: dict[str, int], pid: int | str = "self"
) -> None:
    RUNS.append(FaultRun(fault, database, len(sent), rss_mib=rss_mib(pid), **counts))


def summary() -> list[str]:
    if not RUNS:
        return []
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "faults.json").write_text(json.dumps([asdict(r) for r in RUNS], indent=2))
    lines = [
        f"{'fault':<44} {'db':<10} {'msgs':>6} {'lost':>5} {'dup':>4} {'order':>6} "
        f"{'stuck':>6} {'RSS MiB':>8}"
    ]
    for r in RUNS:
        lines.append(
            f"{r.fault:<44} {r.database:<10} {r.messages:>6} {r.lost:>5} {r.doubled:>4} "
            f"{r.out_of_order:>6} {r.stuck:>6} {r.rss_mib:>8.1f}"
        )
    return lines
