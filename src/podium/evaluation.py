"""``evaluate``: ask a suite's questions about its documents and score the answers.

Each question runs as a goal on the team (``podium.arun(team, goal=..., docs=...)``), recorded
in the store like any run, so ``podium runs`` and ``podium metrics`` see them; each run is
scored by ``podium.scoring.score_run``.
"""

from __future__ import annotations

from pathlib import Path

from podium.entry import arun
from podium.models.base import Model
from podium.scoring import CaseScore, Suite, SuiteScore, score_run
from podium.stores.argument import StoreArg, opened_store
from podium.team import find_team

__all__ = ["evaluate"]


async def evaluate(
    suite: Suite,
    *,
    team: str | Path | None = None,
    model: str | Model | None = None,
    store: StoreArg = None,
) -> SuiteScore:
    """Run every question of ``suite`` as a goal and score the answers.

    Args:
        suite: the documents and questions (``podium.load_suite``).
        team: the team file; by default ``podium.yaml`` here, else podium's default team.
        model: a model or model name for every agent (by default each agent's own).
        store: where the runs are recorded (a ``Store``, a SQLite path, or None for the
            default file).

    Returns:
        The score of each question and the totals.

    Raises:
        ConfigError: the team file is missing or invalid.
    """
    path = find_team(team)
    scores: list[CaseScore] = []
    async with opened_store(store) as opened:
        for case in suite.questions:
            result = await arun(
                path, goal=case.question, docs=suite.docs, model=model, store=opened
            )
            scores.append(score_run(case, result))
    return SuiteScore(cases=tuple(scores))
