"""The bodies of the REST API: what requests send (parsed once, here) and what answers hold.

Answers are built from podium's own projections of the log (``podium.RunSummary``,
``podium.RunState``), with durations in seconds and the derived figures (tokens, cost,
hallucination rate) spelled out, so a client computes nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

import podium
from podium.event import (
    ApprovalRequested,
    ClaimVerified,
    ContextWritten,
    FeedbackRecorded,
    GraphNode,
    ModelCalled,
    ToolCalled,
)

__all__ = [
    "ApprovalOut",
    "BatchDecision",
    "DecisionIn",
    "DecisionOut",
    "FeedbackIn",
    "ResumeIn",
    "RunDetail",
    "RunOut",
    "SignalIn",
    "SignalOut",
    "StartIn",
    "StartedOut",
    "TaskOut",
    "run_detail",
    "run_out",
]

_Input = ConfigDict(extra="forbid", frozen=True)


class StartIn(BaseModel):
    """Start a run: a workflow file, or a goal for a team."""

    model_config = _Input

    workflow: str | None = Field(
        default=None,
        description="A workflow YAML file on the server's machine (relative to where the "
        "server was started); with `goal`, the team to run it on.",
    )
    goal: str | None = Field(default=None, description="A goal in plain words.")
    inputs: dict[str, JsonValue] = Field(default_factory=dict)
    model: str | None = Field(
        default=None, description='Replace every agent\'s model ("scripted" runs offline).'
    )
    docs: str | None = Field(default=None, description="With `goal`: documents to cite.")
    approve_plan: bool = Field(default=False, description="With `goal`: approve each plan.")
    budget: podium.Budget | None = None


class ResumeIn(BaseModel):
    """Resume a run, optionally raising the limits that stopped it."""

    model_config = _Input

    budget: podium.Budget | None = None


class StartedOut(BaseModel):
    """A run the server now executes."""

    run_id: str
    status: Literal["running"] = "running"
    links: dict[str, str]


class DecisionIn(BaseModel):
    """A person's answer to a task waiting for approval."""

    model_config = _Input

    approve: bool
    reason: str = Field(default="", description="Why (required to deny).")
    comment: str = Field(default="", description="A note kept with an approval.")
    output: JsonValue = Field(
        default=None, description="An edited output to write instead of the proposed one."
    )
    by: str = Field(default="", description="Who decides (default: dashboard).")
    resume: bool = Field(default=True, description="Resume the run here after recording.")


class BatchItem(DecisionIn):
    """One decision of a batch: which task, and the answer."""

    run_id: str
    task_id: str


class BatchDecision(BaseModel):
    """Several decisions at once; each is recorded (or refused) on its own."""

    model_config = _Input

    decisions: list[BatchItem] = Field(min_length=1)


class DecisionOut(BaseModel):
    """What became of one decision."""

    run_id: str
    task_id: str
    status: int
    """200 recorded; otherwise the problem's status (404, 409, ...)."""
    detail: str
    seq: int | None = None
    """The decision's event in the run's log."""
    resumed: bool = False


class SignalIn(BaseModel):
    """A signal sent to a run: its ``wait:`` tasks take it, ``data`` as their output."""

    model_config = _Input

    data: JsonValue = Field(default=None, description="The payload.")
    by: str = Field(default="", description="Who (or what system) sends it (default: api).")
    resume: bool = Field(default=True, description="Resume the run here after recording.")


class SignalOut(BaseModel):
    """A signal recorded in a run's log, and whether the run was resumed."""

    run_id: str
    name: str
    seq: int
    """The signal's event in the run's log."""
    resumed: bool = False
    detail: str = ""


class FeedbackIn(BaseModel):
    """A rating of a run or of one of its tasks."""

    model_config = _Input

    score: int = Field(ge=1, le=5)
    task_id: str | None = None
    comment: str = ""
    by: str = ""


class ApprovalOut(BaseModel):
    """A task waiting for a person's decision."""

    run_id: str
    task_id: str
    agent: str | None
    reason: str
    asked_at: datetime
    deadline: datetime | None
    output: JsonValue
    """The proposed output."""
    workflow: str = ""
    goal: str | None = None


class RunOut(BaseModel):
    """One line of the runs list."""

    run_id: str
    workflow: str
    goal: str | None
    status: str
    """As ``podium runs`` shows it: a run whose process (or, on Temporal, workflow) is gone
    reads ``interrupted``."""
    started_at: datetime | None
    duration_s: float | None
    tasks_succeeded: int
    tasks_failed: int
    tokens: int
    cost: float
    error: str | None


class TaskOut(BaseModel):
    """One task of a run."""

    id: str
    agent: str | None
    status: str
    attempts: int
    iteration: int
    started_at: datetime | None
    ended_at: datetime | None
    duration_s: float | None
    output: JsonValue
    error: str | None
    model_calls: int
    tool_calls: int
    tokens: int
    cost: float


class RunDetail(RunOut):
    """A run in full, folded from its log."""

    inputs: dict[str, JsonValue]
    graph: list[GraphNode]
    tasks: list[TaskOut]
    writes: list[ContextWritten]
    """Every context write, in order: key, version, value and who wrote it."""
    calls: list[ModelCalled | ToolCalled]
    plans: list[dict[str, JsonValue]]
    claims: list[ClaimVerified]
    sources: dict[str, dict[str, JsonValue]]
    approvals: list[ApprovalRequested]
    feedback: list[FeedbackRecorded]
    notes: list[str]
    output: JsonValue
    hallucination_rate: float | None
    last_seq: int


def run_out(summary: podium.RunSummary, status: str) -> RunOut:
    """The list line of ``summary``, with its ``status`` as shown (``podium.shown_statuses``)."""
    return RunOut(
        run_id=summary.run_id,
        workflow=summary.workflow,
        goal=summary.goal,
        status=status,
        started_at=summary.started_at,
        duration_s=summary.duration.total_seconds() if summary.duration is not None else None,
        tasks_succeeded=summary.tasks_succeeded,
        tasks_failed=summary.tasks_failed,
        tokens=summary.tokens,
        cost=summary.cost,
        error=summary.error,
    )


def _task_out(task: podium.TaskState) -> TaskOut:
    return TaskOut(
        id=task.id,
        agent=task.agent,
        status=task.status,
        attempts=task.attempts,
        iteration=task.iteration,
        started_at=task.started_at,
        ended_at=task.ended_at,
        duration_s=task.duration.total_seconds() if task.duration is not None else None,
        output=task.output,
        error=task.error,
        model_calls=task.model_calls,
        tool_calls=task.tool_calls,
        tokens=task.tokens,
        cost=task.cost,
    )


def _plan_out(plan: podium.PlanState) -> dict[str, JsonValue]:
    return {
        "task_id": plan.task_id,
        "revision": plan.revision,
        "reason": plan.reason,
        "steps": [{"id": s.id, "agent": s.agent, "needs": list(s.needs)} for s in plan.steps],
        "kept": list(plan.kept),
        "plan": plan.plan,
        "created_at": plan.created_at.isoformat() if plan.created_at else None,
        "repairs": list(plan.repairs),
        "rejections": [list(r.problems) for r in plan.rejections],
    }


def run_detail(state: podium.RunState, status: str) -> RunDetail:
    """The full answer for one run, with its ``status`` as shown (``podium.shown_statuses``)."""
    return RunDetail(
        run_id=state.run_id,
        workflow=state.workflow,
        goal=state.goal,
        status=status,
        started_at=state.started_at,
        duration_s=state.duration.total_seconds() if state.duration is not None else None,
        tasks_succeeded=state.count("succeeded"),
        tasks_failed=state.count("failed"),
        tokens=state.input_tokens + state.output_tokens,
        cost=state.cost,
        error=state.error,
        inputs=state.inputs,
        graph=list(state.graph),
        tasks=[_task_out(t) for t in podium.tasks_in_graph_order(state)],
        writes=state.writes,
        calls=state.calls,
        plans=[_plan_out(p) for p in state.plans],
        claims=state.claims,
        sources=state.sources,
        approvals=list(state.approvals.values()),
        feedback=state.feedback,
        notes=state.notes,
        output=state.output,
        hallucination_rate=state.hallucination_rate,
        last_seq=state.last_seq,
    )
