"""Run projections: a run's state, summary and task order, folded from its event log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import pytest

from podium.event import (
    ApprovalGranted,
    ApprovalRequested,
    ClaimVerified,
    ContextWritten,
    Event,
    GraphNode,
    LoopIterated,
    MapExpanded,
    ModelCalled,
    OutputRejected,
    PlanCreated,
    PlanRejected,
    PlanRepaired,
    RouteChosen,
    RunCompleted,
    RunStarted,
    SignalAwaited,
    SourcesRetrieved,
    TaskFailed,
    TaskRetried,
    TaskSkipped,
    TaskStarted,
    TaskSucceeded,
    TemporalRef,
    ToolCalled,
)
from podium.ids import RunId, TaskId
from podium.run import RunResult, RunState, RunSummary, project, summarize, tasks_in_graph_order

RUN = RunId("run-7")
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)

GRAPH = (
    GraphNode(id=TaskId("plan"), kind="agent", agent="planner", needs=(), output="plan"),
    GraphNode(id=TaskId("triage"), kind="agent", agent="router", needs=(TaskId("plan"),),
              output="triage"),
    GraphNode(id=TaskId("summarize"), kind="agent", agent="writer", needs=(TaskId("triage"),),
              output="summary"),
    GraphNode(id=TaskId("extract"), kind="map", agent=None, needs=(TaskId("triage"),),
              output="facts"),
    GraphNode(id=TaskId("revise"), kind="loop", agent=None, needs=(TaskId("extract"),),
              output="draft"),
    GraphNode(id=TaskId("revise/draft"), kind="agent", agent="writer", needs=(), output="draft",
              parent=TaskId("revise")),
    GraphNode(id=TaskId("publish"), kind="agent", agent="publisher", needs=(TaskId("revise"),),
              output="url"),
    GraphNode(id=TaskId("archive"), kind="agent", agent="archivist", needs=(TaskId("publish"),),
              output="archive"),
)  # fmt: skip


class _Log:
    """Builds a log: each event gets the next ``seq`` and, unless given, ``at`` = T0 + seq s."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    # Any: event classes and their fields vary by kind
    def add(self, cls: type[Any], *, second: int | None = None, **fields: Any) -> None:
        seq = len(self.events) + 1
        at = T0 + timedelta(seconds=seq if second is None else second)
        self.events.append(cls(seq=seq, run_id=RUN, at=at, **fields))


def _t(task: str) -> TaskId:
    return TaskId(task)


def _story(*, completed: bool = True) -> list[Event]:
    """A realistic run: a retry, a repair, a route, a map, a two-round loop, a failed task."""
    log = _Log()
    log.add(
        RunStarted,
        workflow="report",
        goal="Explain tides",
        inputs={"topic": "tides"},
        graph=GRAPH,
        output_key="url",
    )
    # plan: attempt 1 fails after one model call, attempt 2 needs one repair
    log.add(TaskStarted, task_id=_t("plan"), agent="planner")
    log.add(
        ModelCalled,
        task_id=_t("plan"),
        agent="planner",
        model="m",
        input_tokens=100,
        output_tokens=20,
        latency_s=1.0,
        cost=0.01,
    )
    log.add(
        TaskFailed,
        task_id=_t("plan"),
        agent="planner",
        error_type="ModelError",
        message="busy",
        retryable=True,
    )
    log.add(TaskRetried, task_id=_t("plan"), attempt=1, delay_s=2.0)
    log.add(TaskStarted, task_id=_t("plan"), agent="planner", attempt=2)  # seq 6
    log.add(
        ModelCalled,
        task_id=_t("plan"),
        agent="planner",
        model="m",
        input_tokens=110,
        output_tokens=25,
        latency_s=1.0,
        cost=0.012,
    )
    log.add(
        OutputRejected,
        task_id=_t("plan"),
        agent="planner",
        repair=1,
        errors="sections: field required",
    )
    log.add(
        ModelCalled,
        task_id=_t("plan"),
        agent="planner",
        model="m",
        input_tokens=130,
        output_tokens=40,
        latency_s=1.0,
        cost=0.015,
    )
    log.add(
        ContextWritten,
        key="plan",
        version=1,
        value={"sections": ["a", "b"]},
        task_id=_t("plan"),
        agent="planner",
    )
    log.add(
        TaskSucceeded,
        task_id=_t("plan"),
        agent="planner",
        output={"sections": ["a", "b"]},
        attempt=2,
    )  # seq 11
    # triage routes to extract; summarize is skipped
    log.add(TaskStarted, task_id=_t("triage"), agent="router")
    log.add(
        ModelCalled,
        task_id=_t("triage"),
        agent="router",
        model="m",
        input_tokens=50,
        output_tokens=5,
        latency_s=0.5,
    )
    log.add(RouteChosen, task_id=_t("triage"), choice=_t("extract"), reason="long document")
    log.add(TaskSucceeded, task_id=_t("triage"), agent="router", output="extract")
    log.add(TaskSkipped, task_id=_t("summarize"), reason="route 'extract' was chosen")
    # extract maps over two items
    log.add(TaskStarted, task_id=_t("extract"), agent=None)  # seq 17
    log.add(MapExpanded, task_id=_t("extract"), items=2)
    log.add(TaskStarted, task_id=_t("extract[0]"), agent="extractor")
    log.add(TaskStarted, task_id=_t("extract[1]"), agent="extractor")
    log.add(
        ToolCalled,
        task_id=_t("extract[0]"),
        agent="extractor",
        tool="fetch",
        arguments={"url": "https://example.org"},
        result="page",
    )
    log.add(
        ModelCalled,
        task_id=_t("extract[0]"),
        agent="extractor",
        model="m",
        input_tokens=40,
        output_tokens=10,
        latency_s=0.2,
        cost=0.003,
    )
    log.add(TaskSucceeded, task_id=_t("extract[1]"), agent="extractor", output="fact 2")
    log.add(TaskSucceeded, task_id=_t("extract[0]"), agent="extractor", output="fact 1")
    log.add(TaskSucceeded, task_id=_t("extract"), agent=None, output=["fact 1", "fact 2"])
    # revise loops twice
    log.add(TaskStarted, task_id=_t("revise"), agent=None)  # seq 26
    log.add(TaskStarted, task_id=_t("revise/draft"), agent="writer", iteration=1)
    log.add(
        ContextWritten,
        key="draft",
        version=1,
        value="v1",
        task_id=_t("revise/draft"),
        agent="writer",
    )
    log.add(TaskSucceeded, task_id=_t("revise/draft"), agent="writer", output="v1", iteration=1)
    log.add(
        LoopIterated,
        task_id=_t("revise"),
        iteration=1,
        is_done=False,
        reason="review.approved is false",
    )
    log.add(TaskStarted, task_id=_t("revise/draft"), agent="writer", iteration=2)  # seq 31
    log.add(
        ContextWritten,
        key="draft",
        version=2,
        value="v2",
        task_id=_t("revise/draft"),
        agent="writer",
    )
    log.add(
        TaskSucceeded,
        task_id=_t("revise/draft"),
        agent="writer",
        output="v2",
        iteration=2,
        second=40,
    )  # seq 33
    log.add(
        LoopIterated,
        task_id=_t("revise"),
        iteration=2,
        is_done=True,
        reason="review.approved",
        second=41,
    )
    log.add(TaskSucceeded, task_id=_t("revise"), agent=None, output="v2", second=42)
    # publish fails; archive never starts
    log.add(TaskStarted, task_id=_t("publish"), agent="publisher", second=43)
    log.add(
        TaskFailed,
        task_id=_t("publish"),
        agent="publisher",
        error_type="ToolError",
        message="upload refused",
        second=50,
    )
    if completed:
        log.add(RunCompleted, status="failed", error="task 'publish' failed", second=51)
    return log.events  # fmt: skip


@pytest.fixture
def state() -> RunState:
    return project(RUN, _story())


def test_the_run_header_comes_from_run_started(state: RunState) -> None:
    assert (state.run_id, state.workflow, state.goal) == (RUN, "report", "Explain tides")
    assert state.inputs == {"topic": "tides"}
    assert state.graph == GRAPH
    assert state.output_key == "url"
    assert state.started_at == T0 + timedelta(seconds=1)


def test_task_statuses(state: RunState) -> None:
    assert {t.id: t.status for t in state.tasks.values()} == {
        "plan": "succeeded",
        "triage": "succeeded",
        "summarize": "skipped",
        "extract": "succeeded",
        "extract[0]": "succeeded",
        "extract[1]": "succeeded",
        "revise": "succeeded",
        "revise/draft": "succeeded",
        "publish": "failed",
        "archive": "skipped",  # never ran, and the run is over
    }


def test_agents_come_from_the_graph_and_from_task_started(state: RunState) -> None:
    assert state.tasks[_t("archive")].agent == "archivist"  # never started: from the graph
    assert state.tasks[_t("extract[1]")].agent == "extractor"  # map item: from task_started
    assert state.tasks[_t("extract")].agent is None


def test_a_retried_task_counts_its_attempts_and_forgets_the_old_error(state: RunState) -> None:
    plan = state.tasks[_t("plan")]
    assert plan.attempts == 2
    assert plan.error is None
    assert plan.output == {"sections": ["a", "b"]}
    assert plan.started_at == T0 + timedelta(seconds=6)  # the latest attempt
    assert plan.duration == timedelta(seconds=5)


def test_a_loop_body_task_shows_its_latest_iteration(state: RunState) -> None:
    draft = state.tasks[_t("revise/draft")]
    assert (draft.iteration, draft.output) == (2, "v2")
    assert draft.duration == timedelta(seconds=40 - 31)


def test_failed_and_skipped_tasks_carry_their_reason(state: RunState) -> None:
    publish = state.tasks[_t("publish")]
    assert publish.error == "ToolError: upload refused"
    assert publish.duration == timedelta(seconds=7)
    summarize_ = state.tasks[_t("summarize")]
    assert summarize_.error == "route 'extract' was chosen"
    assert summarize_.started_at is None
    assert summarize_.duration is None


def test_model_and_tool_calls_add_up_per_task(state: RunState) -> None:
    plan = state.tasks[_t("plan")]
    assert (plan.model_calls, plan.input_tokens, plan.output_tokens) == (3, 340, 85)
    assert plan.tokens == 425
    assert plan.cost == pytest.approx(0.037)
    item = state.tasks[_t("extract[0]")]
    assert (item.model_calls, item.tool_calls, item.tokens) == (1, 1, 50)
    assert state.tasks[_t("extract[1]")].tool_calls == 0


def test_run_totals_sum_over_tasks(state: RunState) -> None:
    assert (state.input_tokens, state.output_tokens) == (430, 100)
    assert state.cost == pytest.approx(0.04)


def test_the_run_ends_with_run_completed(state: RunState) -> None:
    assert state.status == "failed"
    assert state.error == "task 'publish' failed"
    assert state.output is None
    assert state.ended_at == T0 + timedelta(seconds=51)
    assert state.duration == timedelta(seconds=50)
    assert state.last_seq == 38
    assert state.updated_at == T0 + timedelta(seconds=51)


def test_writes_keep_every_context_written_event_in_order(state: RunState) -> None:
    assert [(w.key, w.version, w.value) for w in state.writes] == [
        ("plan", 1, {"sections": ["a", "b"]}),
        ("draft", 1, "v1"),
        ("draft", 2, "v2"),
    ]
    assert all(isinstance(w, ContextWritten) for w in state.writes)


def test_notes_tell_routes_maps_loops_repairs_and_retries_in_order(state: RunState) -> None:
    assert state.notes == [
        "plan: attempt 1 failed, retrying in 2.00s",
        "plan: output rejected, repair 1: sections: field required",
        "triage: routed to extract (long document)",
        "extract: mapped over 2 items",
        "revise: iteration 1 again (review.approved is false)",
        "revise: iteration 2 done (review.approved)",
    ]


def test_a_route_without_a_reason_has_a_short_note() -> None:
    state = project(
        RUN, [RouteChosen(seq=1, run_id=RUN, at=T0, task_id=_t("triage"), choice=_t("long"))]
    )
    assert state.notes == ["triage: routed to long"]


def test_a_run_without_run_completed_is_running() -> None:
    events = _story(completed=False)
    state = project(RUN, events[:-1])  # publish has started but not ended

    assert state.status == "running"
    assert state.ended_at is None
    assert state.error is None
    assert state.tasks[_t("publish")].status == "running"
    assert state.tasks[_t("publish")].duration is None
    assert state.duration == timedelta(seconds=43 - 1)  # up to the latest event


def test_an_empty_log_projects_a_running_run_with_no_tasks() -> None:
    state = project(RUN, [])
    assert (state.status, state.tasks, state.duration, state.last_seq) == ("running", {}, None, 0)
    assert summarize(state).tokens == 0


def test_projecting_in_pieces_equals_projecting_at_once() -> None:
    events = _story()
    state = RunState(run_id=RUN)
    for event in events:
        state.apply(event)
    assert state == project(RUN, events)


@pytest.mark.parametrize("status", ["succeeded", "cancelled"])
def test_the_final_status_and_output_come_from_run_completed(
    status: Literal["succeeded", "cancelled"],
) -> None:
    events = _story(completed=False)
    output = "https://example.org/r" if status == "succeeded" else None
    at = T0 + timedelta(minutes=1)
    events.append(
        RunCompleted(seq=len(events) + 1, run_id=RUN, at=at, status=status, output=output)
    )
    state = project(RUN, events)
    assert state.status == status
    assert state.duration == timedelta(seconds=59)


def test_summarize_counts_tasks_tokens_and_cost(state: RunState) -> None:
    assert summarize(state) == RunSummary(
        run_id=RUN,
        workflow="report",
        goal="Explain tides",
        status="failed",
        started_at=T0 + timedelta(seconds=1),
        duration=timedelta(seconds=50),
        tasks_succeeded=7,
        tasks_failed=1,
        tokens=530,
        cost=pytest.approx(0.04),  # type: ignore[arg-type]  # approx compares equal to a float
        error="task 'publish' failed",
        last_seq=38,
    )


def test_count_counts_each_status(state: RunState) -> None:
    counts = {s: state.count(s) for s in ("pending", "running", "succeeded", "failed", "skipped")}
    assert counts == {"pending": 0, "running": 0, "succeeded": 7, "failed": 1, "skipped": 2}


def test_tasks_in_graph_order_puts_runtime_tasks_last(state: RunState) -> None:
    assert [t.id for t in tasks_in_graph_order(state)] == [
        "plan",
        "triage",
        "summarize",
        "extract",
        "revise",
        "revise/draft",
        "publish",
        "archive",
        "extract[0]",
        "extract[1]",
    ]


def test_tasks_in_graph_order_skips_graph_nodes_not_seen() -> None:
    state = RunState(run_id=RUN, graph=GRAPH)
    state.task(_t("extract[0]"))
    state.task(_t("plan"))
    assert [t.id for t in tasks_in_graph_order(state)] == ["plan", "extract[0]"]


def test_run_result_is_ok_only_when_the_run_succeeded(state: RunState) -> None:
    def result(status: Any) -> RunResult:  # Any: a RunStatus literal
        return RunResult(run_id=RUN, status=status, output=None, error=None, tasks=state.tasks,
                         context={}, events=())  # fmt: skip

    assert result("succeeded").ok
    assert not result("failed").ok
    assert not result("running").ok


# -- plans, sources and claims -----------------------------------------------------------------

PLAN_GRAPH = (GraphNode(id=_t("plan"), kind="plan", agent=None, needs=(), output="plan"),)


def _step(step: str, agent: str, *needs: str) -> GraphNode:
    return GraphNode(
        id=_t(f"plan/{step}"),
        kind="agent",
        agent=agent,
        needs=tuple(_t(f"plan/{n}") for n in needs),
        output=step,
        parent=_t("plan"),
    )


def _planned_story() -> _Log:
    """A plan task: plan 1 (after a rejection and a repair) fails at ``write``; plan 2 keeps
    ``gather``, redoes ``write`` and drops ``polish``, which never started."""
    log = _Log()
    log.add(RunStarted, workflow="essay", inputs={}, graph=PLAN_GRAPH)
    log.add(TaskStarted, task_id=_t("plan"), agent=None)
    log.add(PlanRejected, task_id=_t("plan"), revision=1, ask=1, problems=("no agent 'poet'",))
    log.add(PlanRepaired, task_id=_t("plan"), revision=1, repairs=("dropped a cycle",))
    steps = (_step("gather", "researcher"), _step("write", "writer", "gather"),
             _step("polish", "editor", "write"))  # fmt: skip
    log.add(PlanCreated, task_id=_t("plan"), revision=1, steps=steps, plan={"steps": []},
            reason="Write an essay")  # fmt: skip
    log.add(TaskStarted, task_id=_t("plan/gather"), agent="researcher", iteration=1)  # seq 6
    log.add(SourcesRetrieved, task_id=_t("plan/gather"), query="tides", passages=(
        {"id": "a#1", "document": "a.md", "title": "A", "text": "one", "score": 0.9},
        {"id": "b#1", "document": "b.md", "title": "B", "text": "two", "score": 0.5},
    ))  # fmt: skip
    log.add(TaskSucceeded, task_id=_t("plan/gather"), agent="researcher", iteration=1)
    log.add(TaskStarted, task_id=_t("plan/write"), agent="writer", iteration=1)
    log.add(TaskFailed, task_id=_t("plan/write"), agent="writer", error_type="ModelError",
            message="busy", iteration=1)  # fmt: skip
    return log


def test_a_plan_adds_its_steps_to_the_graph_and_as_pending_tasks() -> None:
    log = _planned_story()
    state = project(RUN, log.events[:5])  # up to plan_created

    assert [n.id for n in state.graph] == ["plan", "plan/gather", "plan/write", "plan/polish"]
    assert {t.id: (t.status, t.agent) for t in state.tasks.values()} == {
        "plan": ("running", None),
        "plan/gather": ("pending", "researcher"),
        "plan/write": ("pending", "writer"),
        "plan/polish": ("pending", "editor"),
    }
    assert [t.id for t in tasks_in_graph_order(state)][1:] == [
        "plan/gather",
        "plan/write",
        "plan/polish",
    ]


def test_a_plan_keeps_its_revision_reason_steps_repairs_and_rejections() -> None:
    state = project(RUN, _planned_story().events)

    (plan,) = state.plans
    assert (plan.task_id, plan.revision, plan.reason, plan.kept) == (
        "plan",
        1,
        "Write an essay",
        (),
    )
    assert plan.is_created
    assert plan.created_at == T0 + timedelta(seconds=5)
    assert [n.id for n in plan.steps] == ["plan/gather", "plan/write", "plan/polish"]
    assert plan.repairs == ["dropped a cycle"]
    assert [(r.ask, r.problems) for r in plan.rejections] == [(1, ("no agent 'poet'",))]
    assert state.notes == [
        "plan: plan revision 1 rejected, ask 1: no agent 'poet'",
        "plan: plan revision 1 repaired: dropped a cycle",
        "plan: plan revision 1 has 3 steps: Write an essay",
    ]


def test_a_revision_redoes_failed_steps_keeps_done_ones_and_drops_unplanned_ones() -> None:
    log = _planned_story()
    log.add(
        PlanCreated,
        task_id=_t("plan"),
        revision=2,
        steps=(_step("write", "editor", "gather"),),
        plan={"steps": []},
        reason="plan/write failed: busy",
        kept=(_t("plan/gather"),),
    )
    state = project(RUN, log.events)

    assert [(p.revision, p.reason) for p in state.plans] == [
        (1, "Write an essay"),
        (2, "plan/write failed: busy"),
    ]
    tasks = state.tasks
    assert tasks[_t("plan/gather")].status == "succeeded"  # kept, not redone
    write = tasks[_t("plan/write")]
    assert (write.status, write.agent, write.error, write.started_at) == (
        "pending",
        "editor",
        None,
        None,
    )
    polish = tasks[_t("plan/polish")]
    assert (polish.status, polish.error) == ("skipped", "not in plan revision 2")
    assert [n.id for n in state.graph] == ["plan", "plan/gather", "plan/write", "plan/polish"]
    assert next(n for n in state.graph if n.id == "plan/write").agent == "editor"
    assert state.notes[-1] == "plan: plan revision 2 has 1 step, 1 kept: plan/write failed: busy"


def test_a_revision_whose_asks_were_all_rejected_is_not_created() -> None:
    log = _planned_story()
    for ask in (1, 2):
        log.add(PlanRejected, task_id=_t("plan"), revision=2, ask=ask, problems=("empty",))
    state = project(RUN, log.events)

    assert [(p.revision, p.is_created, len(p.rejections)) for p in state.plans] == [
        (1, True, 1),
        (2, False, 2),
    ]
    assert state.tasks[_t("plan/polish")].status == "pending"


def test_retrieved_passages_are_kept_by_id() -> None:
    log = _planned_story()
    log.add(SourcesRetrieved, task_id=_t("plan/write"), query="moon", passages=(
        {"id": "a#1", "document": "a.md", "title": "A", "text": "one again", "score": 0.7},
    ))  # fmt: skip
    state = project(RUN, log.events)

    assert sorted(state.sources) == ["a#1", "b#1"]
    assert state.sources["a#1"]["text"] == "one again"  # the latest retrieval of a passage


def _verdicts(*verdicts: Literal["supported", "unsupported", "contradicted"]) -> list[Event]:
    return [
        ClaimVerified(seq=i, run_id=RUN, at=T0, task_id=_t("check"), subject="draft",
                      claim=f"claim {i}", verdict=v, sources=("a#1",), agent="writer",
                      model="m")
        for i, v in enumerate(verdicts, start=1)
    ]  # fmt: skip


def test_claims_are_kept_in_order_with_their_verdicts() -> None:
    state = project(RUN, _verdicts("supported", "contradicted"))

    assert [(c.claim, c.verdict, c.sources) for c in state.claims] == [
        ("claim 1", "supported", ("a#1",)),
        ("claim 2", "contradicted", ("a#1",)),
    ]


def test_the_hallucination_rate_counts_unsupported_and_contradicted_claims() -> None:
    verdicts = ("supported",) * 5 + ("unsupported", "unsupported", "contradicted")
    assert project(RUN, _verdicts(*verdicts)).hallucination_rate == 0.375
    assert project(RUN, _verdicts("supported")).hallucination_rate == 0.0
    assert project(RUN, []).hallucination_rate is None


_REF = TemporalRef(address="t:7233", namespace="default", task_queue="q", workflow_id="podium-r")


def _waiting_log(*, temporal: TemporalRef | None) -> _Log:
    """A run whose ``plan`` waits for approval while ``triage`` runs, then ``wait`` for a
    signal; on Temporal when ``temporal`` is given."""
    log = _Log()
    log.add(RunStarted, workflow="w", inputs={}, graph=GRAPH, temporal=temporal)
    log.add(TaskStarted, task_id=_t("plan"), agent="planner")
    log.add(TaskStarted, task_id=_t("triage"), agent="router")
    log.add(ApprovalRequested, task_id=_t("plan"), agent="planner", output="p")
    return log


def test_a_run_on_temporal_with_an_open_approval_or_signal_wait_is_waiting() -> None:
    log = _waiting_log(temporal=_REF)
    assert project(RUN, log.events).status == "waiting"  # triage runs meanwhile: still waits
    log.add(ApprovalGranted, task_id=_t("plan"), by="ana")
    state = project(RUN, log.events)
    assert (state.status, state.waiting) == ("running", set())
    log.add(SignalAwaited, task_id=_t("wait"), name="paid")
    state = project(RUN, log.events)
    assert (state.status, state.waiting) == ("waiting", {_t("wait")})
    assert summarize(state).status == "waiting" and summarize(state).temporal == _REF
    log.add(TaskSucceeded, task_id=_t("wait"), agent=None, output={"order": 7})
    assert project(RUN, log.events).status == "running"
    log.add(RunCompleted, status="succeeded")
    assert project(RUN, log.events).status == "succeeded"


def test_a_local_run_with_an_open_approval_is_running_until_it_ends_waiting() -> None:
    log = _waiting_log(temporal=None)
    state = project(RUN, log.events)
    assert (state.status, state.waiting) == ("running", {_t("plan")})  # its process is live
    log.add(RunCompleted, status="waiting")
    assert project(RUN, log.events).status == "waiting"
