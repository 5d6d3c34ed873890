"""Answer quality and speed on the embedded model, over the evaluation suites.

Runs ``podium.evaluate`` on each suite (by default the development suite in
``benchmarks/eval`` and the example suite in ``examples/eval``) with the default team and
prints, per suite: gold-fact recall, wrong facts stated, citation validity, the
final-answer hallucination rate podium reported, and seconds per question, with the machine's
load average (other processes share the cores, and seconds per question depend on them).

Run: ``python benchmarks/answers.py [--model local] [SUITE.yaml ...]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
from pathlib import Path

import podium

ROOT = Path(__file__).resolve().parents[1]
SUITES = (ROOT / "benchmarks" / "eval" / "suite.yaml", ROOT / "examples" / "eval" / "suite.yaml")


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


async def measure(suite_path: Path, model: str, store: Path) -> None:
    suite = podium.load_suite(suite_path)
    before = os.getloadavg()[0]
    score = await podium.evaluate(suite, model=model, store=store)
    after = os.getloadavg()[0]
    print(
        f"{suite.name}: {len(score.cases)} questions · recall {_pct(score.recall)} · "
        f"wrong facts {score.wrong_facts} · invented numbers {score.invented_numbers} · "
        f"citation validity {_pct(score.citation_validity)} · "
        f"hallucination rate {_pct(score.hallucination_rate)} · "
        f"{score.seconds_per_question:.1f}s per question "
        f"(load average {before:.1f} -> {after:.1f} on {os.cpu_count()} cores)"
    )
    for case in score.cases:
        print(f"  {_pct(case.recall):>4} {case.seconds:5.1f}s  {case.question}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suites", nargs="*", type=Path, default=list(SUITES))
    parser.add_argument("--model", default="local")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        for suite in args.suites:
            await measure(suite, args.model, Path(scratch) / "runs.db")


if __name__ == "__main__":
    asyncio.run(main())
