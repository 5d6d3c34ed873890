"""Events of one task's attempts: start, model and tool calls, context writes, outcome."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import JsonValue

from podium.frozen import fast_init
from podium.ids import RunId, TaskId

__all__ = [
    "ContextWritten",
    "ModelCalled",
    "OutputRejected",
    "TaskCancelled",
    "TaskFailed",
    "TaskRetried",
    "TaskSkipped",
    "TaskStarted",
    "TaskSucceeded",
    "ToolCalled",
    "ToolDenied",
    "recorded_write",
]


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class TaskStarted:
    """An attempt at a task began."""

    kind: Literal["task_started"] = "task_started"
    seq: int
    run_id: RunId
    at: datetime
    task_id: TaskId
    agent: str | None
    attempt: int = 1
    iteration: int = 0
    waited_s: float = 0.0
    """How long the attempt waited for a concurrency slot before it began."""
    limit: str | None = None
    """The concurrency limit it waited on (``max_concurrency 16``), if it waited."""


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class ModelCalled:
    """A model call completed (journaled so a resumed task need not pay for it again)."""

    kind: Literal["model_called"] = "model_called"
    seq: int
    run_id: RunId
    at: datetime
    task_id: TaskId
    agent: str
    model: str
    input_tokens: int
    output_tokens: int
    latency_s: float
    cost: float = 0.0
    response: JsonValue = None
    """The response as the model gave it: text, tool calls."""


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class ToolCalled:
    """A tool call completed or failed."""

    kind: Literal["tool_called"] = "tool_called"
    seq: int
    run_id: RunId
    at: datetime
    task_id: TaskId
    agent: str
    tool: str
    arguments: dict[str, JsonValue]
    result: JsonValue = None
    error: str | None = None
    latency_s: float = 0.0


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class ToolDenied:
    """A model asked for a tool its agent may not call; the call was not made."""

    kind: Literal["tool_denied"] = "tool_denied"
    seq: int
    run_id: RunId
    at: datetime
    task_id: TaskId
    agent: str
    tool: str
    arguments: dict[str, JsonValue]
    reason: str


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class OutputRejected:
    """A model's output failed the agent's output schema; a repair was asked for."""

    kind: Literal["output_rejected"] = "output_rejected"
    seq: int
    run_id: RunId
    at: datetime
    task_id: TaskId
    agent: str
    repair: int
    errors: str


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class ContextWritten:
    """A context key got a new version, with its provenance."""

    kind: Literal["context_written"] = "context_written"
    seq: int
    run_id: RunId
    at: datetime
    key: str
    version: int
    value: JsonValue
    task_id: TaskId | None
    agent: str | None


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class TaskSucceeded:
    """A task finished with an output.

    With ``key`` set it also records the write of ``output`` to ``key`` at ``version``, by
    ``agent`` in ``task_id``, which a separate ``context_written`` recorded before schema 12
    (and still does where a key's merge policy stores another value than the output). Read
    the write either form records with ``recorded_write``.
    """

    kind: Literal["task_succeeded"] = "task_succeeded"
    seq: int
    run_id: RunId
    at: datetime
    task_id: TaskId
    agent: str | None
    output: JsonValue = None
    attempt: int = 1
    iteration: int = 0
    key: str | None = None
    """The context key the output was written to, with its namespace; None: no write here."""
    version: int | None = None
    """The version of ``key`` that write made."""


def recorded_write(event: object) -> ContextWritten | None:
    """The context write ``event`` records, if any: a ``context_written`` itself, or the output
    write a ``task_succeeded`` carries, as the ``context_written`` it stands for (same ``seq``)."""
    if isinstance(event, ContextWritten):
        return event
    if not isinstance(event, TaskSucceeded) or event.key is None or event.version is None:
        return None
    return ContextWritten(
        seq=event.seq,
        run_id=event.run_id,
        at=event.at,
        key=event.key,
        version=event.version,
        value=event.output,
        task_id=event.task_id,
        agent=event.agent,
    )


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class TaskFailed:
    """A task attempt failed; ``retryable`` tells whether a retry could help."""

    kind: Literal["task_failed"] = "task_failed"
    seq: int
    run_id: RunId
    at: datetime
    task_id: TaskId
    agent: str | None
    error_type: str
    message: str
    retryable: bool = False
    attempt: int = 1
    iteration: int = 0


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class TaskRetried:
    """A failed attempt will be tried again after ``delay_s``."""

    kind: Literal["task_retried"] = "task_retried"
    seq: int
    run_id: RunId
    at: datetime
    task_id: TaskId
    attempt: int
    delay_s: float


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class TaskSkipped:
    """A task did not run: a condition was false, a route was not taken, or a need failed."""

    kind: Literal["task_skipped"] = "task_skipped"
    seq: int
    run_id: RunId
    at: datetime
    task_id: TaskId
    reason: str
    iteration: int = 0


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class TaskCancelled:
    """A running task was cancelled: the workflow withdrew it (a join had what it waited for
    with ``cancel_rest``, a map stopped early, a task ended the workflow or cancelled a
    region), or the run stopped around it (``is_interrupted``: Ctrl-C, a budget, the server
    stopping). Its in-flight calls were cancelled; it did not fail. A resumed run keeps a
    withdrawn task cancelled and runs an interrupted one again."""

    kind: Literal["task_cancelled"] = "task_cancelled"
    seq: int
    run_id: RunId
    at: datetime
    task_id: TaskId
    reason: str
    iteration: int = 0
    is_interrupted: bool = False
    """The run stopped while the task ran (not the workflow's choice): resume runs it again."""
