"""Journal: what a run's log says already happened, so a resumed run does not do it again.

Built from the events of an earlier (interrupted, cancelled or failed) execution of a run:

- tasks that **succeeded** keep their outcome and are not run again; failed tasks are attempted
  again (a resume is also how a run is retried after a fix), and skips are decided afresh;
  tasks the workflow **cancelled** (``task_cancelled``) stay cancelled;
- a task that was **in flight** replays the model and tool calls its last attempt completed,
  in order, instead of making them again: no paid-for model call is repeated and a completed
  tool call is not run twice. Only the call that was in flight when the process died runs
  again; tools can tell such a possible repeat by their idempotency key (``ToolContext``);
- **loop** decisions already taken are reused (the context holds later values by now);
- **context writes** are rebuilt, namespace by namespace, from ``context_written`` events and
  the output writes ``task_succeeded`` events record (``recorded_write``).

In **replay** mode (``podium replay``) nothing counts as done: every task runs again, fed only
from the journal, and a call the journal does not hold stops the task with
``ReplayDivergedError`` saying where the new code diverged.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import assert_never

from pydantic import JsonValue

from podium.engine.outcome import Outcome
from podium.errors import TaskError
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
    SignalAwaited,
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
    recorded_write,
)
from podium.ids import TaskId
from podium.models.base import ModelResponse, ToolCall, Usage

__all__ = ["Journal", "RecordedApproval", "ReplayDivergedError", "Replay"]

_Key = tuple[TaskId, int]
"""A task instance: qualified task id and loop iteration."""


class ReplayDivergedError(TaskError):
    """A replayed task asked for a call the recorded run did not make."""


@dataclass(slots=True)
class RecordedApproval:
    """An approval request in the log, and its decision when one was recorded."""

    request: ApprovalRequested
    answer: ApprovalGranted | ApprovalDenied | None = None


@dataclass(slots=True)
class Replay:
    """The recorded calls of one task instance's last attempt, handed out in order."""

    task_id: TaskId
    calls: deque[ModelCalled | ToolCalled]
    is_strict: bool
    """True in replay mode: running out of recorded calls, or a mismatch, is an error."""

    def next_model_response(self) -> ModelResponse | None:
        """The next recorded model answer, or None when the attempt must go live.

        Raises:
            ReplayDivergedError: in strict mode, when the journal has no such call.
        """
        if self.calls and isinstance(self.calls[0], ModelCalled):
            return _response(self.calls.popleft())  # type: ignore[arg-type]  # checked above
        self._diverged("a model call")
        return None

    def next_tool_result(self, call: ToolCall) -> ToolCalled | None:
        """The recorded result of this tool call, or None when it must run live.

        Raises:
            ReplayDivergedError: in strict mode, when the journal has no such call.
        """
        head = self.calls[0] if self.calls else None
        if isinstance(head, ToolCalled) and (head.tool, head.arguments) == (
            call.name,
            call.arguments,
        ):
            self.calls.popleft()
            return head
        self._diverged(f"tool {call.name}({call.arguments})")
        return None

    def _diverged(self, wanted: str) -> None:
        recorded = _describe(self.calls[0]) if self.calls else "nothing more"
        self.calls.clear()  # from here on the attempt runs live (resume) or stops (replay)
        if self.is_strict:
            msg = f"replay diverged: the code asked for {wanted}, the recorded run had {recorded}"
            raise ReplayDivergedError(msg, task_id=self.task_id)


@dataclass(slots=True, kw_only=True)
class Journal:
    """The part of a run's log that a resumed execution reuses."""

    is_replay: bool = False
    done: dict[_Key, Outcome] = field(default_factory=dict)
    calls: dict[_Key, list[ModelCalled | ToolCalled]] = field(default_factory=dict)
    loops: dict[_Key, LoopIterated] = field(default_factory=dict)
    writes: list[ContextWritten] = field(default_factory=list)
    choices: dict[TaskId, deque[str]] = field(default_factory=dict)
    """The agents the router chose for each capability task, in order (for a replay)."""
    approvals: dict[_Key, list[RecordedApproval]] = field(default_factory=dict)
    """Approval requests of each task instance, in order, with the answer each got."""
    retrievals: dict[TaskId, SourcesRetrieved] = field(default_factory=dict)
    """What was retrieved for each plan step (a replay is shown it too)."""

    @classmethod
    def from_events(cls, events: Sequence[Event], *, is_replay: bool = False) -> Journal:
        """Read a run's log."""
        journal = cls(is_replay=is_replay)
        current: dict[TaskId, int] = {}
        routes: dict[TaskId, TaskId] = {}
        failed: set[_Key] = set()
        for event in events:
            journal._read(event, current, routes, failed)
        if not is_replay:  # a failed task is attempted afresh: replaying its answers would
            for key in failed:  # only fail it the same way again
                journal.calls.pop(key, None)
        if is_replay:
            journal.done.clear()
            journal.writes.clear()
            journal.loops.clear()
        return journal

    def _read(
        self,
        event: Event,
        current: dict[TaskId, int],
        routes: dict[TaskId, TaskId],
        failed: set[_Key],
    ) -> None:
        match event:
            case TaskStarted():
                current[event.task_id] = event.iteration
                key = (event.task_id, event.iteration)
                if key in failed:  # a new attempt after a failed one: keep the last attempt's
                    failed.discard(key)
                    self.calls[key] = []
                # else a resumed execution re-ran the task: its replayed calls were not
                # logged again, so the calls recorded before still belong to this attempt
            case TaskFailed():
                failed.add((event.task_id, event.iteration))
            case ModelCalled() | ToolCalled():
                key = (event.task_id, current.get(event.task_id, 0))
                self.calls.setdefault(key, []).append(event)
            case RouteChosen():
                routes[event.task_id] = TaskId(event.choice.rsplit("/", 1)[-1])
            case TaskSucceeded() | TaskCancelled():
                self._read_end(event, routes)
            case ContextWritten() | SourcesRetrieved() | LoopIterated():
                self._read_record(event)
            case ApprovalRequested() | ApprovalGranted() | ApprovalDenied() | AgentChosen():
                self._read_decision(event)
            case (
                RunStarted()
                | RunResumed()
                | OutputRejected()
                | TaskRetried()
                | TaskSkipped()
                | MapExpanded()
                | RunCompleted()
                | TaskRerouted()
                | CircuitChanged()
                | BudgetExceeded()
                | FeedbackRecorded()
                | PlanCreated()
                | PlanRepaired()
                | PlanRejected()
                | ClaimVerified()
                | ToolDenied()
                | SignalReceived()
                | SignalAwaited()
            ):
                pass
            case _:
                assert_never(event)

    def _read_end(self, event: TaskSucceeded | TaskCancelled, routes: dict[TaskId, TaskId]) -> None:
        key = (event.task_id, event.iteration)
        if isinstance(event, TaskCancelled):  # withdrawn by the workflow: it stays cancelled
            if not event.is_interrupted:  # cut off by the run's stop: it runs again
                self.done[key] = Outcome(status="cancelled", reason=event.reason)
            return
        chosen = routes.get(event.task_id)
        self.done[key] = Outcome(status="succeeded", output=event.output, chosen=chosen)
        written = recorded_write(event)
        if written is not None:
            self.writes.append(written)

    def _read_record(self, event: ContextWritten | SourcesRetrieved | LoopIterated) -> None:
        match event:
            case ContextWritten():
                self.writes.append(event)
            case SourcesRetrieved():
                self.retrievals.setdefault(event.task_id, event)
            case LoopIterated():
                self.loops[(event.task_id, event.iteration)] = event

    def outcome(self, task_id: TaskId, iteration: int) -> Outcome | None:
        """This task instance's outcome, if it succeeded before."""
        return self.done.get((task_id, iteration))

    def replay(self, task_id: TaskId, iteration: int, *, agent: str) -> Replay | None:
        """The recorded calls ``agent`` made for this task instance, if there are any to feed.

        A rerouted task's calls were made by its fallback agent: on resume they are fed to
        that agent again, never to the one that failed before it.
        """
        calls = [c for c in self.calls.get((task_id, iteration), ()) if c.agent == agent]
        if not calls and not self.is_replay:
            return None
        return Replay(task_id=task_id, calls=deque(calls), is_strict=self.is_replay)

    def _read_decision(
        self, event: ApprovalRequested | ApprovalGranted | ApprovalDenied | AgentChosen
    ) -> None:
        if isinstance(event, AgentChosen):
            self.choices.setdefault(event.task_id, deque()).append(event.agent)
            return
        key = (event.task_id, event.iteration)
        if isinstance(event, ApprovalRequested):
            self.approvals.setdefault(key, []).append(RecordedApproval(request=event))
            return
        unanswered = [a for a in self.approvals.get(key, []) if a.answer is None]
        if unanswered:
            unanswered[0].answer = event

    def approval(self, task_id: TaskId, iteration: int, index: int) -> RecordedApproval | None:
        """The ``index``-th approval asked for this task instance, and its answer if any."""
        asked = self.approvals.get((task_id, iteration), [])
        return asked[index] if index < len(asked) else None

    def recorded_choice(self, task_id: TaskId) -> str | None:
        """For a replay: the next agent the recorded run chose for ``task_id``, if any."""
        queue = self.choices.get(task_id)
        return queue.popleft() if self.is_replay and queue else None

    def loop_decision(self, task_id: TaskId, iteration: int) -> LoopIterated | None:
        """The decision a loop took after this iteration, if it took one."""
        return self.loops.get((task_id, iteration))

    def writes_in(self, namespace: str) -> list[ContextWritten]:
        """The recorded writes of one context namespace (``""`` is the run's own)."""
        return [w for w in self.writes if _namespace(w.key) == namespace]


def _namespace(key: str) -> str:
    head, sep, _ = key.rpartition("/")
    return head + sep


def _response(event: ModelCalled) -> ModelResponse:
    recorded: JsonValue = event.response
    text, calls = "", ()
    if isinstance(recorded, dict):
        text = str(recorded.get("text") or "")
        raw_calls = recorded.get("tool_calls") or []
        calls = tuple(
            ToolCall(id=str(c["id"]), name=str(c["name"]), arguments=dict(c["arguments"]))  # type: ignore[index, arg-type]
            for c in raw_calls  # type: ignore[union-attr]
        )
    usage = Usage(input_tokens=event.input_tokens, output_tokens=event.output_tokens)
    return ModelResponse(
        model=event.model, text=text, tool_calls=calls, usage=usage, cost=event.cost
    )


def _describe(call: ModelCalled | ToolCalled) -> str:
    if isinstance(call, ModelCalled):
        return f"a model call to {call.model}"
    return f"tool {call.tool}({call.arguments})"
