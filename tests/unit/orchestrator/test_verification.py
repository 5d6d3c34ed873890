"""Verification end to end: drafts grounded in retrieved passages, every claim checked.

The default team (``podium/teams/default.yaml``) runs on a docs folder with a scripted
model: a hallucinated draft is caught, revised, and counted in the hallucination rate.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from pydantic import JsonValue

import podium
from podium import Agent, ScriptedModel, SqliteStore, Task, Workflow, WorkflowValidationError
from podium.engine import LocalEngine
from podium.event import (
    ClaimVerified,
    ContextWritten,
    LoopIterated,
    SourcesRetrieved,
)
from podium.orchestrator import KINDS
from podium.policy import RetryPolicy
from podium.run import RunResult, project
from podium.synthesis import Answer, Claim, read_claim
from podium.team import DEFAULT_TEAM
from podium.telemetry.metrics import facts_of, measure
from podium.verifier import ClaimCheck, Verification, draft_claims, verdicts
from podium.workflow.validate import problems, validate

T = TypeVar("T")
GOAL = "Report on the size of the e-bike market"
PLAN = {
    "steps": [
        {"id": "size", "agent": "researcher", "instruction": "Find how much the market grew"},
        {"id": "leaders", "agent": "researcher", "instruction": "Find which brands lead"},
    ]
}
ZEBRAS = "Zebras fly over Paris."
GROWTH = "The e-bike market grew 20% in 2025."


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    async with SqliteStore(tmp_path / "runs.db") as store:
        yield store


@pytest.fixture
def docs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PODIUM_CACHE_DIR", str(tmp_path / "cache"))
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "market.md").write_text(
        "# E-bike market\n\nThe e-bike market grew 20% in 2025 to 4 billion euros.\n\n"
        "# Leaders\n\nTwo brands, Volta and Kettle, sell half of all e-bikes.\n"
    )
    return folder


def of(result: RunResult, kind: type[T]) -> list[T]:
    return [e for e in result.events if isinstance(e, kind)]


def claim(text: str, *sources: str) -> dict[str, JsonValue]:
    return {"text": text, "sources": list(sources)}


YES = "the verifier answered yes: do the passages say it?"
NO = "the verifier answered no: do the passages say it?"


def prompts(model: ScriptedModel, task_id: str) -> list[str]:
    return [c.messages[-1].content for c in model.calls if c.caller and c.caller.task_id == task_id]


async def test_the_default_team_revises_a_draft_until_its_claims_are_supported(
    store: SqliteStore, docs: Path
) -> None:
    model = ScriptedModel(
        {
            "planner": [PLAN],
            "size": ["- grew 20% [market.md#1]"],
            "leaders": ["- Volta and Kettle [market.md#2]"],
            "synthesizer": [
                {"answer": ZEBRAS, "claims": [claim(ZEBRAS, "nowhere.md#9")]},
                {"answer": "It grew 20%.", "claims": [claim(GROWTH, "market.md#1")]},
            ],
            "verifier": [{"answer": "yes"}],  # not asked in iteration 1: a claim citing
            # nothing is unsupported; asked once in iteration 2, about its one claim
        }
    )
    result = await podium.arun(DEFAULT_TEAM, goal=GOAL, docs=docs, model=model, store=store)

    assert result.ok, result.error
    # iteration 1: the made-up citation is dropped, so the claim cites nothing and is
    # unsupported without asking the verifier; iteration 2 cites a real passage
    verdicts = [(c.iteration, c.claim, c.verdict, c.sources) for c in of(result, ClaimVerified)]
    assert verdicts == [
        (1, ZEBRAS, "unsupported", ()),
        (2, GROWTH, "supported", ("market.md#1",)),
    ]
    first = of(result, ClaimVerified)[0]
    assert first.evidence == "cites no retrieved passage"
    assert (first.task_id, first.subject, first.agent, first.model) == (
        "answer/check",
        "draft",
        "synthesizer",  # charged to the agent that wrote the draft
        "scripted",
    )
    grounded = [e for e in of(result, ContextWritten) if e.key == "draft" and e.agent is None]
    assert [e.value for e in grounded] == [{"answer": ZEBRAS, "claims": [claim(ZEBRAS)]}]
    assert "nowhere.md#9" not in prompts(model, "answer/check")[0]
    # the unsupported claim went back to the synthesizer, and the loop ended after iteration 2
    assert f"- {ZEBRAS} (cites no retrieved passage)" in prompts(model, "answer/draft")[1]
    loops = of(result, LoopIterated)
    assert [(e.iteration, e.reason) for e in loops] == [
        (1, "check.unsupported == 0 is false"),
        (2, "check.unsupported == 0 is true"),
    ]
    # every citation of the final answer is a passage the run retrieved
    retrieved = {str(p["id"]) for e in of(result, SourcesRetrieved) for p in e.passages}
    final = Answer.model_validate(result.output)
    cited = {s for c in final.claims for s in c.sources}
    assert cited == {"market.md#1"} and cited <= retrieved
    assert set(project(result.run_id, result.events).sources) == retrieved
    check_output: Any = result.context["check"]  # Any: a Verification as JSON
    assert (check_output["supported"], check_output["unsupported"]) == (1, 0)
    model.assert_complete()


async def test_revision_ends_with_the_best_round_not_the_last(
    store: SqliteStore, docs: Path
) -> None:
    whole = "The e-bike market grew 20% in 2025 to 4 billion euros."  # a passage's sentence
    best = {"answer": "It grew 20%.", "claims": [claim(whole, "market.md#1"), claim(ZEBRAS)]}
    model = ScriptedModel(
        {
            "planner": [PLAN],
            "size": ["- grew 20% [market.md#1]"],
            "leaders": ["- Volta and Kettle [market.md#2]"],
            "synthesizer": [  # 1 supported, 1 not; then worse; then worse again
                best,
                {"answer": ZEBRAS, "claims": [claim(ZEBRAS)]},
                {
                    "answer": "Both.",
                    "claims": [claim(ZEBRAS), claim("Cats rule Mars and its two moons.")],
                },
            ],
        }
    )
    result = await podium.arun(DEFAULT_TEAM, goal=GOAL, docs=docs, model=model, store=store)

    assert result.ok, result.error
    ranks = [(e.task_id, e.iteration, e.rank, e.kept) for e in of(result, LoopIterated)]
    assert ranks == [
        ("answer", 1, [1, -1], None),
        ("answer", 2, [1, 0], None),
        ("answer", 3, [2, 0], 1),
    ]
    assert result.output == best
    check_output: Any = result.context["check"]  # Any: a Verification as JSON
    assert (check_output["supported"], check_output["unsupported"]) == (1, 1)
    state = project(result.run_id, result.events)
    assert [(c.iteration, c.verdict) for c in state.final_claims] == [
        (1, "supported"),
        (1, "unsupported"),
    ]
    assert (state.final_hallucination_rate, state.verification) == (0.5, "partial")
    assert "keeping iteration 1" in "\n".join(state.notes)
    model.assert_complete()


async def test_documents_that_could_not_be_read_are_in_the_log_and_the_answer_is_not_verified(
    store: SqliteStore, docs: Path
) -> None:
    (docs / "broken.pdf").write_bytes(b"%PDF-1.4 not really a pdf")
    whole = "The e-bike market grew 20% in 2025 to 4 billion euros."  # a passage's sentence
    script: dict[str, list[Any]] = {  # Any: scripted replies
        "planner": [PLAN],
        "size": ["- grew 20% [market.md#1]"],
        "leaders": ["- Volta and Kettle [market.md#2]"],
        "synthesizer": [{"answer": "It grew 20%.", "claims": [claim(whole, "market.md#1")]}],
    }
    model = ScriptedModel(script)
    result = await podium.arun(DEFAULT_TEAM, goal=GOAL, docs=docs, model=model, store=store)

    assert result.ok, result.error
    skipped = [s for e in of(result, SourcesRetrieved) for s in e.skipped]
    assert [s["document"] for s in skipped] == ["broken.pdf"]  # recorded once
    assert skipped[0]["reason"]  # why it could not be read
    state = await podium.get_run(result.run_id, store=store)  # what show and --json read
    assert list(state.skipped) == ["broken.pdf"]
    assert [c.verdict for c in state.final_claims] == ["supported"]
    assert state.verification == "partial"  # every claim supported, not every document read
    (docs / "broken.pdf").unlink()
    model = ScriptedModel(script)
    again = await podium.arun(DEFAULT_TEAM, goal=GOAL, docs=docs, model=model, store=store)
    assert project(again.run_id, again.events).verification == "verified"


async def test_the_hallucination_rate_is_unsupported_claims_over_claims_checked(
    store: SqliteStore, docs: Path
) -> None:
    model = ScriptedModel(
        {
            "planner": [PLAN],
            "size": ["- grew 20% [market.md#1]"],
            "leaders": ["- Volta and Kettle [market.md#2]"],
            "synthesizer": [
                {
                    "answer": "It grew and zebras fly.",
                    "claims": [claim(GROWTH, "market.md#1"), claim(ZEBRAS, "market.md#1")],
                },
                {"answer": "It grew 20%.", "claims": [claim(GROWTH, "market.md#1")]},
            ],
            # asked about GROWTH in each round; ZEBRAS names what its passage does not
            "verifier": [{"answer": "yes"}, {"answer": "yes"}],
        }
    )
    result = await podium.arun(DEFAULT_TEAM, goal=GOAL, docs=docs, model=model, store=store)

    assert result.ok, result.error
    verdicts = [c.verdict for c in of(result, ClaimVerified)]
    assert verdicts == ["supported", "unsupported", "supported"]
    unsupported = sum(1 for v in verdicts if v != "supported")
    assert project(result.run_id, result.events).hallucination_rate == unsupported / 3
    facts = facts_of(await store.read(result.run_id))
    assert facts is not None
    metrics = measure([facts])
    assert (metrics.claims_checked, metrics.unsupported_claims) == (3, 1)
    assert metrics.hallucination_rate == pytest.approx(1 / 3)


async def test_a_claim_that_cites_nothing_is_given_the_passage_that_shares_its_words(
    store: SqliteStore, docs: Path
) -> None:
    leaders = "Volta and Kettle sell half of all e-bikes."
    model = ScriptedModel(
        {
            "planner": [PLAN],
            "size": ["notes"],
            "leaders": ["notes"],
            "synthesizer": [{"answer": leaders, "claims": [claim(leaders)]}],
            "verifier": [{"answer": "yes"}],
        }
    )
    result = await podium.arun(DEFAULT_TEAM, goal=GOAL, docs=docs, model=model, store=store)

    assert result.ok, result.error
    (verified,) = of(result, ClaimVerified)
    assert (verified.verdict, verified.sources) == ("supported", ("market.md#2",))
    assert result.output == {"answer": leaders, "claims": [claim(leaders, "market.md#2")]}


# -- without a knowledge base --------------------------------------------------------------------


def drafting(verifier: Agent | None = None) -> Workflow:
    return Workflow(
        name="drafting",
        agents=[
            Agent(name="writer", output_schema=Answer),
            verifier or Agent(name="checker", output_schema=Verification),
        ],
        tasks=[
            Task(id="draft", agent="writer", instruction="Write"),
            Task(
                id="check",
                agent=(verifier.name if verifier else "checker"),
                verifies="draft",
                needs=("draft",),
                instruction="Check {{ draft.claims | length }} claims",
            ),
        ],
        output="check",
    )


async def test_the_verifier_is_asked_one_question_per_claim_and_answers_by_its_index(
    store: SqliteStore,
) -> None:
    claims = [
        claim("Water is wet at room temperature."),
        claim("The moon is made of cheese."),
        claim("Fire is cold to the touch."),
    ]
    model = ScriptedModel(
        {
            "draft": [{"answer": "Three facts.", "claims": claims}],
            # one question per claim, in the draft's order, each answered on its own
            "check": [{"answer": "yes"}, {"answer": "no"}, {"answer": "no"}],
        }
    )
    engine = LocalEngine(kinds=KINDS, store=store, model=model, retry=RetryPolicy(max_attempts=1))
    result = await engine.execute(drafting())

    assert result.ok, result.error
    verdicts = [(c.claim, c.verdict, c.evidence) for c in of(result, ClaimVerified)]
    assert verdicts == [
        ("Water is wet at room temperature.", "supported", YES),
        ("The moon is made of cheese.", "unsupported", NO),
        ("Fire is cold to the touch.", "unsupported", NO),
    ]
    asked = prompts(model, "check")
    assert len(asked) == 3
    for index, (text, question) in enumerate(zip(claims, asked, strict=True)):
        assert f"Claim: {text['text']}" in question and question.endswith("Answer yes or no.")
        others = [c["text"] for i, c in enumerate(claims) if i != index]
        assert not any(str(o) in question for o in others)  # one claim per question
    output: Any = result.output  # Any: a Verification as JSON
    assert [c["index"] for c in output["claims"]] == [0, 1, 2]
    assert (output["supported"], output["unsupported"]) == (1, 2)
    assert project(result.run_id, result.events).hallucination_rate == pytest.approx(2 / 3)


# -- validation ----------------------------------------------------------------------------------


def test_a_verifier_without_the_verification_schema_is_refused() -> None:
    workflow = drafting(Agent(name="checker"))
    with pytest.raises(WorkflowValidationError) as caught:
        validate(workflow)
    (problem,) = caught.value.problems
    assert problem.path == "tasks.1.agent"
    assert "output_schema: podium.verifier:Verification" in problem.message


def test_a_verifier_of_a_key_nothing_writes_is_refused() -> None:
    workflow = drafting()
    tasks = (workflow.tasks[0], workflow.tasks[1].model_copy(update={"verifies": "drfat"}))
    found = problems(workflow.model_copy(update={"tasks": tasks}))
    assert [(p.path, p.message) for p in found] == [
        (
            "tasks.1.verifies",
            "task 'check' verifies 'drfat', which nothing produces; did you mean 'draft'?",
        )
    ]


def test_a_verifier_chosen_by_capability_needs_the_verification_schema_too() -> None:
    workflow = drafting()
    checker = Agent(name="checker", capabilities=("checking",))
    check_task = Task(
        id="check", capability="checking", verifies="draft", needs=("draft",), instruction="x"
    )
    broken = workflow.model_copy(
        update={
            "agents": (workflow.agents[0], checker),
            "tasks": (workflow.tasks[0], check_task),
        }
    )
    assert [p.path for p in problems(broken)] == ["tasks.1.capability"]


def test_a_verdict_is_matched_by_its_claims_index_never_by_text_or_position() -> None:
    claims = [
        Claim(text="VinFast leads the market with 40 percent."),
        read_claim({"text": "Sales fell."}),
    ]
    same_text = ClaimCheck(claim=claims[0].text, verdict="supported")  # no index: no claim's
    by_index = ClaimCheck(claim=claims[0].text, verdict="supported", index=1)

    result = verdicts(claims, [same_text], {})
    assert [c.verdict for c in result.claims] == ["unsupported", "unsupported"]
    assert result.claims[0].evidence == "the verifier gave no verdict on it"
    paired = verdicts(claims[:1], [same_text], {})  # as many verdicts as claims: still none
    assert [c.verdict for c in paired.claims] == ["unsupported"]
    indexed = verdicts(claims, [by_index], {})  # its index says which claim, not its text
    assert [c.verdict for c in indexed.claims] == ["unsupported", "supported"]


def test_a_plain_text_draft_is_checked_sentence_by_sentence_however_short() -> None:
    assert [c.text for c in draft_claims("Sales fell. Prices rose sharply!")] == [
        "Sales fell.",
        "Prices rose sharply!",
    ]
