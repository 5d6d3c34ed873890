"""Run: what a run is and was, folded from its event log (the single source of truth).

``RunState`` is the full projection (``podium show``, the live view, ``RunResult``);
``RunSummary`` is the one-line projection (``podium runs``). Both are rebuilt from events, so a
crashed or still-running run reads the same way as a finished one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal, assert_never

from pydantic import JsonValue

from podium.event import (
    AgentChosen,
    ApprovalDenied,
    ApprovalGranted,
    ApprovalRequested,
    BudgetExceeded,
    CircuitChanged,
    ClaimVerified,
    ContextWritten,
    Event,
    FeedbackRecorded,
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
    RunResumed,
    RunStarted,
    RunStatus,
    SignalReceived,
    SourcesRetrieved,
    TaskCancelled,
    TaskFailed,
    TaskRerouted,
    TaskRetried,
    TaskSkipped,
    TaskStarted,
    TaskSucceeded,
    ToolCalled,
    ToolDenied,
)
from podium.ids import RunId, TaskId

Verification = Literal["verified", "partial", "unverified"]
"""How the claims of a run's final answer fared (``RunState.verification``)."""

__all__ = [
    "PlanState",
    "RunResult",
    "RunState",
    "RunSummary",
    "TaskState",
    "TaskStatus",
    "Throttle",
    "project",
    "summarize",
    "tasks_in_graph_order",
]

TaskStatus = Literal[
    "pending", "running", "waiting", "succeeded", "failed", "skipped", "cancelled", "interrupted"
]
"""``waiting``: its output awaits a human's approval (or a signal); ``cancelled``: the workflow
withdrew it (a cancelling join, an early-stopping map, an end); ``interrupted``: it was
running when the run was cancelled or crashed."""


@dataclass(slots=True, kw_only=True)
class TaskState:
    """Where one task stands, folded from its events."""

    id: TaskId
    agent: str | None = None
    status: TaskStatus = "pending"
    attempts: int = 0
    iteration: int = 0
    started_at: datetime | None = None
    ended_at: datetime | None = None
    output: JsonValue = None
    error: str | None = None
    model_calls: int = 0
    tool_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0

    @property
    def tokens(self) -> int:
        """Input plus output tokens of this task's model calls."""
        return self.input_tokens + self.output_tokens

    @property
    def duration(self) -> timedelta | None:
        """How long the task ran (its latest iteration), if it has ended."""
        if self.started_at is None or self.ended_at is None:
            return None
        return self.ended_at - self.started_at


@dataclass(slots=True, kw_only=True)
class Throttle:
    """A concurrency limit that held attempts back, folded from their ``task_started``."""

    limit: str
    """``max_concurrency 16``, or ``agent writer's max_concurrency 2``."""
    waits: int = 0
    """Attempts that waited on it."""
    longest_s: float = 0.0
    """The longest any of them waited, in seconds."""

    def describe(self) -> str:
        """``max_concurrency 16 held back 84 task starts, up to 0.70 s``."""
        starts = "task start" if self.waits == 1 else "task starts"
        return f"{self.limit} held back {self.waits} {starts}, up to {self.longest_s:.2f} s"


@dataclass(slots=True, kw_only=True)
class PlanState:
    """One revision of a plan task's plan, folded from its ``plan_*`` events."""

    task_id: TaskId
    """The plan task."""
    revision: int
    """1 for the first plan; each re-plan adds one."""
    reason: str = ""
    """Why it was made: the goal for the first plan, what went wrong for a revision."""
    steps: tuple[GraphNode, ...] = ()
    """The tasks it runs (ids qualified under the plan task)."""
    kept: tuple[TaskId, ...] = ()
    """Steps of earlier revisions that succeeded and are kept, not redone."""
    plan: JsonValue = None
    """The plan as the planner gave it (after any repairs)."""
    created_at: datetime | None = None
    """When it was accepted (``plan_created``); None while it was only repaired or rejected."""
    repairs: list[str] = field(default_factory=list)
    """Problems fixed without asking the planner again."""
    rejections: list[PlanRejected] = field(default_factory=list)
    """Answers of the planner sent back with their problems, in order."""

    @property
    def is_created(self) -> bool:
        """Whether the revision was accepted (a revision whose asks all failed was not)."""
        return self.created_at is not None


@dataclass(slots=True, kw_only=True)
class RunState:
    """A run's full state, derived from its events."""

    run_id: RunId
    workflow: str = ""
    goal: str | None = None
    status: RunStatus = "running"
    inputs: dict[str, JsonValue] = field(default_factory=dict)
    graph: tuple[GraphNode, ...] = ()
    """The graph recorded when the run started, then each plan's steps as they are planned."""
    output_key: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    updated_at: datetime | None = None
    output: JsonValue = None
    error: str | None = None
    tasks: dict[TaskId, TaskState] = field(default_factory=dict)
    writes: list[ContextWritten] = field(default_factory=list)
    calls: list[ModelCalled | ToolCalled] = field(default_factory=list)
    """Every model and tool call, in order: model, tokens, latency and cost, or tool result."""
    notes: list[str] = field(default_factory=list)
    """Routing choices, map sizes, loop decisions, repairs and plans, in order."""
    last_seq: int = 0
    feedback: list[FeedbackRecorded] = field(default_factory=list)
    approvals: dict[TaskId, ApprovalRequested] = field(default_factory=dict)
    """Approvals asked for and not yet answered."""
    source: str | None = None
    pid: int | None = None
    """The process that last ran it (a run "running" in a dead process was interrupted)."""
    host: str | None = None
    """The machine of ``pid`` (None: recorded before hosts were, so this machine)."""
    plans: list[PlanState] = field(default_factory=list)
    """Every plan task's plans (each revision, its repairs and rejections), in order."""
    sources: dict[str, dict[str, JsonValue]] = field(default_factory=dict)
    """Passages retrieved from a knowledge base, by passage id (what claims cite)."""
    claims: list[ClaimVerified] = field(default_factory=list)
    """Every verdict of a verifier on a claim of a draft, in order."""
    throttles: dict[str, Throttle] = field(default_factory=dict)
    """Concurrency limits that held tasks back, by limit."""
    skipped: dict[str, str] = field(default_factory=dict)
    """Documents of a knowledge base that could not be read, with why, by document."""
    kept: dict[TaskId, int] = field(default_factory=dict)
    """The iteration each loop with ``best`` kept, by loop task id."""

    def task(self, task_id: TaskId) -> TaskState:
        """The state of ``task_id``, created pending when first seen."""
        state = self.tasks.get(task_id)
        if state is None:
            state = self.tasks[task_id] = TaskState(id=task_id)
        return state

    def plan(self, task_id: TaskId, revision: int) -> PlanState:
        """Revision ``revision`` of ``task_id``'s plan, created when first seen."""
        for plan in reversed(self.plans):  # a handful of plans; the latest is the usual one
            if plan.task_id == task_id and plan.revision == revision:
                return plan
        plan = PlanState(task_id=task_id, revision=revision)
        self.plans.append(plan)
        return plan

    @property
    def hallucination_rate(self) -> float | None:
        """Claims found unsupported or contradicted ÷ claims checked; None with no claim."""
        if not self.claims:
            return None
        return sum(1 for c in self.claims if c.verdict != "supported") / len(self.claims)

    @property
    def final_claims(self) -> list[ClaimVerified]:
        """The verdicts of the run's last verification: the last draft checked, at its last
        check (a revision loop checks a draft once per round; the last speaks for the answer),
        or at the round its loop kept (``best``)."""
        if not self.claims:
            return []
        subject = self.claims[-1].subject
        checked = [c for c in self.claims if c.subject == subject]
        loops = [i for t, i in self.kept.items() if checked[-1].task_id.startswith(f"{t}/")]
        chosen = loops[-1] if loops else max(c.iteration for c in checked)
        return [c for c in checked if c.iteration == chosen]

    @property
    def final_hallucination_rate(self) -> float | None:
        """Unsupported or contradicted claims ÷ claims of the final answer; None with none.

        ``hallucination_rate`` counts every round of revision; this one only what the run
        answered with."""
        final = self.final_claims
        if not final:
            return None
        return sum(1 for c in final if c.verdict != "supported") / len(final)

    @property
    def verification(self) -> Verification | None:
        """How the final answer's claims fared: ``verified`` (all supported, and every document
        was read), ``partial`` (some, or all but with documents ``skipped``), ``unverified``
        (none); None when no verifier checked a claim."""
        rate = self.final_hallucination_rate
        if rate is None:
            return None
        if rate == 0:
            return "partial" if self.skipped else "verified"
        return "unverified" if rate == 1 else "partial"

    @property
    def input_tokens(self) -> int:
        """Input tokens over all tasks."""
        return sum(t.input_tokens for t in self.tasks.values())

    @property
    def output_tokens(self) -> int:
        """Output tokens over all tasks."""
        return sum(t.output_tokens for t in self.tasks.values())

    @property
    def cost(self) -> float:
        """Cost in US dollars over all tasks."""
        return sum(t.cost for t in self.tasks.values())

    @property
    def duration(self) -> timedelta | None:
        """Wall time from start to end (or to the latest event of a run still going)."""
        end = self.ended_at or self.updated_at
        return end - self.started_at if self.started_at and end else None

    def count(self, status: TaskStatus) -> int:
        """How many tasks are in ``status``."""
        return sum(1 for t in self.tasks.values() if t.status == status)

    def apply(self, event: Event) -> None:
        """Fold one event into the state."""
        self.last_seq = event.seq
        self.updated_at = event.at
        _apply(self, event)


@dataclass(frozen=True, slots=True, kw_only=True)
class RunSummary:
    """One line of ``podium runs``."""

    run_id: RunId
    workflow: str
    goal: str | None
    status: RunStatus
    started_at: datetime | None
    duration: timedelta | None
    tasks_succeeded: int
    tasks_failed: int
    tokens: int
    cost: float
    error: str | None
    pid: int | None = None
    """The process that last ran it; a "running" run whose process is gone was interrupted."""
    host: str | None = None
    """The machine of ``pid`` (None: this machine)."""
    last_seq: int = 0
    """The ``seq`` its log ends at (``podium gc`` deletes it only if it still does)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RunResult:
    """What ``podium.run`` returns: the final output, per-task results and the run id."""

    run_id: RunId
    status: RunStatus
    output: JsonValue
    error: str | None
    tasks: dict[TaskId, TaskState]
    context: dict[str, JsonValue]
    events: tuple[Event, ...]

    @property
    def ok(self) -> bool:
        """Whether the run succeeded."""
        return self.status == "succeeded"


def project(run_id: RunId, events: Iterable[Event]) -> RunState:
    """Fold a run's events into its state."""
    state = RunState(run_id=run_id)
    for event in events:
        state.apply(event)
    return state


def summarize(state: RunState) -> RunSummary:
    """The one-line summary of a run's state."""
    return RunSummary(
        run_id=state.run_id,
        workflow=state.workflow,
        goal=state.goal,
        status=state.status,
        started_at=state.started_at,
        duration=state.duration,
        tasks_succeeded=state.count("succeeded"),
        tasks_failed=state.count("failed"),
        tokens=state.input_tokens + state.output_tokens,
        cost=state.cost,
        error=state.error,
        pid=state.pid,
        host=state.host,
        last_seq=state.last_seq,
    )


def _run_resumed(state: RunState, e: RunResumed) -> None:
    state.status, state.error, state.ended_at, state.pid = "running", None, None, e.pid
    state.host = e.host
    state.notes.append("replayed from its log" if e.is_replay else "resumed")


def _run_started(state: RunState, e: RunStarted) -> None:
    state.source, state.pid, state.host = e.source, e.pid, e.host
    state.workflow, state.goal, state.inputs = e.workflow, e.goal, dict(e.inputs)
    state.graph, state.output_key, state.started_at = e.graph, e.output_key, e.at
    for node in e.graph:
        state.task(node.id).agent = node.agent


def _task_started(state: RunState, e: TaskStarted) -> None:
    task = state.task(e.task_id)
    task.status, task.agent, task.attempts = "running", e.agent, e.attempt
    task.iteration, task.started_at, task.ended_at, task.error = e.iteration, e.at, None, None
    if e.limit is not None:
        throttle = state.throttles.get(e.limit) or Throttle(limit=e.limit)
        throttle.waits += 1
        throttle.longest_s = max(throttle.longest_s, e.waited_s)
        state.throttles[e.limit] = throttle


def _task_succeeded(state: RunState, e: TaskSucceeded) -> None:
    task = state.task(e.task_id)
    task.status, task.output, task.ended_at, task.error = "succeeded", e.output, e.at, None


def _task_failed(state: RunState, e: TaskFailed) -> None:
    task = state.task(e.task_id)
    task.status, task.ended_at = "failed", e.at
    task.error = f"{e.error_type}: {e.message}"


def _task_skipped(state: RunState, e: TaskSkipped) -> None:
    task = state.task(e.task_id)
    task.status, task.error, task.ended_at = "skipped", e.reason, e.at


def _task_cancelled(state: RunState, e: TaskCancelled) -> None:
    task = state.task(e.task_id)
    task.status, task.error, task.ended_at = "cancelled", e.reason, e.at


def _model_called(state: RunState, e: ModelCalled) -> None:
    state.calls.append(e)
    task = state.task(e.task_id)
    task.model_calls += 1
    task.input_tokens += e.input_tokens
    task.output_tokens += e.output_tokens
    task.cost += e.cost


def _tool_called(state: RunState, e: ToolCalled) -> None:
    state.calls.append(e)
    state.task(e.task_id).tool_calls += 1


def _context_written(state: RunState, e: ContextWritten) -> None:
    state.writes.append(e)


def _run_completed(state: RunState, e: RunCompleted) -> None:
    state.status, state.output, state.error, state.ended_at = e.status, e.output, e.error, e.at
    for task in state.tasks.values():
        if task.status == "running":
            task.status, task.ended_at = "interrupted", e.at
        elif task.status == "pending" and e.status != "waiting":
            task.status, task.error = "skipped", f"not run: the run {e.status}"


def _note(state: RunState, e: Event) -> None:
    state.notes.append(_describe(e))


def _agent_chosen(state: RunState, e: AgentChosen) -> None:
    state.task(e.task_id).agent = e.agent
    state.notes.append(f"{e.task_id}: {e.capability} -> agent {e.agent} ({e.reason})")


def _feedback_recorded(state: RunState, e: FeedbackRecorded) -> None:
    state.feedback.append(e)
    where = f"task {e.task_id}" if e.task_id else "the run"
    comment = f": {e.comment}" if e.comment else ""
    state.notes.append(f"feedback on {where}: {e.score}/5 by {e.by or 'someone'}{comment}")


def _approval_requested(state: RunState, e: ApprovalRequested) -> None:
    state.approvals[e.task_id] = e
    task = state.task(e.task_id)
    task.status, task.output = "waiting", e.output
    state.notes.append(_describe(e))


def _approval_answered(state: RunState, e: ApprovalGranted | ApprovalDenied) -> None:
    state.approvals.pop(e.task_id, None)
    task = state.task(e.task_id)
    if task.status == "waiting":
        task.status = "running"
    state.notes.append(_describe(e))


def _plan_created(state: RunState, e: PlanCreated) -> None:
    plan = state.plan(e.task_id, e.revision)
    plan.reason, plan.steps, plan.kept = e.reason, e.steps, e.kept
    plan.plan, plan.created_at = e.plan, e.at
    _add_to_graph(state, e.steps)
    for node in e.steps:
        if node.id not in e.kept:
            _plan_step(state.task(node.id), node)
    _drop_unplanned(state, e)
    steps = f"{len(e.steps)} step" + ("" if len(e.steps) == 1 else "s")
    kept = f", {len(e.kept)} kept" if e.kept else ""
    reason = f": {e.reason}" if e.reason else ""
    state.notes.append(f"{e.task_id}: plan revision {e.revision} has {steps}{kept}{reason}")


def _plan_step(task: TaskState, node: GraphNode) -> None:
    """A planned step is pending until it starts; one a revision redoes starts over."""
    task.agent = node.agent
    if task.status not in ("running", "waiting"):
        task.status, task.output, task.error = "pending", None, None
        task.started_at = task.ended_at = None


def _add_to_graph(state: RunState, nodes: tuple[GraphNode, ...]) -> None:
    """Add ``nodes`` to the graph; a node with the id of one already there replaces it."""
    replacing = {n.id: n for n in nodes}
    known = {n.id for n in state.graph}
    state.graph = tuple(replacing.get(n.id, n) for n in state.graph) + tuple(
        n for n in nodes if n.id not in known
    )


def _drop_unplanned(state: RunState, e: PlanCreated) -> None:
    """Steps of an earlier revision that the new plan leaves out are skipped: those that never
    started, and failed ones (the revision replaces them, so they no longer fail the run)."""
    planned = {n.id for n in e.steps}.union(e.kept)
    earlier = (p for p in state.plans if p.task_id == e.task_id and p.revision < e.revision)
    for node in (n for p in earlier for n in p.steps):
        task = state.tasks.get(node.id)
        if node.id in planned or task is None or task.status not in ("pending", "failed"):
            continue
        if task.status == "failed":
            task.error = f"replaced by plan revision {e.revision} after: {task.error}"
        else:
            task.error = f"not in plan revision {e.revision}"
        task.status, task.ended_at = "skipped", e.at


def _plan_repaired(state: RunState, e: PlanRepaired) -> None:
    state.plan(e.task_id, e.revision).repairs.extend(e.repairs)
    repairs = "; ".join(e.repairs)
    state.notes.append(f"{e.task_id}: plan revision {e.revision} repaired: {repairs}")


def _plan_rejected(state: RunState, e: PlanRejected) -> None:
    state.plan(e.task_id, e.revision).rejections.append(e)
    ask = state.tasks.get(TaskId(f"{e.task_id}/planner" + (f"-{e.ask}" if e.ask > 1 else "")))
    if ask is not None and ask.status == "failed":  # asked again: no longer fails the run
        ask.status, ask.error = "skipped", f"asked again after: {ask.error}"
    problems = "; ".join(e.problems)
    state.notes.append(f"{e.task_id}: plan revision {e.revision} rejected, ask {e.ask}: {problems}")


def _sources_retrieved(state: RunState, e: SourcesRetrieved) -> None:
    state.skipped |= {s.get("document", ""): s.get("reason", "") for s in e.skipped}
    for passage in e.passages:
        passage_id = passage.get("id")
        if passage_id is not None:
            state.sources[str(passage_id)] = passage


def _claim_verified(state: RunState, e: ClaimVerified) -> None:
    state.claims.append(e)


def _loop_iterated(state: RunState, e: LoopIterated) -> None:
    if e.kept is not None:
        state.kept[e.task_id] = e.kept
    _note(state, e)


def _describe(e: Event) -> str:
    """One line of ``notes`` for an event that records a decision."""
    match e:
        case RouteChosen():
            return f"{e.task_id}: routed to {e.choice}" + (f" ({e.reason})" if e.reason else "")
        case MapExpanded():
            return f"{e.task_id}: mapped over {e.items} items"
        case LoopIterated():
            verdict = "done" if e.is_done else "again"
            kept = f", keeping iteration {e.kept}" if e.kept is not None else ""
            return f"{e.task_id}: iteration {e.iteration} {verdict} ({e.reason}){kept}"
        case OutputRejected():
            return f"{e.task_id}: output rejected, repair {e.repair}: {e.errors}"
        case TaskRetried():
            return f"{e.task_id}: attempt {e.attempt} failed, retrying in {e.delay_s:.2f}s"
        case TaskRerouted():
            return f"{e.task_id}: rerouted from {e.from_target} to {e.to_target} ({e.reason})"
        case CircuitChanged():
            return f"circuit {e.target}: {e.state.replace('_', '-')} ({e.reason})"
        case BudgetExceeded():
            return f"budget exceeded ({e.scope}, {e.limit}): {e.reason}"
        case _:
            return _describe_approval(e)


def _describe_approval(e: Event) -> str:
    match e:
        case ApprovalRequested():
            return f"{e.task_id}: waiting for approval" + (f" ({e.reason})" if e.reason else "")
        case ApprovalGranted():
            edited = " with an edited output" if e.is_edited else ""
            comment = f": {e.comment}" if e.comment else ""
            return f"{e.task_id}: approved by {e.by}{edited}{comment}"
        case ApprovalDenied():
            return f"{e.task_id}: denied by {e.by}: {e.reason}"
        case ToolDenied():
            return f"{e.task_id}: tool {e.tool} not called: {e.reason}"
        case SignalReceived():
            return f"signal {e.name!r} received" + (f" from {e.by}" if e.by else "")
        case _:
            return e.kind


_TaskEvent = (
    TaskStarted
    | TaskSucceeded
    | TaskFailed
    | TaskSkipped
    | TaskCancelled
    | ModelCalled
    | ToolCalled
    | ContextWritten
)
_NoteEvent = (
    RouteChosen
    | MapExpanded
    | LoopIterated
    | OutputRejected
    | TaskRetried
    | TaskRerouted
    | CircuitChanged
    | BudgetExceeded
    | ToolDenied
    | SignalReceived
)
_DecisionEvent = (
    _NoteEvent
    | ApprovalRequested
    | ApprovalGranted
    | ApprovalDenied
    | PlanCreated
    | PlanRepaired
    | PlanRejected
    | SourcesRetrieved
    | ClaimVerified
)


def _apply(state: RunState, e: Event) -> None:
    """Fold one event into ``state``: run-level events here, the others below.

    Each ``match`` hands what it does not handle to the next, and the last ends in
    ``assert_never``: an event kind added to ``Event`` and handled nowhere fails type checking.
    """
    match e:
        case RunStarted():
            _run_started(state, e)
        case RunResumed():
            _run_resumed(state, e)
        case RunCompleted():
            _run_completed(state, e)
        case AgentChosen():
            _agent_chosen(state, e)
        case FeedbackRecorded():
            _feedback_recorded(state, e)
        case _:
            _apply_task_event(state, e)


def _apply_task_event(state: RunState, e: _TaskEvent | _DecisionEvent) -> None:
    match e:
        case TaskStarted():
            _task_started(state, e)
        case TaskSucceeded():
            _task_succeeded(state, e)
        case TaskFailed():
            _task_failed(state, e)
        case TaskSkipped():
            _task_skipped(state, e)
        case TaskCancelled():
            _task_cancelled(state, e)
        case ModelCalled():
            _model_called(state, e)
        case ToolCalled():
            _tool_called(state, e)
        case ContextWritten():
            _context_written(state, e)
        case _:
            _apply_decision(state, e)


def _apply_decision(state: RunState, e: _DecisionEvent) -> None:
    match e:
        case LoopIterated():
            _loop_iterated(state, e)
        case (
            RouteChosen()
            | MapExpanded()
            | OutputRejected()
            | TaskRetried()
            | TaskRerouted()
            | CircuitChanged()
            | BudgetExceeded()
            | ToolDenied()
            | SignalReceived()
        ):
            _note(state, e)
        case ApprovalRequested():
            _approval_requested(state, e)
        case ApprovalGranted() | ApprovalDenied():
            _approval_answered(state, e)
        case PlanCreated():
            _plan_created(state, e)
        case PlanRepaired():
            _plan_repaired(state, e)
        case PlanRejected():
            _plan_rejected(state, e)
        case SourcesRetrieved():
            _sources_retrieved(state, e)
        case ClaimVerified():
            _claim_verified(state, e)
        case _:
            assert_never(e)


def tasks_in_graph_order(state: RunState) -> Sequence[TaskState]:
    """Tasks in the order of the recorded graph, then any created at run time (map items)."""
    ordered = [state.tasks[n.id] for n in state.graph if n.id in state.tasks]
    seen = {t.id for t in ordered}
    return ordered + [t for tid, t in state.tasks.items() if tid not in seen]
