"""How fast the knowledge base indexes documents and answers searches, and what planning
adds to a goal run.

Run with ``python benchmarks/knowledge.py``. Documents are generated Markdown files in a
temporary directory; the index is a real SQLite file there.
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

import podium
from podium.knowledge import KnowledgeBase

_WORDS = [
    "market",
    "sales",
    "battery",
    "charging",
    "price",
    "rider",
    "city",
    "scooter",
    "motorbike",
    "electric",
    "petrol",
    "rule",
    "zone",
    "subsidy",
    "dealer",
    "factory",
    "import",
    "share",
    "growth",
    "survey",
    "range",
    "commuter",
    "delivery",
    "student",
    "VinFast",
    "Yadea",
    "Hanoi",
    "province",
    "standard",
    "fire",
    "basement",
    "swap",
    "lease",
    "forecast",
    "demand",
]


def _write_documents(directory: Path, count: int, rng: random.Random) -> None:
    for number in range(count):
        paragraphs = [
            " ".join(rng.choice(_WORDS) for _ in range(rng.randint(40, 90))) + "." for _ in range(6)
        ]
        text = f"# Note {number}\n\n" + "\n\n".join(paragraphs)
        (directory / f"note-{number:04d}.md").write_text(text, encoding="utf-8")


def _index(directory: Path, cache: Path) -> None:
    count = len(list(directory.glob("*.md")))
    started = time.perf_counter()
    with KnowledgeBase.open(directory, cache_dir=cache) as knowledge:
        first = time.perf_counter() - started
        passages = sum(n for _, _, n in knowledge.documents())
    started = time.perf_counter()
    with KnowledgeBase.open(directory, cache_dir=cache):
        again = time.perf_counter() - started
    print(
        f"index {count} documents ({passages} passages): {first:.2f}s, "
        f"{count / first:,.0f} documents/s"
    )
    print(f"reopen with nothing changed: {again * 1000:.1f} ms")


def _search(directory: Path, cache: Path, rng: random.Random) -> None:
    timings: list[float] = []
    with KnowledgeBase.open(directory, cache_dir=cache) as knowledge:
        for _ in range(200):
            query = " ".join(rng.sample(_WORDS, 4))
            started = time.perf_counter()
            knowledge.search(query, limit=3)
            timings.append(time.perf_counter() - started)
    timings.sort()
    p95 = timings[int(len(timings) * 0.95)]
    print(
        f"search (top 3 of 4 words): p50 {statistics.median(timings) * 1000:.2f} ms, "
        f"p95 {p95 * 1000:.2f} ms"
    )


async def _goal_run(docs: Path) -> None:
    """A whole goal on the default team with canned answers: the orchestration's own cost."""
    durations: list[float] = []
    for _ in range(10):
        async with podium.SqliteStore(":memory:") as store:
            started = time.perf_counter()
            result = await podium.arun(
                goal="Compare e-bike makers in Vietnam", docs=docs, model="scripted", store=store
            )
            durations.append(time.perf_counter() - started)
            assert result.ok, result.error
    print(
        f"goal run, scripted model, 8 tasks with retrieval and verification: "
        f"median {statistics.median(durations) * 1000:.1f} ms"
    )


def main() -> None:
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as scratch:
        docs, cache = Path(scratch) / "docs", Path(scratch) / "cache"
        docs.mkdir()
        _write_documents(docs, 1000, rng)
        _index(docs, cache)
        _search(docs, cache, rng)
    examples = Path(__file__).resolve().parents[1] / "examples" / "docs"
    with tempfile.TemporaryDirectory() as scratch:
        os.environ["PODIUM_CACHE_DIR"] = scratch
        asyncio.run(_goal_run(examples))


if __name__ == "__main__":
    main()
