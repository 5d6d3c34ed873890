"""CLI rendering helpers and views: formats, previews, task nesting, the live table."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import JsonValue
from rich.console import Console, Group
from rich.text import Text

from podium.cli.live import LineView, LiveView, RunView, progress
from podium.cli.output import (
    answer_renderable,
    format_duration,
    preview,
    print_json,
    task_rows,
)
from podium.event import (
    ClaimVerified,
    Event,
    GraphNode,
    MapExpanded,
    ModelCalled,
    PlanCreated,
    RunStarted,
    TaskFailed,
    TaskStarted,
    TaskSucceeded,
    Verdict,
)
from podium.ids import RunId, TaskId
from podium.run import RunState
from podium.testing import sample_events

RUN = RunId("run-1")
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
GRAPH = (
    GraphNode(id=TaskId("plan"), kind="agent", agent="planner", needs=(), output="plan"),
    GraphNode(id=TaskId("each"), kind="map", agent=None, needs=(TaskId("plan"),), output="each"),
    GraphNode(id=TaskId("revise"), kind="loop", agent=None, needs=(), output="draft"),
    GraphNode(
        id=TaskId("revise/draft"),
        kind="agent",
        agent="writer",
        needs=(),
        output="draft",
        parent=TaskId("revise"),
    ),
)


def _events() -> list[Event]:
    fields: list[tuple[type[Any], dict[str, Any]]] = [  # Any: event fields vary by kind
        (RunStarted, {"workflow": "demo", "inputs": {}, "graph": GRAPH}),
        (TaskStarted, {"task_id": "plan", "agent": "planner"}),
        (ModelCalled, {"task_id": "plan", "agent": "planner", "model": "m", "input_tokens": 900,
                       "output_tokens": 334, "latency_s": 0.1}),
        (TaskSucceeded, {"task_id": "plan", "agent": "planner", "output": "a plan"}),
        (TaskStarted, {"task_id": "revise", "agent": None}),
        (TaskStarted, {"task_id": "each", "agent": None}),
        (MapExpanded, {"task_id": "each", "items": 2}),
        (TaskStarted, {"task_id": "each[1]", "agent": "planner"}),
        (TaskStarted, {"task_id": "each[0]", "agent": "planner"}),
        (TaskFailed, {"task_id": "each[0]", "agent": "planner", "error_type": "ModelError",
                      "message": "busy"}),
        (TaskStarted, {"task_id": "each[0]/check", "agent": "checker"}),
    ]  # fmt: skip
    return [
        cls(seq=seq, run_id=RUN, at=T0 + timedelta(seconds=seq), **values)
        for seq, (cls, values) in enumerate(fields, start=1)
    ]


def _state() -> RunState:
    view = RunView()
    for event in _events():
        view.apply(event)
    assert view.state is not None
    return view.state


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.123, "0.12s"), (3.44, "3.4s"), (125, "2m05s"), (3725, "1h02m"), (-1, "0.00s")],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(timedelta(seconds=seconds)) == text


def test_format_duration_of_nothing() -> None:
    assert format_duration(None) == "-"


def test_preview_puts_values_on_one_cut_line() -> None:
    assert preview("a\n  b   c") == "a b c"
    assert preview({"k": [1, 2]}) == '{"k": [1, 2]}'
    assert preview("x" * 100, width=10) == "x" * 9 + "…"


def test_tasks_nest_under_composites_and_map_items_under_their_map() -> None:
    rows = [(task.id, depth) for task, depth in task_rows(_state())]

    assert rows == [
        ("plan", 0),
        ("each", 0),
        ("each[1]", 1),
        ("each[0]", 1),
        ("each[0]/check", 2),
        ("revise", 0),
        ("revise/draft", 1),
    ]


def test_the_live_table_ticks_running_tasks_and_totals() -> None:
    console = Console(width=100, record=True)

    console.print(progress(_state(), T0 + timedelta(seconds=20)))

    text = console.export_text()
    assert "demo  run run-1  ▶ running  2/7 tasks  19.0s  1,234 tokens  $0.0000" in text
    assert "\n  each[1]          ▶ running    planner         12.0s      0       0" in text
    assert (
        "\n  each[0]          ✗ failed     planner          1.0s      0       0  ModelError" in text
    )
    assert "\n    each[0]/check  ▶ running    checker          9.0s" in text
    assert "\n  revise/draft     · pending    writer              -" in text


def test_the_line_view_prints_a_line_per_finished_task() -> None:
    console = Console(width=100, record=True)
    view = LineView(console)

    for event in _events():
        view.apply(event)

    assert console.export_text().splitlines() == [
        "✓ plan              planner    2.0s  1,234 tok",
        "✗ each[0]           planner    1.0s  0 tok  failed: ModelError: busy",
    ]


ESSAY = TaskId("each[1]/essay")
"""A plan task inside a map item: its steps are ``each[1]/essay/<step>``."""


def _planned(revision: int, *steps: str, kept: tuple[str, ...] = ()) -> list[Event]:
    nodes = tuple(
        GraphNode(id=TaskId(f"{ESSAY}/{step}"), kind="agent", agent="writer", needs=(),
                  output=step, parent=ESSAY)
        for step in steps
    )  # fmt: skip
    at = T0 + timedelta(seconds=15)
    started = TaskStarted(seq=100, run_id=RUN, at=at, task_id=ESSAY, agent=None)
    planned = PlanCreated(
        seq=100 + revision,
        run_id=RUN,
        at=at,
        task_id=ESSAY,
        revision=revision,
        steps=nodes,
        plan={},
        kept=tuple(TaskId(f"{ESSAY}/{k}") for k in kept),
    )
    return [started, planned] if revision == 1 else [planned]


def test_planned_steps_appear_in_the_live_table_as_soon_as_they_are_planned() -> None:
    state = _state()
    for event in _planned(1, "outline", "draft"):
        state.apply(event)
    console = Console(width=100, record=True)

    console.print(progress(state, T0 + timedelta(seconds=20)))

    text = console.export_text()
    assert "  2/10 tasks  " in text
    assert "\n  each[1]                    ▶ running    planner" in text
    assert "\n    each[1]/essay            ▶ running                     5.0s" in text
    assert "\n      each[1]/essay/outline  · pending    writer              -" in text
    assert "\n      each[1]/essay/draft    · pending    writer              -" in text


def test_the_line_view_prints_a_line_per_plan() -> None:
    console = Console(width=100, record=True)
    view = LineView(console)

    events = [
        *_events(),
        *_planned(1, "outline", "draft"),
        *_planned(2, "draft", kept=("outline",)),
    ]
    for event in events:
        view.apply(event)

    assert console.export_text().splitlines()[-2:] == [
        "◆ each[1]/essay  plan revision 1: each[1]/essay/outline, each[1]/essay/draft",
        "◆ each[1]/essay  plan revision 2: each[1]/essay/draft (keeps each[1]/essay/outline)",
    ]


def test_the_views_take_every_kind_of_event() -> None:
    events = sample_events(RUN)
    console = Console(width=100, record=True)
    with LiveView(console) as live:
        for event in events:
            live.apply(event)
    lines = LineView(Console(width=100, record=True))
    for event in events:
        lines.apply(event)

    assert live.state is not None
    assert live.state.tasks[TaskId("plan/check")].status == "skipped"  # never ran; run over
    assert "plan/check" in console.export_text()


GROWTH = "The market grew quickly."
LEADERS = "Two companies lead it."


def _verified(*rounds: tuple[Verdict, Verdict]) -> RunState:
    """A run answering with two claims, each round of ``rounds`` one check of both claims
    (their verdicts), in loop iterations 0, 1, ..."""
    claims: list[JsonValue] = [
        {"text": GROWTH, "sources": ["a.md#1"]},
        {"text": LEADERS, "sources": []},
    ]
    state = RunState(run_id=RUN, output={"answer": "It grew.", "claims": claims})
    for iteration, verdicts in enumerate(rounds):
        for claim, verdict in zip((GROWTH, LEADERS), verdicts, strict=True):
            state.claims.append(
                ClaimVerified(seq=len(state.claims) + 1, run_id=RUN, at=T0, task_id=TaskId("check"),
                              subject="draft", claim=claim, verdict=verdict,
                              iteration=iteration)
            )  # fmt: skip
    return state


def _last_line(state: RunState) -> Text:
    shown = answer_renderable(state)
    assert isinstance(shown, Group)
    last = shown.renderables[-1]
    assert isinstance(last, Text)
    return last


def test_an_answer_ends_with_its_final_verification() -> None:
    state = _verified(("supported", "unsupported"), ("supported", "supported"))

    line = _last_line(state)

    assert line.plain == "\nverified: 2 of 2 claims supported"  # the last check speaks
    assert [span.style for span in line.spans] == ["green"]


def test_an_answer_with_unsupported_claims_says_so_in_yellow() -> None:
    rounds: list[tuple[Verdict, Verdict]] = [("supported", "unsupported")] * 2
    state = _verified(*rounds, ("contradicted", "unsupported"))
    console = Console(width=100, record=True)

    console.print(answer_renderable(state))

    line = _last_line(state)
    assert (
        line.plain
        == "\nverified: 0 of 2 claims supported; 1 contradicted, 1 unsupported after 3 checks"
    )
    assert [span.style for span in line.spans] == ["yellow"]
    text = console.export_text()
    assert f"1. {GROWTH} [1]  contradicted\n" in text
    assert f"2. {LEADERS} (no source)  unsupported\n" in text


def test_an_answer_nothing_verified_is_not_shown_as_verified() -> None:
    line = _last_line(_verified())

    assert line.plain == "\nnot verified: no verifier checked these claims"
    assert [span.style for span in line.spans] == ["yellow"]


def test_json_output_is_strict_json_even_with_a_nan(capsys: pytest.CaptureFixture[str]) -> None:
    print_json({"price": float("nan"), "limits": [float("inf"), 1.5]})

    printed = capsys.readouterr().out
    assert json.loads(printed, parse_constant=_refuse) == {"price": None, "limits": [None, 1.5]}


def _refuse(name: str) -> object:
    raise AssertionError(f"{name} is not JSON")
