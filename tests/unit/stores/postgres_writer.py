"""A writer process for the PostgreSQL concurrency test (run as a script, not collected).

Usage: ``python postgres_writer.py URL RUN_ID WRITER COUNT``. It opens the store, prints
``ready``, waits for a line on stdin (so that every writer starts at once), then appends
``COUNT`` events of its own to the run, one at a time: each at the seq after the last one it
reads, and read again and retried when another writer took that seq first. It prints how many
appends were refused that way.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime

from podium.errors import StoreError
from podium.event import FeedbackRecorded
from podium.ids import RunId
from podium.stores.postgres import PostgresStore

_MAX_TRIES = 10_000


async def main(url: str, run_id: RunId, writer: str, count: int) -> int:
    refused = 0
    async with PostgresStore(url) as store:
        await store.read(run_id)  # connect before saying ready
        print("ready", flush=True)
        sys.stdin.readline()
        for i in range(count):
            for _ in range(_MAX_TRIES):
                last = await store.read(run_id)
                seq = last[-1].seq + 1 if last else 1
                event = FeedbackRecorded(
                    seq=seq, run_id=run_id, at=datetime.now(UTC), score=1, comment=f"{writer}:{i}"
                )
                try:
                    await store.append(run_id, [event])
                    break
                except StoreError:
                    refused += 1
            else:
                raise SystemExit(f"{writer}: gave up on event {i} after {_MAX_TRIES} tries")
    return refused


if __name__ == "__main__":
    url, run, name, n = sys.argv[1:5]
    print(f"refused {asyncio.run(main(url, RunId(run), name, int(n)))}", flush=True)
