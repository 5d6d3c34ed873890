"""RunTracer: turns one run's events into one OpenTelemetry trace, as they are recorded.

``podium.run`` spans the run (``run_started``/``run_resumed`` to ``run_completed``); each task
attempt is a ``podium.task`` span under the run, or under its composite parent (map items
``map[3]``, loop bodies and sub-workflow tasks ``parent/child``); ``podium.model`` and
``podium.tool`` spans sit under their task, timed from the event (``at - latency``, ``at``).

Decisions are span events on their task's span: routes, retries, repairs, approvals; a plan
task's plans (``podium.plan_created``, with ``podium.plan.revision`` also set on the span),
repairs and rejections; a step's retrieved sources; a verifier's verdicts
(``podium.claim_verified``), whose counts are set on its span as ``podium.claims.checked``
and ``podium.claims.unsupported`` (unsupported or contradicted).

Only the OpenTelemetry API is used: with no SDK installed, ``tracer_subscriber()`` is None and
tracing costs nothing. Prompts and outputs are recorded only when ``PODIUM_TRACE_CONTENT=1``.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from importlib.metadata import PackageNotFoundError, version
from typing import Any, assert_never

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer, TracerProvider

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
from podium.telemetry import names as n

__all__ = ["CONTENT_ENV", "RunTracer", "tracer_subscriber"]

logger = logging.getLogger(__name__)

CONTENT_ENV = "PODIUM_TRACE_CONTENT"
"""Set to ``1`` to record model outputs, tool arguments and results, and task outputs."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ITEM = re.compile(r"\[\d+\]$")

Attributes = dict[str, Any]  # Any: OpenTelemetry attribute values


def tracer_subscriber(
    provider: TracerProvider | None = None,
) -> Callable[[Event], None] | None:
    """A new ``RunTracer`` for one run, or None when no SDK tracer provider is installed.

    ``provider`` defaults to the global one; the API's default (proxy or no-op) means nobody
    configured tracing, so nothing is traced.
    """
    provider = provider or trace.get_tracer_provider()
    if isinstance(provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider):
        return None
    return RunTracer(provider.get_tracer(n.TRACER_NAME, _version()))


class RunTracer:
    """A recorder subscriber that makes spans of one run's events (see the module doc)."""

    def __init__(self, tracer: Tracer, *, record_content: bool | None = None) -> None:
        self._tracer = tracer
        self._content = (
            os.environ.get(CONTENT_ENV) == "1" if record_content is None else record_content
        )
        self._run: Span | None = None
        self._tasks: dict[str, Span] = {}
        """The open span of each task's current attempt, by qualified task id."""
        self._pending: dict[str, list[tuple[str, Attributes]]] = {}
        """Span events for a task whose next attempt has not started yet (reroutes, retries)."""
        self._claims: dict[str, tuple[int, int]] = {}
        """Claims each verifying task checked so far: ``(checked, not supported)``."""

    def __call__(self, event: Event) -> None:
        try:
            self._observe(event)
        except Exception:  # a tracing bug must never break a run
            logger.exception(
                "tracing failed on %s event %s; the run goes on", event.kind, event.seq
            )

    def _observe(self, event: Event) -> None:  # noqa: C901 - one dispatch over event kinds
        match event:
            case RunStarted() | RunResumed():
                self._open_run(event)
            case TaskStarted():
                self._open_task(event)
            case ModelCalled():
                self._model(event)
            case ToolCalled():
                self._tool(event)
            case TaskSucceeded() | TaskFailed() | TaskSkipped() | TaskCancelled():
                self._close_task(event)
            case RouteChosen():
                attrs = {n.PODIUM_ROUTE_CHOICE: event.choice, n.PODIUM_ROUTE_REASON: event.reason}
                self._annotate(event.task_id, "podium.route_chosen", attrs, event.at, set_too=True)
            case TaskRerouted():
                attrs = {
                    "podium.route.from": event.from_target,
                    "podium.route.to": event.to_target,
                    n.PODIUM_ROUTE_REASON: event.reason,
                }
                self._annotate(event.task_id, "podium.task_rerouted", attrs, event.at, set_too=True)
            case AgentChosen():
                attrs = {
                    n.PODIUM_CAPABILITY: event.capability,
                    n.PODIUM_AGENT: event.agent,
                    n.PODIUM_ROUTE_REASON: event.reason,
                }
                self._annotate(event.task_id, "podium.agent_chosen", attrs, event.at, set_too=True)
            case TaskRetried():
                attrs = {n.PODIUM_ATTEMPT: event.attempt, "podium.retry.delay_s": event.delay_s}
                self._annotate(event.task_id, "podium.task_retried", attrs, event.at)
            case OutputRejected():
                attrs = {"podium.repair": event.repair, "podium.errors": event.errors}
                self._annotate(event.task_id, "podium.output_rejected", attrs, event.at)
            case ApprovalRequested():
                self._annotate(
                    event.task_id,
                    "podium.approval_requested",
                    {"podium.reason": event.reason},
                    event.at,
                )
            case SignalAwaited():
                attrs = {"podium.signal": event.name}
                self._annotate(event.task_id, "podium.signal_awaited", attrs, event.at)
            case MapExpanded():
                self._annotate(
                    event.task_id, "podium.map_expanded", {"podium.items": event.items}, event.at
                )
            case LoopIterated():
                attrs = {
                    n.PODIUM_ITERATION: event.iteration,
                    "podium.loop.done": event.is_done,
                    "podium.reason": event.reason,
                }
                self._annotate(event.task_id, "podium.loop_iterated", attrs, event.at)
            case (
                PlanCreated()
                | PlanRepaired()
                | PlanRejected()
                | SourcesRetrieved()
                | ClaimVerified()
            ):
                self._plan_or_claim(event)
            case BudgetExceeded() | CircuitChanged() | ToolDenied():
                if self._run is not None:
                    self._run.add_event(f"podium.{event.kind}", _fields(event), _ns(event.at))
            case RunCompleted():
                self._close_run(event)
            case (
                ContextWritten()
                | ApprovalGranted()
                | ApprovalDenied()
                | FeedbackRecorded()
                | SignalReceived()
            ):
                pass  # no span or span event: the log holds them
            case _:
                assert_never(event)

    def _plan_or_claim(
        self, event: PlanCreated | PlanRepaired | PlanRejected | SourcesRetrieved | ClaimVerified
    ) -> None:
        """Plans, retrievals and verdicts as span events on their task's span."""
        match event:
            case PlanCreated():
                attrs: Attributes = {
                    "podium.plan.revision": event.revision,
                    "podium.plan.steps": len(event.steps),
                    "podium.plan.kept": len(event.kept),
                }
                self._annotate(event.task_id, "podium.plan_created", attrs, event.at, set_too=True)
            case PlanRepaired():
                attrs = {
                    "podium.plan.revision": event.revision,
                    "podium.plan.repairs": event.repairs,
                }
                self._annotate(event.task_id, "podium.plan_repaired", attrs, event.at)
            case PlanRejected():
                attrs = {
                    "podium.plan.revision": event.revision,
                    "podium.plan.ask": event.ask,
                    "podium.plan.problems": event.problems,
                }
                self._annotate(event.task_id, "podium.plan_rejected", attrs, event.at)
            case SourcesRetrieved():
                ids = tuple(str(p.get("id")) for p in event.passages)
                attrs = {"podium.sources.count": len(ids), "podium.sources.ids": ids}
                self._annotate(event.task_id, "podium.sources_retrieved", attrs, event.at)
            case ClaimVerified():
                self._claim(event)

    def _claim(self, event: ClaimVerified) -> None:
        attrs: Attributes = {
            "podium.claim.verdict": event.verdict,
            "podium.claim.subject": event.subject,
            "podium.claim.sources": event.sources,
        }
        if self._content:
            attrs["podium.claim.text"] = event.claim
            attrs["podium.claim.evidence"] = event.evidence
        self._annotate(event.task_id, "podium.claim_verified", attrs, event.at)
        checked, unsupported = self._claims.get(event.task_id, (0, 0))
        counts = (checked + 1, unsupported + int(event.verdict != "supported"))
        self._claims[event.task_id] = counts
        span = self._tasks.get(event.task_id)
        if span is not None:
            span.set_attribute("podium.claims.checked", counts[0])
            span.set_attribute("podium.claims.unsupported", counts[1])

    def _open_run(self, event: RunStarted | RunResumed) -> None:
        if self._run is not None:  # pragma: no cover - one run per tracer
            return
        attrs: Attributes = {n.PODIUM_RUN_ID: event.run_id}
        if isinstance(event, RunStarted):
            attrs[n.PODIUM_WORKFLOW] = event.workflow
        else:
            attrs["podium.resumed"] = True
        self._run = self._tracer.start_span(
            n.SPAN_RUN, kind=SpanKind.INTERNAL, attributes=attrs, start_time=_ns(event.at)
        )

    def _close_run(self, event: RunCompleted) -> None:
        for task_id in list(self._tasks):  # attempts cut short (cancelled, stopped by a budget)
            span = self._tasks.pop(task_id)
            span.set_attribute(n.PODIUM_TASK_STATUS, "interrupted")
            span.end(_ns(event.at))
        if self._run is None:
            return
        self._run.set_attribute(n.PODIUM_RUN_STATUS, event.status)
        if event.status == "failed":
            self._run.set_status(Status(StatusCode.ERROR, event.error or "failed"))
        if self._content and self._run.is_recording():
            self._run.set_attribute(n.PODIUM_OUTPUT, _json(event.output))
        self._run.end(_ns(event.at))
        self._run = None

    def _open_task(self, event: TaskStarted) -> None:
        attrs: Attributes = {
            n.PODIUM_RUN_ID: event.run_id,
            n.PODIUM_TASK_ID: event.task_id,
            n.PODIUM_ATTEMPT: event.attempt,
            n.PODIUM_ITERATION: event.iteration,
        }
        if event.agent is not None:
            attrs[n.PODIUM_AGENT] = event.agent
        span = self._start(n.SPAN_TASK, event.task_id, attrs, event.at)
        self._claims.pop(event.task_id, None)  # counted per attempt
        for name, fields in self._pending.pop(event.task_id, ()):
            span.add_event(name, fields)
        self._tasks[event.task_id] = span

    def _close_task(self, event: TaskSucceeded | TaskFailed | TaskSkipped | TaskCancelled) -> None:
        span = self._tasks.pop(event.task_id, None)
        if span is None:  # skipped before it started
            attrs: Attributes = {n.PODIUM_RUN_ID: event.run_id, n.PODIUM_TASK_ID: event.task_id}
            span = self._start(n.SPAN_TASK, event.task_id, attrs, event.at)
        match event:
            case TaskSucceeded():
                span.set_attribute(n.PODIUM_TASK_STATUS, "succeeded")
                if self._content and span.is_recording():
                    span.set_attribute(n.PODIUM_OUTPUT, _json(event.output))
            case TaskFailed():
                span.set_attribute(n.PODIUM_TASK_STATUS, "failed")
                span.set_attribute(n.ERROR_TYPE, event.error_type)
                span.set_attribute("podium.retryable", event.retryable)
                span.set_status(Status(StatusCode.ERROR, f"{event.error_type}: {event.message}"))
            case TaskSkipped():
                span.set_attribute(n.PODIUM_TASK_STATUS, "skipped")
                span.set_attribute("podium.skip.reason", event.reason)
            case TaskCancelled():
                span.set_attribute(n.PODIUM_TASK_STATUS, "cancelled")
                span.set_attribute("podium.cancel.reason", event.reason)
        span.end(_ns(event.at))

    def _model(self, event: ModelCalled) -> None:
        attrs: Attributes = {
            n.GEN_AI_OPERATION_NAME: n.OPERATION_CHAT,
            n.GEN_AI_REQUEST_MODEL: event.model,
            n.GEN_AI_RESPONSE_MODEL: event.model,
            n.GEN_AI_USAGE_INPUT_TOKENS: event.input_tokens,
            n.GEN_AI_USAGE_OUTPUT_TOKENS: event.output_tokens,
            n.PODIUM_TASK_ID: event.task_id,
            n.PODIUM_AGENT: event.agent,
            n.PODIUM_COST: event.cost,
        }
        provider, _, rest = event.model.partition(":")
        if rest:
            attrs[n.GEN_AI_PROVIDER_NAME] = provider
        span = self._start(
            n.SPAN_MODEL,
            event.task_id,
            attrs,
            event.at - _seconds(event.latency_s),
            own=True,
            kind=SpanKind.CLIENT,
        )
        if self._content and span.is_recording():
            span.set_attribute(n.GEN_AI_OUTPUT_MESSAGES, _json(event.response))
        span.end(_ns(event.at))

    def _tool(self, event: ToolCalled) -> None:
        attrs: Attributes = {
            n.GEN_AI_OPERATION_NAME: n.OPERATION_EXECUTE_TOOL,
            n.GEN_AI_TOOL_NAME: event.tool,
            n.PODIUM_TASK_ID: event.task_id,
            n.PODIUM_AGENT: event.agent,
        }
        span = self._start(
            n.SPAN_TOOL, event.task_id, attrs, event.at - _seconds(event.latency_s), own=True
        )
        if event.error is not None:
            span.set_attribute(n.ERROR_TYPE, "tool_error")
            span.set_status(Status(StatusCode.ERROR, event.error))
        if self._content and span.is_recording():
            span.set_attribute(n.GEN_AI_TOOL_CALL_ARGUMENTS, _json(event.arguments))
            span.set_attribute(n.GEN_AI_TOOL_CALL_RESULT, _json(event.result))
        span.end(_ns(event.at))

    def _annotate(
        self, task_id: str, name: str, attrs: Attributes, at: datetime, *, set_too: bool = False
    ) -> None:
        """Add a span event to the task's open span (and its attributes, with ``set_too``),
        or keep it for the task's next attempt."""
        span = self._tasks.get(task_id)
        if span is None:
            self._pending.setdefault(task_id, []).append((name, attrs))
            return
        span.add_event(name, attrs, _ns(at))
        if set_too:
            span.set_attributes(attrs)

    def _start(
        self,
        name: str,
        task_id: str,
        attrs: Attributes,
        at: datetime,
        *,
        own: bool = False,
        kind: SpanKind = SpanKind.INTERNAL,
    ) -> Span:
        """Start a span under ``task_id``'s own span (``own``) or its parent's."""
        parent = self._parent(task_id, own=own)
        context = trace.set_span_in_context(parent) if parent is not None else None
        return self._tracer.start_span(
            name, context=context, kind=kind, attributes=attrs, start_time=_ns(at)
        )

    def _parent(self, task_id: str, *, own: bool) -> Span | None:
        """The open span of the nearest enclosing task, else the run's."""
        current = task_id if own else _enclosing(task_id)
        while current:
            span = self._tasks.get(current)
            if span is not None:
                return span
            current = _enclosing(current)
        return self._run


def _enclosing(task_id: str) -> str:
    """The composite task that holds ``task_id`` (``map[3]`` → ``map``, ``a/b`` → ``a``)."""
    if _ITEM.search(task_id):
        return _ITEM.sub("", task_id)
    head, _, _ = task_id.rpartition("/")
    return head


def _ns(at: datetime) -> int:
    """``at`` in nanoseconds since the epoch (naive datetimes are taken as UTC)."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return (at - _EPOCH) // timedelta(microseconds=1) * 1000


def _seconds(value: float) -> timedelta:
    return timedelta(seconds=max(value, 0.0))


def _json(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


def _fields(event: BudgetExceeded | CircuitChanged | ToolDenied) -> Attributes:
    if isinstance(event, ToolDenied):
        return {"podium.tool": event.tool, "podium.reason": event.reason}
    if isinstance(event, BudgetExceeded):
        return {
            "podium.scope": event.scope,
            "podium.limit": event.limit,
            "podium.used": event.used,
            "podium.allowed": event.allowed,
            "podium.reason": event.reason,
        }
    return {
        "podium.target": event.target,
        "podium.state": event.state,
        "podium.reason": event.reason,
    }


def _version() -> str | None:
    try:
        return version("podium")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return None
