"""RunTracer: one trace per run, spans parented as the task graph is, GenAI attributes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from podium import Agent, MapSpec, ModelError, ScriptedModel, SqliteStore, Task, Workflow, tool
from podium.engine import LocalEngine
from podium.event import (
    ClaimVerified,
    Event,
    GraphNode,
    PlanCreated,
    PlanRejected,
    PlanRepaired,
    RunCompleted,
    RunStarted,
    SourcesRetrieved,
    TaskStarted,
    TaskSucceeded,
)
from podium.ids import RunId, TaskId
from podium.models.base import ToolCall
from podium.policy import RetryPolicy
from podium.run import RunResult
from podium.telemetry import names as n
from podium.telemetry.tracing import RunTracer, tracer_subscriber

NO_WAIT = RetryPolicy(initial_backoff=timedelta(0), jitter=False)


@pytest.fixture
async def store() -> AsyncIterator[SqliteStore]:
    async with SqliteStore(":memory:") as store:
        yield store


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> TracerProvider:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


async def traced_run(
    store: SqliteStore,
    provider: TracerProvider,
    flow: Workflow,
    model: ScriptedModel,
    *,
    record_content: bool = False,
) -> RunResult:
    tracer = RunTracer(provider.get_tracer("test"), record_content=record_content)
    engine = LocalEngine(store=store, model=model, subscribers=[tracer], retry=NO_WAIT)
    return await engine.execute(flow)


def named(spans: Sequence[ReadableSpan], name: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name == name]


def task_spans(spans: Sequence[ReadableSpan], task_id: str) -> list[ReadableSpan]:
    found = [
        s for s in named(spans, n.SPAN_TASK) if (s.attributes or {})[n.PODIUM_TASK_ID] == task_id
    ]
    return sorted(found, key=lambda s: s.start_time or 0)


def parent_of(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


async def test_a_run_is_one_trace_with_tasks_under_the_run_and_calls_under_their_task(
    store: SqliteStore, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    @tool
    def lookup_order(order_id: str) -> dict[str, str]:
        """Find an order."""
        return {"order_id": order_id, "status": "shipped"}

    flow = Workflow(
        name="w",
        agents=(Agent(name="a"), Agent(name="t", tools=(lookup_order,))),
        tasks=[
            Task(id="flaky", agent="a", instruction="x"),
            Task(id="orders", agent="t", instruction="where is A1?"),
            Task(id="sum", agent="a", instruction="y", needs=("flaky", "orders")),
        ],
    )
    model = ScriptedModel(
        {
            "flaky": [ModelError("x", kind="server"), "F"],
            "orders": [ToolCall(id="c1", name="lookup_order", arguments={"order_id": "A1"}), "ok"],
            "sum": ["done"],
        }
    )
    result = await traced_run(store, provider, flow, model)
    assert result.ok
    spans = exporter.get_finished_spans()

    assert len({s.context.trace_id for s in spans}) == 1
    (run,) = named(spans, n.SPAN_RUN)
    assert run.parent is None
    assert (run.attributes or {})[n.PODIUM_RUN_ID] == result.run_id
    tasks = named(spans, n.SPAN_TASK)
    assert all(parent_of(t) == run.context.span_id for t in tasks)

    first, second = task_spans(spans, "flaky")
    assert (first.attributes or {})[n.PODIUM_ATTEMPT] == 1
    assert (second.attributes or {})[n.PODIUM_ATTEMPT] == 2
    assert first.status.status_code is StatusCode.ERROR
    assert "x" in (first.status.description or "")
    assert second.status.status_code is not StatusCode.ERROR
    assert (first.attributes or {})[n.PODIUM_AGENT] == "a"

    models = named(spans, n.SPAN_MODEL)
    assert len(models) == 4  # flaky (the failed call records nothing), orders twice, sum
    by_task = {t.context.span_id: t for t in tasks}
    for span in models:
        attrs = span.attributes or {}
        parent = by_task[parent_of(span)]  # type: ignore[index]
        assert (parent.attributes or {})[n.PODIUM_TASK_ID] == attrs[n.PODIUM_TASK_ID]
        assert attrs[n.GEN_AI_OPERATION_NAME] == n.OPERATION_CHAT
        assert attrs[n.GEN_AI_REQUEST_MODEL] and attrs[n.GEN_AI_RESPONSE_MODEL]
        assert n.GEN_AI_USAGE_INPUT_TOKENS in attrs and n.GEN_AI_USAGE_OUTPUT_TOKENS in attrs
        assert n.PODIUM_COST in attrs
        assert n.GEN_AI_OUTPUT_MESSAGES not in attrs  # content only when asked for
        assert span.start_time is not None and span.end_time is not None
        assert span.start_time <= span.end_time

    (called,) = named(spans, n.SPAN_TOOL)
    attrs = called.attributes or {}
    assert attrs[n.GEN_AI_OPERATION_NAME] == n.OPERATION_EXECUTE_TOOL
    assert attrs[n.GEN_AI_TOOL_NAME] == "lookup_order"
    assert parent_of(called) == task_spans(spans, "orders")[0].context.span_id
    assert run.status.status_code is not StatusCode.ERROR


async def test_map_items_are_under_the_map_task_and_content_is_recorded_when_asked(
    store: SqliteStore, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    flow = Workflow(
        name="w",
        agents=(Agent(name="x"),),
        inputs={"docs": {"default": ["a", "b"]}},
        tasks=[
            Task(
                id="m",
                map=MapSpec(over="docs", task=Task(id="one", agent="x", instruction="{{ item }}")),
            )
        ],
    )
    result = await traced_run(store, provider, flow, ScriptedModel(["A", "B"]), record_content=True)
    assert result.ok
    spans = exporter.get_finished_spans()
    (run,) = named(spans, n.SPAN_RUN)
    (composite,) = task_spans(spans, "m")
    assert parent_of(composite) == run.context.span_id
    items = [s for s in named(spans, n.SPAN_TASK) if s is not composite]
    assert len(items) == 2
    assert all(parent_of(s) == composite.context.span_id for s in items)
    assert all(n.GEN_AI_OUTPUT_MESSAGES in (s.attributes or {}) for s in named(spans, n.SPAN_MODEL))


async def test_a_failed_run_marks_its_span_and_task_span_as_errors(
    store: SqliteStore, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    flow = Workflow(
        name="w", agents=(Agent(name="a"),), tasks=[Task(id="t", agent="a", instruction="x")]
    )
    bad = ModelError("refused", kind="invalid_request")
    result = await traced_run(store, provider, flow, ScriptedModel([bad]))
    assert result.status == "failed"
    spans = exporter.get_finished_spans()
    (run,) = named(spans, n.SPAN_RUN)
    (task,) = task_spans(spans, "t")
    assert run.status.status_code is StatusCode.ERROR
    assert task.status.status_code is StatusCode.ERROR
    assert "refused" in (task.status.description or "")


def test_without_an_sdk_provider_there_is_no_tracer_subscriber() -> None:
    assert tracer_subscriber() is None  # the global provider is the API's default proxy


def test_with_an_sdk_provider_there_is_one(provider: TracerProvider) -> None:
    assert isinstance(tracer_subscriber(provider), RunTracer)


def _plan_log() -> list[Event]:
    """A plan task whose ``check`` step got a passage and found 1 of 3 claims unsupported."""
    step = GraphNode(
        id=TaskId("p/check"), kind="agent", agent="checker", needs=(), output="check",
        parent=TaskId("p"),
    )  # fmt: skip
    passage = {"id": "a.md#1", "document": "a.md", "title": "A", "text": "x", "score": 1.0}
    fields: list[tuple[type[Any], dict[str, Any]]] = [  # Any: event fields vary by kind
        (RunStarted, {"workflow": "w", "inputs": {}, "graph": ()}),
        (TaskStarted, {"task_id": "p", "agent": None}),
        (PlanRejected, {"task_id": "p", "revision": 1, "ask": 1, "problems": ("no agent 'z'",)}),
        (PlanRepaired, {"task_id": "p", "revision": 1, "repairs": ("dropped a cycle",)}),
        (PlanCreated, {"task_id": "p", "revision": 1, "steps": (step,), "plan": {}}),
        (SourcesRetrieved, {"task_id": "p/check", "query": "q", "passages": (passage,)}),
        (TaskStarted, {"task_id": "p/check", "agent": "checker", "iteration": 1}),
        *[
            (ClaimVerified, {"task_id": "p/check", "subject": "draft", "claim": f"claim {v}",
                             "verdict": v, "sources": ("a.md#1",), "evidence": "e"})
            for v in ("supported", "unsupported", "supported")
        ],
        (TaskSucceeded, {"task_id": "p/check", "agent": "checker", "iteration": 1}),
        (TaskSucceeded, {"task_id": "p", "agent": None}),
        (RunCompleted, {"status": "succeeded"}),
    ]  # fmt: skip
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    return [
        cls(seq=seq, run_id=RunId("r"), at=t0 + timedelta(seconds=seq), **values)
        for seq, (cls, values) in enumerate(fields, start=1)
    ]


def _events_of(span: ReadableSpan) -> dict[str, dict[str, object]]:
    return {e.name: dict(e.attributes or {}) for e in span.events}


def test_plans_sources_and_claims_are_span_events_on_their_task(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    tracer = RunTracer(provider.get_tracer("test"), record_content=False)
    for event in _plan_log():
        tracer(event)
    spans = exporter.get_finished_spans()

    (plan,) = task_spans(spans, "p")
    events = _events_of(plan)
    assert events["podium.plan_rejected"] == {
        "podium.plan.revision": 1,
        "podium.plan.ask": 1,
        "podium.plan.problems": ("no agent 'z'",),
    }
    assert events["podium.plan_repaired"]["podium.plan.repairs"] == ("dropped a cycle",)
    assert events["podium.plan_created"]["podium.plan.steps"] == 1
    assert (plan.attributes or {})["podium.plan.revision"] == 1

    (check,) = task_spans(spans, "p/check")
    assert plan.context is not None
    assert parent_of(check) == plan.context.span_id
    assert _events_of(check)["podium.sources_retrieved"] == {
        "podium.sources.count": 1,
        "podium.sources.ids": ("a.md#1",),
    }
    verdicts = [e for e in check.events if e.name == "podium.claim_verified"]
    assert [(e.attributes or {})["podium.claim.verdict"] for e in verdicts] == [
        "supported",
        "unsupported",
        "supported",
    ]
    assert all("podium.claim.text" not in (e.attributes or {}) for e in verdicts)
    attrs = check.attributes or {}
    assert (attrs["podium.claims.checked"], attrs["podium.claims.unsupported"]) == (3, 1)


def test_claim_text_and_evidence_are_recorded_only_when_asked(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    tracer = RunTracer(provider.get_tracer("test"), record_content=True)
    for event in _plan_log():
        tracer(event)
    (check,) = task_spans(exporter.get_finished_spans(), "p/check")
    first = next(e for e in check.events if e.name == "podium.claim_verified")
    assert (first.attributes or {})["podium.claim.text"] == "claim supported"
    assert (first.attributes or {})["podium.claim.evidence"] == "e"
