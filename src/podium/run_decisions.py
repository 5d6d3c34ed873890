"""The decisions a run's state records: plans and their revisions, approvals, routing and
other choices (as one-line notes), the sources retrieved and the claims verified.

``podium.run`` folds task and run events itself and hands every other event here
(``apply_decision``); ``RunState.plans``, ``approvals``, ``notes``, ``sources`` and ``claims``
are what these events build.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, assert_never

from pydantic import JsonValue

from podium.event import (
    ApprovalDenied,
    ApprovalGranted,
    ApprovalRequested,
    BudgetExceeded,
    CircuitChanged,
    ClaimVerified,
    Event,
    GraphNode,
    LoopIterated,
    MapExpanded,
    OutputRejected,
    PlanCreated,
    PlanRejected,
    PlanRepaired,
    RouteChosen,
    SignalReceived,
    SourcesRetrieved,
    TaskRerouted,
    TaskRetried,
    ToolDenied,
)
from podium.ids import TaskId

if TYPE_CHECKING:
    from podium.run import RunState, TaskState

__all__ = ["DecisionEvent", "PlanState", "apply_decision"]


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
DecisionEvent = (
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
"""The events this module folds: what the orchestrator (or a person) decided."""


def apply_decision(state: RunState, e: DecisionEvent) -> None:
    """Fold one decision event into ``state`` (``podium.run`` hands them over)."""
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


def _note(state: RunState, e: Event) -> None:
    state.notes.append(_describe(e))


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
