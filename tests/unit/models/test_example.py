"""What a small model is shown instead of a schema: one example object, no schema names."""

from __future__ import annotations

import json

from podium.models.base import CallInfo, Message, ModelRequest
from podium.models.example import example_of
from podium.models.json_protocol import schema_hint
from podium.models.local import _seed_for  # pyright: ignore[reportPrivateUsage]
from podium.planner import plan_model
from podium.synthesis import Answer
from podium.tool import json_schema


def test_an_example_has_the_shape_and_none_of_the_schema_names() -> None:
    plan = json_schema(plan_model(["researcher", "writer"], ["research"], max_tasks=3))
    example = example_of(plan)
    assert example == {
        "steps": [{"id": "...", "agent": "researcher", "instruction": "...", "needs": ["..."]}]
    }
    hint = schema_hint(json_schema(Answer))
    assert hint == (
        'Reply with JSON only, like this example: {"answer":"...","claims":'
        '[{"text":"...","sources":["..."]}]}'
    )
    assert "$defs" not in hint and "Claim" not in hint and "PlanStep" not in json.dumps(example)


def test_a_repair_and_a_retry_sample_with_another_seed() -> None:
    first = [Message(role="user", content="Answer.")]
    repair = [*first, Message(role="assistant", content="{"), Message(role="user", content="Again")]
    retry = CallInfo(run_id="r", task_id="t", agent="a", attempt=2)
    seeds = {
        _seed_for(ModelRequest(messages=tuple(first)), 7),
        _seed_for(ModelRequest(messages=tuple(repair)), 7),
        _seed_for(ModelRequest(messages=tuple(first), caller=retry), 7),
    }
    assert _seed_for(ModelRequest(messages=tuple(first)), 7) == 7  # reproducible first answers
    assert len(seeds) == 3
