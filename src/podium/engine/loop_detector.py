"""LoopDetector: stops a run that repeats the same call without making progress.

A *pattern* is what the log records of one call, in one task (qualified task id,
so different tasks and map items never match each other):

- a tool call: agent, tool and arguments;
- a model call: agent, model, token counts and response. The log does not hold the request,
  but without progress a task's prompt renders the same context, and its input token count
  stands for the request.

*Progress* is a context write (a ``context_written`` event, or a ``task_succeeded`` that records
its output's write) that gives a key a value it did not hold (a new key or a changed value);
rewriting the same value is not progress, and neither is a resume, which starts the count
afresh. When one pattern is recorded more than ``max_identical_calls`` times
(default 2, so the third stops the run) with no progress in between, the run stops with
``budget_exceeded(limit="loop")`` and the pattern in its reason. Counts are per loop iteration
and add up across iterations, but a task's new attempt (a retry) drops the counts of the
attempt it replaces, so the retry policy, which is bounded on its own, is never cut short.
``engine.attempt`` answers an identical tool call *within* one attempt from its cache without
calling (or logging) the tool; only logged calls count, so the two never fight.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Final, assert_never

from pydantic import JsonValue

from podium.engine.meter import Stop
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
)
from podium.ids import TaskId

__all__ = ["MAX_IDENTICAL_CALLS", "LoopDetector"]

MAX_IDENTICAL_CALLS: Final = 2
"""How often one call may be recorded without progress; one more stops the run."""


@dataclass(slots=True)
class LoopDetector:
    """Counts identical calls per task since the last progress; see the module docstring."""

    max_identical_calls: int
    counts: dict[TaskId, dict[tuple[object, ...], dict[int, int]]] = field(default_factory=dict)
    """Per task, per pattern: how often it was recorded in each loop iteration."""
    values: dict[str, int] = field(default_factory=dict)
    """A hash of each context key's latest value."""

    def observe(self, event: Event, iterations: dict[TaskId, int]) -> Stop | None:
        match event:  # the kinds every agent task records first
            case TaskStarted():  # a new attempt replaces the last one of this instance
                for per_iteration in self.counts.get(event.task_id, {}).values():
                    per_iteration.pop(event.iteration, None)
            case ModelCalled():
                pattern = (event.agent, event.model, event.input_tokens, event.output_tokens)
                return self._count(event, (*pattern, _canonical(event.response)), iterations)
            case TaskSucceeded():
                if event.key is not None:
                    self._written(event.key, event.output)
            case ContextWritten():
                self._written(event.key, event.value)
            case RunResumed():  # a person chose to go on: count afresh
                self.counts.clear()
            case ToolCalled():
                pattern = (event.agent, event.tool, _canonical(event.arguments))
                return self._count(event, pattern, iterations)
            case (
                RunStarted()
                | OutputRejected()
                | TaskFailed()
                | TaskRetried()
                | TaskSkipped()
                | RouteChosen()
                | MapExpanded()
                | LoopIterated()
                | RunCompleted()
                | TaskRerouted()
                | CircuitChanged()
                | BudgetExceeded()
                | ApprovalRequested()
                | ApprovalGranted()
                | ApprovalDenied()
                | AgentChosen()
                | FeedbackRecorded()
                | PlanCreated()
                | PlanRepaired()
                | PlanRejected()
                | SourcesRetrieved()
                | ClaimVerified()
                | ToolDenied()
                | TaskCancelled()
                | SignalReceived()
                | SignalAwaited()
            ):
                pass
            case _:
                assert_never(event)
        return None

    def _written(self, key: str, value: JsonValue) -> None:
        """A write to ``key``: progress when it changes the key's value."""
        digest = hash(_canonical(value))
        if self.values.get(key) != digest:
            self.values[key] = digest
            self.counts.clear()

    def _count(
        self,
        call: ToolCalled | ModelCalled,
        pattern: tuple[object, ...],
        iterations: dict[TaskId, int],
    ) -> Stop | None:
        patterns = self.counts.get(call.task_id)
        if patterns is None:
            patterns = self.counts[call.task_id] = {}
        per_iteration = patterns.get(pattern)
        if per_iteration is None:  # most calls: a Counter costs more to make than it saves
            per_iteration = patterns[pattern] = {}
        iteration = iterations.get(call.task_id, 0)
        per_iteration[iteration] = per_iteration.get(iteration, 0) + 1
        seen = sum(per_iteration.values())
        if seen <= self.max_identical_calls:
            return None
        reason = f"{seen} times without a new context write (task {call.task_id!r})"
        if isinstance(call, ToolCalled):
            reason = f"{call.agent} called {call.tool}({call.arguments!r}) {reason}"
        else:
            said = f"{call.agent} got the same answer from model {call.model!r}"
            reason = f"{said} to the same request {reason}: {_preview(call.response)}"
        return Stop(
            scope=f"task:{call.task_id}",
            limit="loop",
            used=seen,
            allowed=self.max_identical_calls,
            reason=reason,
        )


def _canonical(value: JsonValue) -> str:
    if isinstance(value, str):  # most outputs: no need to encode
        return value
    text = value.get("text") if isinstance(value, dict) else None
    if isinstance(value, dict) and isinstance(text, str) and not value.get("tool_calls"):
        return text  # a recorded model response without tool calls
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _preview(response: JsonValue) -> str:
    """A short form of a recorded model response for the reason."""
    if isinstance(response, dict):
        text = str(response.get("text") or "")
        calls = response.get("tool_calls") or []
        if not text and isinstance(calls, list) and calls:
            text = f"calls {', '.join(str(c.get('name')) for c in calls if isinstance(c, dict))}"
        response = text
    text = str(response)
    return repr(text if len(text) <= 60 else text[:57] + "...")
