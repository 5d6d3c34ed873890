"""Grounding by construction: a small model's claims are sentences of retrieved passages.

The team runs with ``grounding: {choose: always}`` on a scripted model, so every mechanism the
embedded model relies on is tested deterministically: the prompt shows numbered sentences
(no schema), the answer's schema admits only their numbers, a repeated choice is dropped, a
question the documents do not answer is said to be unanswered without a model call, and two
documents that disagree are both cited.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import podium
from podium import Agent, ScriptedModel, SqliteStore, Task, Workflow
from podium.event import ClaimVerified, ModelCalled, OutputRejected
from podium.grounding import choose_from, is_small_model
from podium.sentences import content_words, is_question, names, numbers, split_sentences
from podium.synthesis import Answer
from podium.task import GroundingSpec
from podium.verifier import Verification

MARKET = "The e-bike market grew 20% in 2025 to 4 billion euros. Volta sells the most e-bikes."
RIVAL = "Analysts at Kettle say the e-bike market grew 35% in 2025."
SOURCES: dict[str, Any] = {  # Any: passages as JSON
    "market.md#1": {"text": f"# Market\n\n{MARKET}"},
    "weather.md#1": {"text": "It rained in Hanoi for most of July, and the roads flooded."},
}


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    async with SqliteStore(tmp_path / "runs.db") as store:
        yield store


def team(question: str, sources: dict[str, Any]) -> Workflow:  # Any: passages as JSON
    """A writer grounded in ``sources`` (given as an input), then a verifier."""
    return Workflow(
        name="grounded",
        inputs={"question": {"default": question}, "sources": {"default": sources}},
        agents=[
            Agent(name="writer", instructions="You answer from the sources.", output_schema=Answer),
            Agent(name="checker", output_schema=Verification),
        ],
        tasks=[
            Task(
                id="draft",
                agent="writer",
                instruction="Answer: {{ question }}",
                grounding=GroundingSpec(question="{{ question }}", choose="always"),
            ),
            Task(id="check", agent="checker", verifies="draft", needs=("draft",)),
        ],
        output="draft",
    )


async def run(store: SqliteStore, model: ScriptedModel, flow: Workflow) -> podium.RunResult:
    result = await podium.arun(flow, model=model, store=store)
    assert result.ok, result.error
    return result


async def test_a_small_model_chooses_sentences_and_each_becomes_a_cited_claim(
    store: SqliteStore,
) -> None:
    model = ScriptedModel({"writer": [{"claims": [1, 1]}]})  # a repeat is dropped
    result = await run(store, model, team("How much did the e-bike market grow in 2025?", SOURCES))

    sentence = "The e-bike market grew 20% in 2025 to 4 billion euros."
    assert result.output == {
        "answer": sentence,
        "claims": [{"text": sentence, "sources": ["market.md#1"]}],
    }
    prompt = model.calls[0].messages[-1].content
    assert f"1. {sentence}" in prompt
    assert "rained" not in prompt  # a sentence that covers none of the question is not shown
    assert "$defs" not in prompt and "schema" not in prompt.lower()  # one example, no schema
    assert model.calls[0].output_schema is not None
    (verified,) = [e for e in result.events if isinstance(e, ClaimVerified)]
    assert (verified.verdict, verified.evidence) == (
        "supported",
        "a sentence of the cited passage, word for word",
    )
    # the verifier agent was not asked: the deterministic pass settled every claim
    asked = [e.task_id for e in result.events if isinstance(e, ModelCalled)]
    assert asked == ["draft"]
    model.assert_complete()


async def test_a_number_outside_the_shown_sentences_is_refused_and_repaired(
    store: SqliteStore,
) -> None:
    model = ScriptedModel({"writer": [{"claims": [7]}, {"claims": [1]}]})
    result = await run(store, model, team("How much did the e-bike market grow?", SOURCES))

    rejected = [e for e in result.events if isinstance(e, OutputRejected)]
    assert len(rejected) == 1 and "claims.0" in rejected[0].errors
    assert Answer.model_validate(result.output).claims[0].sources == ["market.md#1"]


async def test_a_question_the_documents_do_not_answer_is_said_unanswered_without_a_model(
    store: SqliteStore,
) -> None:
    model = ScriptedModel({})
    result = await run(store, model, team("What is the population of Mars?", SOURCES))

    assert result.output is not None
    assert result.output["claims"] == []  # type: ignore[index] - an Answer as JSON
    assert "do not answer" in str(result.output["answer"])  # type: ignore[index]
    assert not model.calls


async def test_documents_that_disagree_are_both_cited_and_the_answer_says_so(
    store: SqliteStore,
) -> None:
    sources = {**SOURCES, "analysts.md#1": {"text": RIVAL}}
    model = ScriptedModel({"writer": [{"claims": [1, 1]}]})
    result = await run(store, model, team("How much did the e-bike market grow in 2025?", sources))

    answer = Answer.model_validate(result.output)
    assert [c.sources for c in answer.claims] == [["market.md#1"], ["analysts.md#1"]]
    assert "The sources disagree" in answer.answer
    assert RIVAL in answer.answer


def test_a_request_for_a_report_asks_for_three_claims_and_a_question_for_two() -> None:
    sources = {"m.md#1": {"text": MARKET}, "w.md#1": {"text": "Volta e-bikes cost 900 euros."}}
    report = choose_from("Write a report on the e-bike market and Volta", sources, max_claims=4)
    question = choose_from("Who sells the most e-bikes?", sources, max_claims=4)
    assert len(report.sentences) == 3
    assert report.schema().model_json_schema()["properties"]["claims"]["minItems"] == 3
    assert len(question.sentences) == 2
    assert question.schema().model_json_schema()["properties"]["claims"]["minItems"] == 2


def test_only_the_embedded_model_chooses_under_auto() -> None:
    assert is_small_model("local") and is_small_model("local:smollm2-135m")
    assert not is_small_model("openai:gpt-4o-mini") and not is_small_model("scripted")


def test_sentences_are_read_for_their_words_numbers_and_names() -> None:
    text = "# Title\n\nVinFast sold 300,000 units, e.g. in Hanoi. Its leaders grew sales.\n\nShort."
    assert split_sentences(text) == [
        "VinFast sold 300,000 units, e.g. in Hanoi.",
        "Its leaders grew sales.",
    ]
    assert numbers("about 300,000 units in 2024, or 3.5%") == {"300000", "2024", "3.5"}
    assert names("Then VinFast and Yadea led the market.") == {"vinfast", "yadea"}
    assert content_words("The leader leads; sales were sold") == {"lead", "sale"}
    assert is_question("Who leads the market?") and is_question("what was sold")
    assert not is_question("Write a short report on the market")


async def test_a_larger_model_writes_its_claims_once_each_and_at_most_max_claims(
    store: SqliteStore,
) -> None:
    flow = team("How much did the e-bike market grow in 2025?", SOURCES)
    draft = flow.tasks[0]
    assert draft.grounding is not None
    spec = draft.grounding.model_copy(update={"choose": "auto", "max_claims": 2})
    flow = flow.model_copy(
        update={"tasks": (draft.model_copy(update={"grounding": spec}), flow.tasks[1])}
    )
    grew = {"text": "The e-bike market grew 20% in 2025.", "sources": ["market.md#1"]}
    model = ScriptedModel(
        {
            "writer": [
                {"answer": "It grew.", "claims": [grew, grew]},
                {"answer": "It grew.", "claims": [grew]},
            ],
            "checker": [{"answer": "yes"}],  # asked about its one claim
        },
        name="openai:big-model",  # not the embedded model: it writes, the verifier decides
    )
    result = await run(store, model, flow)

    rejected = [e.errors for e in result.events if isinstance(e, OutputRejected)]
    assert len(rejected) == 1 and "are the same claim" in rejected[0]
    schema = model.calls[0].output_schema
    assert schema is not None and schema["properties"]["claims"]["maxItems"] == 2  # type: ignore[index]
    assert "matching this schema" in model.calls[0].messages[-1].content
    assert Answer.model_validate(result.output).claims[0].text == grew["text"]
