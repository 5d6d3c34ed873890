"""A whole goal on the real embedded model: plan, retrieve, run the steps, answer, verify.

Slow (the 135M model generates every answer on CPU, about a minute or two on two cores) and
its wording varies, so the test checks the structure of the run, never its wording: each
claim is a sentence of the passage it cites (grounded by construction) and is supported.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import pytest

import podium
from podium import SqliteStore
from podium.event import ClaimVerified, Event, PlanCreated, TaskStarted, TaskSucceeded
from podium.knowledge import KnowledgeBase
from podium.sentences import numbers, split_sentences
from podium.synthesis import Answer
from podium.team import DEFAULT_TEAM
from podium.workflow.yaml import load_workflow

pytestmark = pytest.mark.slow

GOAL = "Write a short report on the electric two-wheeler market in Vietnam"
EXAMPLE_DOCS = Path(__file__).parents[2] / "examples" / "docs"
ENDED = frozenset({"succeeded", "skipped", "failed"})
SHOWN = ("task_id", "iteration", "output_tokens", "message", "errors", "reason")
SHOWN += ("claim", "verdict", "sources")
"""Fields of an event shown in the story of a failed check."""


def _story(events: Sequence[Event]) -> str:
    """The run's events one line each, without the token stream: shown when a check fails."""
    lines: list[str] = []
    for event in events:
        if event.kind == "context_written":
            continue
        fields = {
            name: getattr(event, name)
            for name in SHOWN
            if getattr(event, name, None) not in (None, "", ())
        }
        lines.append(f"{event.seq:>3} {event.kind} {fields}")
    return "\n".join(lines)


async def test_a_goal_is_planned_run_answered_with_citations_and_verified(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PODIUM_CACHE_DIR", str(tmp_path / "cache"))
    docs = shutil.copytree(EXAMPLE_DOCS, tmp_path / "docs")
    team = load_workflow(DEFAULT_TEAM)
    (plan_task,) = [t for t in team.tasks if t.plan is not None]
    assert plan_task.plan is not None
    members = set(plan_task.plan.agents)
    capabilities = {c for a in team.agents if a.name in members for c in a.capabilities}

    async with SqliteStore(tmp_path / "runs.db") as store:
        result = await podium.arun(goal=GOAL, docs=docs, store=store)
    events = result.events
    story = _story(events)

    assert result.status == "succeeded", f"{result.error}\n{story}"
    assert {t.status for t in result.tasks.values()} <= ENDED, story

    plans = [e for e in events if isinstance(e, PlanCreated)]
    assert plans, story
    for plan in plans:
        steps = plan.plan["steps"] if isinstance(plan.plan, dict) else None
        assert isinstance(steps, list) and steps, story
        for step in steps:
            assert isinstance(step, dict)
            assert step.get("agent") in members or step.get("capability") in capabilities, step
    started = {(e.task_id, e.iteration): e.agent for e in events if isinstance(e, TaskStarted)}
    succeeded = {e.task_id for e in events if isinstance(e, TaskSucceeded)}
    last = max(plans, key=lambda p: p.revision)
    for step in last.steps:  # the last plan's steps ran and succeeded (kept ones earlier)
        assert any(task == step.id for task, _ in started), f"{step.id} never started\n{story}"
        assert step.id in succeeded, f"{step.id} did not succeed\n{story}"
    step_ids = {step.id for plan in plans for step in plan.steps}
    ran_by = {agent for (task, _), agent in started.items() if task in step_ids}
    assert ran_by <= members, story

    answer = Answer.model_validate(result.output)
    assert answer.answer.strip(), story
    assert answer.claims, story
    cited = {source for claim in answer.claims for source in claim.sources}
    assert cited, f"no claim cites a passage: {answer!r}\n{story}"
    with KnowledgeBase.open(docs) as knowledge:
        missing = {source for source in cited if knowledge.passage(source) is None}
        assert not missing, f"cited passages that do not exist: {missing}\n{story}"
        for claim in answer.claims:  # grounded by construction: a sentence of its passage
            (source,) = claim.sources
            passage = knowledge.passage(source)
            assert passage is not None
            assert claim.text in split_sentences(passage.text), f"{claim!r}\n{story}"
            assert numbers(claim.text) <= numbers(passage.text), claim

    checks = [e for e in events if isinstance(e, ClaimVerified)]
    assert checks, story
    final = max(e.iteration for e in checks)
    verified = [e.claim for e in checks if e.iteration == final]
    assert verified == [c.text for c in answer.claims], story
    assert {e.verdict for e in checks if e.iteration == final} == {"supported"}, story
