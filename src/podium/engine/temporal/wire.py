"""What crosses the wire between a Temporal workflow and its activities: plain dataclasses of
JSON-ready values (Temporal's default converter carries them), with events as JSON text in
the log's own format (``podium.event.dump_event``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from podium.engine.approval import Decision
from podium.event import Event, dump_event, load_event

__all__ = [
    "AppendRequest",
    "AttemptFailure",
    "AttemptRequest",
    "AttemptResult",
    "DecisionRequest",
    "ReadRequest",
    "RunRequest",
    "RunResponse",
    "SignalRequest",
    "ToolAsk",
    "dump_events",
    "load_events",
]


@dataclass(frozen=True, kw_only=True)
class RunRequest:
    """The input of the ``podium.run`` workflow: one run of a workflow file."""

    run_id: str
    source: str
    """The workflow file's absolute path; every worker reads it (a shared file system)."""
    fingerprint: str
    """The workflow's fingerprint when the run started: a worker that reads another fails."""
    inputs: str = "{}"
    """The run's inputs, as JSON (Temporal's converter does not know ``JsonValue``)."""
    goal: str | None = None
    model: str | None = None
    """A model name replacing every agent's model for this run."""
    budget: str | None = None
    """The run's own limits (a ``Budget``), as JSON."""
    max_concurrency: int | None = None
    address: str = ""
    """The Temporal service, as the starting process reached it (recorded in the log, so that
    ``podium approve``, ``signal`` and ``cancel`` reach the run's workflow)."""
    is_resumed: bool = False
    """Continue the run from its log (``podium resume``: its earlier workflow ended without
    finishing it) instead of starting it; ``budget`` then replaces the limits given before."""


@dataclass(frozen=True, kw_only=True)
class RunResponse:
    """What the workflow returns; the whole story is in the run's event log."""

    status: str
    output: str = "null"
    """The run's output, as JSON."""
    error: str | None = None


@dataclass(frozen=True, kw_only=True)
class AppendRequest:
    """Events to append to a run's log, numbered by the workflow (the run's one writer)."""

    run_id: str
    events: list[str]


@dataclass(frozen=True, kw_only=True)
class ReadRequest:
    """Read a run's events after ``after_seq``."""

    run_id: str
    after_seq: int = 0


@dataclass(frozen=True, kw_only=True)
class AttemptRequest:
    """One attempt at an agent task, for any worker to make.

    The worker reads the workflow file and finds the task's (sub-)workflow by fingerprint and
    the agent by name; what the engine resolved in the workflow (the task, the agent's model,
    the template values) travels with the request.
    """

    run_id: str
    source: str
    workflow: str
    """The fingerprint of the (sub-)workflow the task belongs to."""
    task: str
    """The task, as JSON (``Task.model_dump_json``)."""
    task_id: str
    agent: str
    agent_model: str | None
    """The agent's model (a name or a ``ModelSpec`` as JSON): a fallback may change it."""
    run_model: str | None
    values: dict[str, Any]  # Any: template values, made JSON-ready by the workflow
    attempt: int
    iteration: int
    questions: list[tuple[int, str]]
    history: list[str]
    """The task's events already in the log (which scripted replies were used)."""
    replay: list[str]
    """Recorded calls of the task's unfinished attempt (a resumed run, or this attempt
    before it asked for a tool approval): not made again."""
    decisions: list[str | None] = field(default_factory=list[str | None])
    """The decisions on the tool calls needing approval that the attempt meets live (not
    replayed), in order: None where the call was approved, else the denial's message (the
    tool fails with it). Past them, the attempt stops at the next such call. A call approved
    earlier has run, and is replayed, so this holds the last decision only."""


@dataclass(frozen=True, kw_only=True)
class ToolAsk:
    """A tool call that needs approval, which an attempt stopped at (the workflow waits for
    the decision, then makes the attempt again)."""

    tool: str
    call_id: str
    arguments: str
    """The call's arguments, as JSON."""


@dataclass(frozen=True, kw_only=True)
class AttemptFailure:
    """An attempt's expected failure (``TaskError``), returned as a value to keep its events."""

    error_type: str
    message: str
    retryable: bool
    retry_after_s: float | None = None
    kind: str | None = None
    """Its ``policy.failure_kind``: a ``ModelError``'s kind (what the breakers and fallbacks
    look at), or a tool's ``server`` or ``timeout`` (what ``RetryPolicy.retry_on`` looks at)."""
    is_template: bool = False


@dataclass(frozen=True, kw_only=True)
class AttemptResult:
    """What an attempt did: the events of the calls it completed, then its answer or failure."""

    events: list[str]
    output: str = "null"
    """The answer, as JSON."""
    chosen: str | None = None
    journal: list[str] = field(default_factory=list[str])
    """Events of the last model call, committed with the task's output."""
    failure: AttemptFailure | None = None
    tool_ask: ToolAsk | None = None
    """The attempt stopped at a tool call that needs approval (no answer, no failure)."""


@dataclass(frozen=True, kw_only=True)
class DecisionRequest:
    """A person's decision on a task waiting for approval (the ``podium.decide`` update)."""

    task_id: str
    kind: str
    """``approval_granted`` or ``approval_denied``."""
    by: str = ""
    comment: str = ""
    reason: str = ""
    is_edited: bool = False
    output: str = "null"
    """The edited output, as JSON, when ``is_edited``."""

    @classmethod
    def of(cls, task_id: str, decision: Decision) -> DecisionRequest:
        """The request that carries ``decision`` on ``task_id`` to the workflow."""
        return cls(
            task_id=task_id,
            kind=decision.kind,
            by=decision.by,
            comment=decision.comment,
            reason=decision.reason,
            is_edited=decision.is_edited,
            output=json.dumps(decision.output),
        )

    def decision(self) -> Decision:
        """The decision it carries, as the workflow records it."""
        kind = "approval_granted" if self.kind == "approval_granted" else "approval_denied"
        return Decision(
            kind=kind,
            by=self.by,
            comment=self.comment,
            reason=self.reason,
            is_edited=self.is_edited,
            output=json.loads(self.output),
        )


@dataclass(frozen=True, kw_only=True)
class SignalRequest:
    """A signal for the run's ``wait:`` tasks (the ``podium.signal`` update)."""

    name: str
    data: str = "null"
    """The payload, as JSON."""
    by: str = ""


def dump_events(events: Sequence[Event]) -> list[str]:
    """Events as JSON text in the log's format."""
    return [dump_event(e).decode() for e in events]


def load_events(texts: Sequence[str]) -> list[Event]:
    """Events from JSON text in the log's format."""
    return [load_event(t) for t in texts]
