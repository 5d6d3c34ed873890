"""How many events per second SqliteStore appends, one at a time and in batches.

Run with ``python benchmarks/store.py``. The database is a file in a temporary directory, so
the figures include real commits (and, with ``durability="full"``, real fsyncs).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from podium.event import Event, TaskStarted
from podium.ids import RunId, TaskId
from podium.stores.sqlite import SqliteStore

_AT = datetime(2025, 1, 1, tzinfo=UTC)


def _events(run_id: RunId, count: int) -> list[Event]:
    return [
        TaskStarted(seq=seq, run_id=run_id, at=_AT, task_id=TaskId(f"t{seq}"), agent="writer")
        for seq in range(1, count + 1)
    ]


async def _measure(
    folder: Path, durability: Literal["normal", "full"], *, count: int, batch: int
) -> float:
    """Append ``count`` events in batches of ``batch``; return events per second."""
    run_id = RunId(f"{durability}-{batch}")
    events = _events(run_id, count)
    async with SqliteStore(folder / f"{run_id}.db", durability=durability) as store:
        started = time.perf_counter()
        for start in range(0, count, batch):
            await store.append(run_id, events[start : start + batch])
        elapsed = time.perf_counter() - started
        assert len(await store.read(run_id)) == count
    return count / elapsed


async def main() -> None:
    """Print events per second for each durability and batch size."""
    cases: list[tuple[Literal["normal", "full"], int, int]] = [
        ("normal", 5000, 1),
        ("full", 500, 1),
        ("normal", 20000, 10),
        ("full", 2000, 10),
    ]
    with tempfile.TemporaryDirectory() as folder:
        print(f"{'durability':<12}{'batch':>6}{'events':>8}{'events/s':>12}{'us/append':>11}")
        for durability, count, batch in cases:
            rate = await _measure(Path(folder), durability, count=count, batch=batch)
            per_append = 1e6 * batch / rate
            print(f"{durability:<12}{batch:>6}{count:>8}{rate:>12,.0f}{per_append:>11.1f}")


if __name__ == "__main__":
    asyncio.run(main())
