"""``podium eval SUITE.yaml``: ask a suite's questions about its documents and score the answers.

Each question runs as a goal on the team (``--team``, ``podium.yaml``, else the default team)
and the model chosen (``--model``, by default each agent's own), recorded in the store like
any run, so ``podium runs`` and ``podium metrics`` see them. Scores per question and in
total: gold-fact recall, wrong facts stated, numbers no retrieved passage holds, citation
validity, the hallucination rate podium reported for the answer, seconds and tokens
(``podium.scoring``).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from podium import PodiumError, Suite, SuiteScore, evaluate, load_suite
from podium.cli.output import EXIT_FAILED, print_json, report_error, stdout_console
from podium.cli.runs import StoreOption

__all__ = ["eval_command"]


def eval_command(
    suite: Annotated[Path, typer.Argument(help="The suite file (YAML): docs and questions.")],
    *,
    model: Annotated[
        str | None,
        typer.Option("--model", "-m", help="Run every agent on this model (e.g. scripted)."),
    ] = None,
    team: Annotated[
        Path | None,
        typer.Option("--team", help="The team file (default: podium.yaml, else podium's)."),
    ] = None,
    store: StoreOption = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print one JSON object with every score.")
    ] = False,
) -> None:
    """Ask a suite's questions about its documents and score the answers.

    Exit status: 0 when every question's run succeeded, 1 when one failed, 2 for a bad suite.
    """
    try:
        loaded = load_suite(suite)
        score = asyncio.run(evaluate(loaded, team=team, model=model, store=store))
    except PodiumError as error:
        raise typer.Exit(report_error(error)) from None
    if json_output:
        print_json(_as_json(loaded, score))
    else:
        stdout_console().print(_table(loaded, score))
        stdout_console().print(_totals(score))
    if any(c.status != "succeeded" for c in score.cases):
        raise typer.Exit(EXIT_FAILED)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def _table(suite: Suite, score: SuiteScore) -> Table:
    table = Table(title=f"podium eval: {suite.name}", box=box.SIMPLE_HEAD, header_style="bold")
    table.add_column("question")
    for name in ("recall", "wrong", "citations", "halluc.", "time", "tokens", "run"):
        table.add_column(name, justify="right", no_wrap=True)
    for case in score.cases:
        valid = f"{case.valid_citations}/{case.claims}" if case.claims else "-"
        table.add_row(
            Text(case.question),
            _pct(case.recall),
            Text(str(len(case.wrong)), style="red" if case.wrong else ""),
            valid,
            _pct(case.hallucination_rate),
            f"{case.seconds:.1f}s",
            f"{case.tokens:,}",
            Text(case.run_id, style="dim" if case.status == "succeeded" else "red"),
        )
    return table


def _totals(score: SuiteScore) -> Text:
    return Text(
        f"{len(score.cases)} questions · recall {_pct(score.recall)} · "
        f"wrong facts {score.wrong_facts} · invented numbers {score.invented_numbers} · "
        f"citation validity {_pct(score.citation_validity)} · "
        f"hallucination rate {_pct(score.hallucination_rate)} · "
        f"{score.seconds_per_question:.1f}s per question"
    )


def _as_json(suite: Suite, score: SuiteScore) -> dict[str, object]:
    cases = [
        {
            "question": c.question,
            "run_id": c.run_id,
            "status": c.status,
            "answer": c.answer,
            "recall": c.recall,
            "found": list(c.found),
            "missed": list(c.missed),
            "wrong": list(c.wrong),
            "invented_numbers": list(c.invented),
            "claims": c.claims,
            "valid_citations": c.valid_citations,
            "hallucination_rate": c.hallucination_rate,
            "seconds": round(c.seconds, 3),
            "tokens": c.tokens,
        }
        for c in score.cases
    ]
    totals = {
        "questions": len(score.cases),
        "recall": score.recall,
        "wrong_facts": score.wrong_facts,
        "invented_numbers": score.invented_numbers,
        "citation_validity": score.citation_validity,
        "hallucination_rate": score.hallucination_rate,
        "seconds_per_question": round(score.seconds_per_question, 3),
    }
    return {"suite": suite.name, "totals": totals, "questions": cases}
