"""Run: what a run is and was, folded from its event log (the single source of truth).

``RunState`` is the full projection (``podium show``, the live view, ``RunResult``);
``RunSummary`` is the one-line projection (``podium runs``). Both are rebuilt from events, so a
crashed or still-running run reads the same way as a finished one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from pydantic import JsonValue

from podium.event import (
    AgentChosen,
    ApprovalRequested,
    ClaimVerified,
    ContextWritten,
    Event,
    FeedbackRecorded,
    GraphNode,
    ModelCalled,
    RunCompleted,
    RunResumed,
    RunStarted,
    RunStatus,
    SignalAwaited,
    TemporalRef,
    ToolCalled,
)
from podium.ids import RunId, TaskId
from podium.run_decisions import PlanState
from podium.run_tasks import EVERY_TASK, Throttle, apply_task_event

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
running when the run was cancelled, stopped by a budget, or crashed (a resume runs it again)."""


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
    """Every context write, in order, each as a ``context_written`` (``recorded_write``), also
    those a ``task_succeeded`` records."""
    calls: list[ModelCalled | ToolCalled] = field(default_factory=list)
    """Every model and tool call, in order: model, tokens, latency and cost, or tool result."""
    notes: list[str] = field(default_factory=list)
    """Routing choices, map sizes, loop decisions, repairs and plans, in order."""
    last_seq: int = 0
    feedback: list[FeedbackRecorded] = field(default_factory=list)
    approvals: dict[TaskId, ApprovalRequested] = field(default_factory=dict)
    """Approvals asked for and not yet answered."""
    signal_waits: dict[TaskId, SignalAwaited] = field(default_factory=dict)
    """Each wait task's first ``signal_awaited`` (of its latest iteration): its deadline."""
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
    temporal: TemporalRef | None = None
    """The Temporal workflow executing the run, for a run on the Temporal engine: approvals,
    signals and cancellation go there, not to this log."""
    waiting: set[TaskId] = field(default_factory=set[TaskId])
    """The tasks waiting for a decision or a signal. A run on Temporal that has some is
    ``waiting`` (its workflow waits alive, and records no end until it goes on)."""

    def task(self, task_id: TaskId) -> TaskState:
        """The state of ``task_id``, created pending when first seen."""
        state = self.tasks.get(task_id)
        if state is None:
            state = self.tasks[task_id] = TaskState(id=task_id)
        return state

    def deadlines(self) -> list[datetime]:
        """When each timeout of what the run waits for falls due: approvals not answered,
        signals not received."""
        approvals = [r.deadline for r in self.approvals.values() if r.deadline is not None]
        waiting = {t.id for t in self.tasks.values() if t.status == "waiting"}
        signals = [
            w.deadline
            for w in self.signal_waits.values()
            if w.deadline is not None and w.task_id in waiting
        ]
        return approvals + signals

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
        _settle_waiting(self, event)


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
    temporal: TemporalRef | None = None
    """The Temporal workflow executing it, for a run on Temporal: its liveness is that
    workflow's (``podium.workflow_states``), not ``pid``'s."""


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
        temporal=state.temporal,
    )


def _settle_waiting(state: RunState, e: Event) -> None:
    """Keep ``state.waiting`` in step with the task ``e`` is about (only a task's own events
    make it wait or stop waiting), and a run on Temporal's status with it."""
    task_id: TaskId | None = getattr(e, "task_id", None)
    task = state.tasks.get(task_id) if task_id is not None else None
    if task is not None and task.status == "waiting":
        state.waiting.add(task.id)
    elif task is not None:
        state.waiting.discard(task.id)
    if state.temporal is not None and state.status in ("running", "waiting"):
        state.status = "waiting" if state.waiting else "running"


def _run_resumed(state: RunState, e: RunResumed) -> None:
    state.status, state.error, state.ended_at, state.pid = "running", None, None, e.pid
    state.host = e.host
    state.notes.append("replayed from its log" if e.is_replay else "resumed")


def _run_started(state: RunState, e: RunStarted) -> None:
    state.source, state.pid, state.host, state.temporal = e.source, e.pid, e.host, e.temporal
    state.workflow, state.goal, state.inputs = e.workflow, e.goal, dict(e.inputs)
    state.graph, state.output_key, state.started_at = e.graph, e.output_key, e.at
    for node in e.graph:
        state.task(node.id).agent = node.agent


def _run_completed(state: RunState, e: RunCompleted) -> None:
    state.status, state.output, state.error, state.ended_at = e.status, e.output, e.error, e.at
    for task in state.tasks.values():
        if task.status == "running":
            task.status, task.ended_at = "interrupted", e.at
        elif task.status == "pending" and e.status != "waiting":
            task.status, task.error = "skipped", f"not run: the run {e.status}"


def _agent_chosen(state: RunState, e: AgentChosen) -> None:
    state.task(e.task_id).agent = e.agent
    state.notes.append(f"{e.task_id}: {e.capability} -> agent {e.agent} ({e.reason})")


def _feedback_recorded(state: RunState, e: FeedbackRecorded) -> None:
    state.feedback.append(e)
    where = f"task {e.task_id}" if e.task_id else "the run"
    comment = f": {e.comment}" if e.comment else ""
    state.notes.append(f"feedback on {where}: {e.score}/5 by {e.by or 'someone'}{comment}")


def _apply(state: RunState, e: Event) -> None:
    """Fold one event into ``state``: run-level events here, the others below.

    Each ``match`` hands what it does not handle to the next, and the last ends in
    ``assert_never``: an event kind added to ``Event`` and handled nowhere fails type checking.
    """
    fold = EVERY_TASK.get(type(e))
    if fold is not None:  # most events: no chain of class checks
        fold(state, e)
        return
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
            apply_task_event(state, e)


def tasks_in_graph_order(state: RunState) -> Sequence[TaskState]:
    """Tasks in the order of the recorded graph, then any created at run time (map items)."""
    ordered = [state.tasks[n.id] for n in state.graph if n.id in state.tasks]
    seen = {t.id for t in ordered}
    return ordered + [t for tid, t in state.tasks.items() if tid not in seen]
