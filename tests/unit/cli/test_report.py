"""``podium show``'s report: the plan, sources and claims sections and throttling, from a run's
events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from rich.console import Console

from podium.cli.live import progress
from podium.cli.report import MAX_DETAILED, run_report
from podium.event import (
    ClaimVerified,
    ContextWritten,
    Event,
    GraphNode,
    PlanCreated,
    PlanRejected,
    PlanRepaired,
    RunStarted,
    SourcesRetrieved,
    TaskFailed,
    TaskStarted,
    TaskSucceeded,
)
from podium.ids import RunId, TaskId
from podium.run import RunState, project

RUN = RunId("run-1")
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
PLAN = TaskId("essay")


def _step(step: str, agent: str, *needs: str) -> GraphNode:
    return GraphNode(
        id=TaskId(f"essay/{step}"),
        kind="agent",
        agent=agent,
        needs=tuple(TaskId(f"essay/{n}") for n in needs),
        output=step,
        parent=PLAN,
    )


def _passage(passage_id: str, document: str) -> dict[str, Any]:  # Any: a passage's JSON
    return {"id": passage_id, "document": document, "title": "", "text": "", "score": 0.5}


# Eight claims, three not supported: (verdict, sources, evidence).
VERDICTS = [
    ("supported", ("a.md#1",), "the moon pulls the sea"),
    ("supported", ("a.md#1", "b.md#1"), "both say so"),
    ("unsupported", (), "no source mentions the sun"),
    ("supported", ("b.md#1",), ""),
    ("contradicted", ("a.md#2",), "a.md says twice a day"),
    ("supported", ("a.md#2",), ""),
    ("unsupported", (), ""),
    ("supported", ("a.md#1",), ""),
]


def _events() -> list[Event]:
    """Plan revision 1 (rejected once, repaired) and 2 (after a failure); revision 3 has
    no usable plan; three passages from two documents; eight claims checked."""
    first = (_step("gather", "researcher"), _step("write", "writer", "gather"))
    fields: list[tuple[type[Any], dict[str, Any]]] = [  # Any: event fields vary by kind
        (RunStarted, {"workflow": "demo", "inputs": {},
                      "graph": (GraphNode(id=PLAN, kind="plan", agent=None, needs=(),
                                          output="essay"),)}),
        (TaskStarted, {"task_id": PLAN, "agent": None}),
        (PlanRejected, {"task_id": PLAN, "revision": 1, "ask": 1,
                        "problems": ("step 'draft': no agent 'poet'", "no steps")}),
        (PlanRepaired, {"task_id": PLAN, "revision": 1,
                        "repairs": ("step 'write' needed itself: dropped that need",)}),
        (PlanCreated, {"task_id": PLAN, "revision": 1, "steps": first, "plan": {},
                       "reason": "Explain tides"}),
        (SourcesRetrieved, {"task_id": "essay/gather", "query": "tides",
                            "passages": (_passage("a.md#1", "a.md"), _passage("a.md#2", "a.md"),
                                         _passage("b.md#1", "b.md"))}),
        (TaskStarted, {"task_id": "essay/gather", "agent": "researcher", "iteration": 1}),
        (TaskSucceeded, {"task_id": "essay/gather", "agent": "researcher", "iteration": 1}),
        (PlanCreated, {"task_id": PLAN, "revision": 2,
                       "steps": (_step("write", "editor", "gather"),), "plan": {},
                       "reason": "essay/write failed: busy", "kept": ("essay/gather",)}),
        (PlanRejected, {"task_id": PLAN, "revision": 3, "ask": 1, "problems": ("empty",)}),
        *[
            (ClaimVerified, {"task_id": "essay/check", "subject": "draft",
                             "claim": f"claim {i}", "verdict": verdict, "sources": sources,
                             "evidence": evidence, "agent": "writer", "model": "m"})
            for i, (verdict, sources, evidence) in enumerate(VERDICTS, start=1)
        ],
        (TaskSucceeded, {"task_id": PLAN, "agent": None}),
    ]  # fmt: skip
    return [
        cls(seq=seq, run_id=RUN, at=T0 + timedelta(seconds=seq), **values)
        for seq, (cls, values) in enumerate(fields, start=1)
    ]


def _report(state: RunState) -> str:
    console = Console(width=120, record=True, highlight=False)
    console.print(run_report(state, console))
    return console.export_text()


def _section(text: str, title: str) -> list[str]:
    """The lines of section ``title`` (up to the next blank line before a title)."""
    lines = text.splitlines()
    start = lines.index(title) + 1
    end = next((i for i in range(start, len(lines)) if not lines[i]), len(lines))
    return [line.rstrip() for line in lines[start:end]]


def test_the_plan_section_lists_each_revision_with_its_steps_repairs_and_rejections() -> None:
    plan = _section(_report(project(RUN, _events())), "Plan")

    assert plan == [
        "essay  revision 1  Explain tides",
        "├── rejected, ask 1: step 'draft': no agent 'poet'; no steps",
        "├── repaired: step 'write' needed itself: dropped that need",
        "├── essay/gather  researcher",
        "└── essay/write  writer  needs essay/gather",
        "essay  revision 2  keeps essay/gather  essay/write failed: busy",
        "└── essay/write  editor  needs essay/gather",
        "essay  revision 3  no usable plan",
        "└── rejected, ask 1: empty",
    ]


def test_planned_steps_show_in_the_graph_and_tasks_under_their_plan_task() -> None:
    text = _report(project(RUN, _events()))

    assert "\n    ├── ✓ essay/gather  researcher  succeeded  iteration 1\n" in text
    assert "\n    └── · essay/write  editor  pending  needs essay/gather\n" in text
    assert "\n  essay/write   editor      · pending" in text


def test_the_claims_section_lists_verdicts_and_the_hallucination_rate() -> None:
    text = _report(project(RUN, _events()))
    claims = _section(text, "Claims")

    assert claims[0].split() == ["task", "claim", "verdict", "sources", "evidence"]
    rows = [" ".join(line.split()) for line in claims[2:]]  # cells one space apart
    assert len(rows) == 8
    assert rows[0] == "essay/check claim 1 supported a.md#1 the moon pulls the sea"
    assert rows[1] == "essay/check claim 2 supported a.md#1, b.md#1 both say so"
    assert rows[2] == "essay/check claim 3 unsupported - no source mentions the sun"
    assert rows[4] == "essay/check claim 5 contradicted a.md#2 a.md says twice a day"
    assert "hallucination rate 37.5%: 3 of 8 claims unsupported or contradicted" in text


def test_the_sources_section_counts_passages_and_documents() -> None:
    text = _report(project(RUN, _events()))

    assert _section(text, "Sources") == [
        "3 passages retrieved from 2 documents; 3 cited by the claims checked"
    ]


def test_a_run_without_plans_sources_or_claims_has_none_of_their_sections() -> None:
    text = _report(project(RUN, _events()[:2]))

    assert "Graph" in text
    for title in ("Plan", "Sources", "Claims", "hallucination rate"):
        assert f"\n{title}" not in text


def _start(seq: int, task_id: str, waited_s: float = 0.0) -> TaskStarted:
    limit = "max_concurrency 1" if waited_s else None
    return TaskStarted(
        seq=seq,
        run_id=RUN,
        at=T0,
        task_id=TaskId(task_id),
        agent="w",
        waited_s=waited_s,
        limit=limit,
    )


def _throttled_run() -> RunState:
    started = RunStarted(seq=1, run_id=RUN, at=T0, workflow="w", inputs={}, graph=())
    return project(RUN, [started, _start(2, "a"), _start(3, "b", 0.25), _start(4, "c", 0.5)])


def test_a_limit_that_held_tasks_back_shows_in_the_report_and_the_live_view() -> None:
    state = _throttled_run()
    line = "max_concurrency 1 held back 2 task starts, up to 0.50 s"
    assert f"throttled  {line}" in _report(state)
    console = Console(width=120, record=True, highlight=False)
    console.print(progress(state, T0))
    assert f"throttled: {line}" in console.export_text()


def test_a_run_no_limit_held_back_says_nothing_of_throttling() -> None:
    started = RunStarted(seq=1, run_id=RUN, at=T0, workflow="w", inputs={}, graph=())
    assert "throttled" not in _report(project(RUN, [started, _start(2, "a")]))


def _large_run(tasks: int) -> RunState:
    """``tasks`` tasks of a line: the first failed, the second still running, the rest
    succeeded, task ``i`` taking ``i`` milliseconds."""
    graph = tuple(
        GraphNode(id=TaskId(f"t{i}"), kind="agent", agent="w", needs=(), output=f"t{i}")
        for i in range(tasks)
    )
    events: list[Event] = [
        RunStarted(seq=1, run_id=RUN, at=T0, workflow="w", inputs={}, graph=graph)
    ]
    for i in range(tasks):
        task_id = TaskId(f"t{i}")
        events.append(_start(len(events) + 1, task_id))
        end = T0 + timedelta(milliseconds=i)
        if i == 0:
            failed = TaskFailed(seq=len(events) + 1, run_id=RUN, at=end, task_id=task_id,
                                agent="w", error_type="ModelError", message="late")  # fmt: skip
            events.append(failed)
        elif i > 1:
            events.append(TaskSucceeded(seq=len(events) + 1, run_id=RUN, at=end,
                                        task_id=task_id, agent="w", output="ok"))  # fmt: skip
    return project(RUN, events)


def test_a_large_run_is_summarised_with_the_tasks_to_look_at() -> None:
    text = _report(_large_run(MAX_DETAILED + 50))

    assert "Graph" not in text
    counts = f"{MAX_DETAILED + 50} tasks: ✓ {MAX_DETAILED + 48} succeeded, ✗ 1 failed, ▶ 1 running"
    assert _section(text, "Tasks")[0] == counts
    rows = [line.split()[0] for line in _section(text, "Tasks")[3:]]
    slowest = [f"t{i}" for i in range(MAX_DETAILED + 49, MAX_DETAILED + 39, -1)]
    assert rows == ["t0", "t1", *slowest]  # not succeeded first, then the 10 slowest
    assert "ModelError: late" in text
    assert f"podium show --all {RUN} prints every task" in text


def test_a_large_run_is_shown_in_full_when_asked() -> None:
    state = _large_run(MAX_DETAILED + 1)
    console = Console(width=120, record=True, highlight=False)
    console.print(run_report(state, console, is_full=True))
    text = console.export_text()

    assert "Graph" in text
    assert f"t{MAX_DETAILED}" in text
    assert "summarised" not in text


def test_a_run_of_max_detailed_tasks_is_shown_in_full() -> None:
    text = _report(_large_run(MAX_DETAILED))

    assert "Graph" in text
    assert "summarised" not in text


def test_the_context_section_shows_a_tasks_output_under_its_key() -> None:
    """Since schema 12 the success of a task records the write of its output."""
    graph = (GraphNode(id=TaskId("t"), kind="agent", agent="a", needs=(), output="answer"),)
    events: list[Event] = [
        RunStarted(seq=1, run_id=RUN, at=T0, workflow="w", inputs={"topic": "tides"}, graph=graph),
        ContextWritten(seq=2, run_id=RUN, at=T0, key="topic", version=1, value="tides",
                       task_id=None, agent=None),
        TaskStarted(seq=3, run_id=RUN, at=T0, task_id=TaskId("t"), agent="a"),
        TaskSucceeded(seq=4, run_id=RUN, at=T0 + timedelta(seconds=2), task_id=TaskId("t"),
                      agent="a", output="The moon pulls the sea.", key="answer", version=1),
    ]  # fmt: skip

    context = [
        " ".join(line.split()) for line in _section(_report(project(RUN, events)), "Context")
    ]

    assert context[2:] == [
        "topic v1 input 12:00:00 tides",
        "answer v1 a · task t 12:00:02 The moon pulls the sea.",
    ]
