"""podium's exceptions. Everything raised on purpose derives from PodiumError.

PodiumError
├── ConfigError                   bad workflow, agent or config input; carries file/line locations
│   ├── WorkflowValidationError   every problem at once: cycle, unknown agent, missing input
│   ├── RunNotFoundError          no recorded run has that id (or starts with that prefix)
│   └── RunStateError             the run or task is not in a state that allows it: decided
│                                 already, executing in a live process, already ended
├── PlanError                     the planner found no valid plan within its repair budget
├── RoutingError                  no agent can take the task
├── TaskError                     one attempt failed: task_id, attempt, retryable, retry_after
│   ├── ModelError                provider failure, mapped from the vendor SDK's exception
│   ├── OutputValidationError     output failed its schema after the repair budget
│   ├── ToolError                 a tool, MCP server or A2A peer failed or timed out
│   ├── CircuitOpenError          not attempted: the model's or agent's circuit breaker is open
│   └── ApprovalDeniedError       a human (or an approval's timeout) denied the output
├── ContextAccessError            an agent read or wrote outside its scopes
├── StoreError                    storage failure (the driver error is in __cause__)
│   └── AppendConflictError       another writer appended to the run first
└── ApprovalRequired              control flow: persist, suspend, wait for a human decision

Exceptions are plain data: no I/O in ``__init__``, picklable, and the message says what is
wrong, where, and what to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from pydantic import ValidationError

__all__ = [
    "AppendConflictError",
    "ApprovalDeniedError",
    "ApprovalRequired",
    "CircuitOpenError",
    "ConfigError",
    "ContextAccessError",
    "Location",
    "ModelError",
    "ModelErrorKind",
    "OutputValidationError",
    "PlanError",
    "PodiumError",
    "Problem",
    "RoutingError",
    "RunNotFoundError",
    "RunStateError",
    "StoreError",
    "TaskError",
    "ToolError",
    "WorkflowValidationError",
    "validation_problems",
]


@dataclass(frozen=True, slots=True)
class Location:
    """Where in a source file something was written."""

    file: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        if self.line is None:
            return self.file
        if self.column is None:
            return f"{self.file}:{self.line}"
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with an input, with the place it was found."""

    message: str
    location: Location | None = None
    path: str = ""
    """Dotted path inside the document, e.g. ``tasks.draft.needs``."""

    def __str__(self) -> str:
        where = str(self.location) if self.location else ""
        if self.path:
            where = f"{where} ({self.path})" if where else self.path
        return f"{where}: {self.message}" if where else self.message


class PodiumError(Exception):
    """Root of every exception podium raises on purpose."""


class ConfigError(PodiumError):
    """A workflow, agent or config input is wrong; ``problems`` say where."""

    def __init__(self, message: str, problems: tuple[Problem, ...] = ()) -> None:
        super().__init__(message, problems)
        self.message = message
        self.problems = problems

    def __str__(self) -> str:
        if not self.problems:
            return self.message
        lines = "\n".join(f"  - {p}" for p in self.problems)
        return f"{self.message}\n{lines}"


class WorkflowValidationError(ConfigError):
    """A workflow failed validation; every problem found is listed at once."""


class RunNotFoundError(ConfigError):
    """No recorded run has the id given, or starts with the prefix given."""


class RunStateError(ConfigError):
    """The run (or its task) is not in a state that allows what was asked: the task was
    decided already, a live process is executing the run, or the run already ended. Asking
    again later, or after the run changes, may succeed."""


class PlanError(PodiumError):
    """The planner produced no valid plan within its repair budget."""


class RoutingError(PodiumError):
    """No agent can take a task."""


class TaskError(PodiumError):
    """One attempt at a task failed.

    Attributes:
        task_id: the task that failed, when known.
        attempt: the attempt number, starting at 1.
        retryable: whether trying again may succeed.
        retry_after: how long the failing party asked us to wait, if it said.
        agent: the agent whose attempt failed, when the engine moved the task off its own
            (a fallback's; set by the engine, None otherwise).
    """

    def __init__(
        self,
        message: str,
        *,
        task_id: str | None = None,
        attempt: int = 1,
        retryable: bool = False,
        retry_after: timedelta | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.task_id = task_id
        self.attempt = attempt
        self.retryable = retryable
        self.retry_after = retry_after
        self.agent: str | None = None

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild_task_error, (type(self), self.message, self.__dict__.copy()))

    def __str__(self) -> str:
        return f"task {self.task_id!r}: {self.message}" if self.task_id else self.message


def _rebuild_task_error(cls: type[TaskError], message: str, state: dict[str, object]) -> TaskError:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    return error


ModelErrorKind = Literal[
    "rate_limit", "timeout", "server", "bad_request", "auth", "not_found", "context_length", "other"
]
"""Why a model call failed, as the reliability layer needs to know it."""

_RETRYABLE_KINDS = frozenset({"rate_limit", "timeout", "server"})


class ModelError(TaskError):
    """A model provider failed.

    ``kind`` classifies the failure; rate limits, timeouts and server errors are retryable by
    default (``retry_after`` carries a provider's ``Retry-After``), the others fail fast.
    """

    def __init__(
        self,
        message: str,
        *,
        kind: ModelErrorKind = "other",
        task_id: str | None = None,
        attempt: int = 1,
        retryable: bool | None = None,
        retry_after: timedelta | None = None,
    ) -> None:
        super().__init__(
            message,
            task_id=task_id,
            attempt=attempt,
            retryable=kind in _RETRYABLE_KINDS if retryable is None else retryable,
            retry_after=retry_after,
        )
        self.kind: ModelErrorKind = kind


class OutputValidationError(TaskError):
    """A model's output failed its schema after the repair budget was spent."""


class ToolError(TaskError):
    """A tool raised, timed out, or was called with arguments that do not fit it."""


class CircuitOpenError(TaskError):
    """A task was not attempted: the circuit breaker of its model or agent is open.

    ``target`` names the circuit (``model:NAME`` or ``agent:NAME``); ``retry_after`` says when
    it half-opens and lets a probe through.
    """

    def __init__(
        self,
        message: str,
        *,
        target: str,
        task_id: str | None = None,
        attempt: int = 1,
        retry_after: timedelta | None = None,
    ) -> None:
        super().__init__(message, task_id=task_id, attempt=attempt, retry_after=retry_after)
        self.target = target


class ApprovalDeniedError(TaskError):
    """A human, or an approval's timeout default, denied a task's output."""


class ContextAccessError(PodiumError):
    """An agent read or wrote a context key outside its scopes; the access was refused."""


class StoreError(PodiumError):
    """The store failed to read or write; the driver's error is in ``__cause__``."""


class AppendConflictError(StoreError):
    """Events were not appended: another writer had appended to the run first (its log no
    longer ends where this writer read it), or the run was deleted meanwhile."""


class ApprovalRequired(PodiumError):
    """Control flow: the run must persist, suspend and wait for a human decision."""


def validation_problems(exc: ValidationError) -> tuple[str, ...]:
    """Each error of a pydantic validation as ``where: what`` (``<root>``: the whole value)."""
    return tuple(
        f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}" for e in exc.errors()
    )
