"""Events of a run as a whole: its start, resumes and end, the graph it runs, feedback on it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import JsonValue

from podium.frozen import fast_init
from podium.ids import RunId, TaskId

__all__ = [
    "EndStatus",
    "FeedbackRecorded",
    "GraphNode",
    "RunCompleted",
    "RunResumed",
    "RunStarted",
    "RunStatus",
    "TaskKind",
    "TemporalRef",
]

RunStatus = Literal["running", "waiting", "succeeded", "failed", "cancelled"]
"""``waiting``: paused until a human approves or denies a task (``podium approvals``)."""
EndStatus = Literal["succeeded", "failed", "cancelled", "waiting"]
"""How a run (or one execution of it, for ``waiting``) ended."""
TaskKind = Literal["agent", "map", "loop", "workflow", "plan", "wait"]


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class GraphNode:
    """One task of the run's graph as recorded when the run starts (for ``podium show``)."""

    id: TaskId
    kind: TaskKind
    agent: str | None
    needs: tuple[TaskId, ...]
    output: str
    parent: TaskId | None = None
    """The composite task (map, loop, sub-workflow) this node belongs to, if any."""


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class TemporalRef:
    """The Temporal workflow a run on the Temporal engine is: where approvals, signals and
    cancellation go instead of this process."""

    address: str
    """The Temporal service (``host:port``), as the process that started the run reached it."""
    namespace: str
    task_queue: str
    workflow_id: str


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class RunStarted:
    """A run began: what it runs and with which inputs."""

    kind: Literal["run_started"] = "run_started"
    seq: int
    run_id: RunId
    at: datetime
    workflow: str
    goal: str | None = None
    inputs: dict[str, JsonValue]
    graph: tuple[GraphNode, ...]
    output_key: str | None = None
    source: str | None = None
    """The workflow file the run came from, if any (``podium resume`` loads it again)."""
    fingerprint: str = ""
    """A hash of the workflow's definition, to notice a resume with a changed workflow."""
    pid: int | None = None
    """The process running it, so a dead one's run shows as interrupted."""
    host: str | None = None
    """The machine ``pid`` runs on (None in logs before version 4: this machine)."""
    model: str | None = None
    """The model that replaced every agent's for this run (``--model``), if one did."""
    replay_of: RunId | None = None
    """For ``podium replay``: the recorded run this one re-executes (metrics and the router
    do not learn from replays)."""
    budget: dict[str, JsonValue] | None = None
    """Limits given for this run on top of the workflow's (``--max-cost``...); a resumed or
    replayed run keeps them."""
    temporal: TemporalRef | None = None
    """The Temporal workflow executing the run; None for a run in one process (and in logs
    before version 10)."""


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class RunResumed:
    """An interrupted, cancelled or failed run continues from its log in a new process."""

    kind: Literal["run_resumed"] = "run_resumed"
    seq: int
    run_id: RunId
    at: datetime
    pid: int | None = None
    host: str | None = None
    """The machine ``pid`` runs on."""
    fingerprint: str = ""
    is_replay: bool = False
    """True for ``podium replay``: model and tool results come from the log only."""
    budget: dict[str, JsonValue] | None = None
    """Limits given for this run on top of the workflow's from here on (``podium resume
    --max-calls``...), in place of those its start or an earlier resume recorded; None: those
    stay. A later resume and a replay keep the latest."""


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class RunCompleted:
    """The run ended: succeeded, failed (with the reason) or cancelled."""

    kind: Literal["run_completed"] = "run_completed"
    seq: int
    run_id: RunId
    at: datetime
    status: EndStatus
    output: JsonValue = None
    error: str | None = None


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class FeedbackRecorded:
    """A person rated a run (or one task of it), 1 to 5."""

    kind: Literal["feedback_recorded"] = "feedback_recorded"
    seq: int
    run_id: RunId
    at: datetime
    score: int
    task_id: TaskId | None = None
    comment: str = ""
    by: str = ""
