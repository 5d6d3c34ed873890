"""Metrics from run event logs: completion, latency, errors, hallucination, satisfaction, cost.

Everything here is a pure function of the events (the single source of truth): no counter is
kept anywhere else, so the numbers for any past window can be computed again from the store.
A run belongs to a window when it *started* in it (``[start, end)``); runs still going (or
waiting for a human) are counted as in progress and left out of the rates. Each metric is
defined in ``docs/metrics.md``.

Groups: per workflow a run counts whole; per agent (or model) only the task attempts, model
calls, costs, claims and task feedback of that agent (or model) count, while the run-level
numbers (completion, run feedback) come from the runs it took part in. A claim counts for the
agent and model that wrote the draft it is from, not for the verifier.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from typing import Final, Literal, assert_never

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

__all__ = [
    "ALL",
    "Attempt",
    "Call",
    "Claim",
    "GroupBy",
    "GroupMetrics",
    "Metrics",
    "MetricsReport",
    "RunFacts",
    "Window",
    "compute_metrics",
    "facts_of",
    "measure",
    "percentile",
    "trend",
]

GroupBy = Literal["workflow", "agent", "model"]
ALL: Final = "(all)"
"""The group name of the overall metrics."""
_FINISHED: Final = frozenset({"succeeded", "failed", "cancelled"})
_HUMAN_KINDS: Final = frozenset({"approval_requested", "approval_granted", "approval_denied"})


@dataclass(frozen=True, slots=True, kw_only=True)
class Window:
    """The runs that started in ``[start, end)``."""

    start: datetime
    end: datetime

    @classmethod
    def ending(cls, end: datetime, length: timedelta) -> Window:
        """The window of ``length`` that ends (exclusive) at ``end``."""
        return cls(start=end - length, end=end)

    def previous(self) -> Window:
        """The window of the same length just before this one."""
        return Window(start=self.start - (self.end - self.start), end=self.start)

    def holds(self, at: datetime) -> bool:
        """Whether ``at`` falls in the window."""
        return self.start <= at < self.end


@dataclass(frozen=True, slots=True, kw_only=True)
class Attempt:
    """One finished task attempt."""

    task_id: TaskId
    agent: str | None
    models: frozenset[str]
    """The models called during the attempt."""
    duration_s: float
    is_failed: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Call:
    """One model call."""

    agent: str
    model: str
    latency_s: float
    cost: float
    tokens: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Claim:
    """One claim a verifier checked against its sources (a ``claim_verified`` event)."""

    agent: str | None
    """The agent that wrote the draft the claim is from (the claim is charged to it)."""
    model: str | None
    """The model that wrote the draft."""
    is_supported: bool
    """False when the verdict was ``unsupported`` or ``contradicted``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RunFacts:
    """What the metrics need from one run's log, read once."""

    workflow: str
    started_at: datetime
    status: str
    is_intervened: bool
    """A human took part: the log holds an approval request or decision."""
    attempts: tuple[Attempt, ...] = ()
    calls: tuple[Call, ...] = ()
    feedback: tuple[tuple[TaskId | None, int], ...] = ()
    """``(task or None for the whole run, score)``."""
    claims: tuple[Claim, ...] = ()

    @property
    def is_finished(self) -> bool:
        """Whether the run ended (succeeded, failed or cancelled); waiting is not an end."""
        return self.status in _FINISHED


@dataclass(frozen=True, slots=True, kw_only=True)
class Metrics:
    """The metrics of one group of runs. Rates are None when nothing was there to count."""

    runs: int = 0
    finished: int = 0
    in_progress: int = 0
    completed: int = 0
    """Finished runs that succeeded with no human intervention."""
    completion_rate: float | None = None
    task_attempts: int = 0
    failed_attempts: int = 0
    error_rate: float | None = None
    task_p50_s: float | None = None
    task_p95_s: float | None = None
    model_calls: int = 0
    call_p50_s: float | None = None
    call_p95_s: float | None = None
    claims_checked: int = 0
    unsupported_claims: int = 0
    hallucination_rate: float | None = None
    """None ("n/a") while no claim was checked."""
    feedback_count: int = 0
    satisfaction: float | None = None
    """Mean feedback score, 1 to 5."""
    cost_total: float = 0.0
    cost_mean: float | None = None
    """Cost per run (``cost_total / runs``)."""
    tokens_total: int = 0
    tokens_mean: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupMetrics:
    """A group's metrics in the window, in the window before, and the change."""

    group: str
    current: Metrics
    previous: Metrics
    trend: Mapping[str, float | None] = field(default_factory=dict[str, float | None])
    """``current - previous`` per numeric metric; None where either side is None."""


@dataclass(frozen=True, slots=True, kw_only=True)
class MetricsReport:
    """``podium metrics``: the overall metrics and each group's, with trends."""

    window: Window
    previous: Window
    by: GroupBy
    overall: GroupMetrics
    groups: tuple[GroupMetrics, ...]


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-quantile (0..1) by linear interpolation between closest ranks; None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _mean(total: float, count: int) -> float | None:
    return total / count if count else None


def facts_of(events: Sequence[Event]) -> RunFacts | None:
    """Read one run's log into ``RunFacts``; None without ``run_started`` or for a replay."""
    start = next((e for e in events if isinstance(e, RunStarted)), None)
    if start is None or start.replay_of is not None:
        return None  # not a run, or a replay (it re-executes a run already counted)
    facts = _Facts()
    for event in events:
        facts.add(event)
    return RunFacts(
        workflow=start.workflow,
        started_at=start.at,
        status=facts.status,
        is_intervened=any(e.kind in _HUMAN_KINDS for e in events),
        attempts=tuple(facts.attempts),
        calls=tuple(facts.calls),
        feedback=tuple(facts.feedback),
        claims=tuple(c for c in map(_claim_of, events) if c is not None),
    )


@dataclass(slots=True)
class _Facts:
    """What ``facts_of`` gathers from a log, event by event."""

    status: str = "running"
    open_attempts: dict[TaskId, tuple[TaskStarted, set[str]]] = field(
        default_factory=dict[TaskId, tuple[TaskStarted, set[str]]]
    )
    attempts: list[Attempt] = field(default_factory=list[Attempt])
    calls: list[Call] = field(default_factory=list[Call])
    feedback: list[tuple[TaskId | None, int]] = field(
        default_factory=list[tuple[TaskId | None, int]]
    )

    def add(self, event: Event) -> None:
        match event:
            case TaskStarted():
                self.open_attempts[event.task_id] = (event, set())
            case TaskSucceeded() | TaskFailed():
                opened = self.open_attempts.pop(event.task_id, None)
                if opened is not None:
                    self.attempts.append(_attempt(opened, event))
            case ModelCalled():
                self.calls.append(_call(event))
                if event.task_id in self.open_attempts:
                    self.open_attempts[event.task_id][1].add(event.model)
            case RunCompleted():
                self.status = event.status
            case RunResumed():
                self.status = "running"
            case FeedbackRecorded():
                self.feedback.append((event.task_id, event.score))
            case (
                RunStarted()
                | ToolCalled()
                | OutputRejected()
                | ContextWritten()
                | TaskRetried()
                | TaskSkipped()
                | RouteChosen()
                | MapExpanded()
                | LoopIterated()
                | TaskRerouted()
                | CircuitChanged()
                | BudgetExceeded()
                | ApprovalRequested()
                | ApprovalGranted()
                | ApprovalDenied()
                | AgentChosen()
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
                pass  # not a fact any metric counts
            case _:
                assert_never(event)


def _attempt(opened: tuple[TaskStarted, set[str]], end: TaskSucceeded | TaskFailed) -> Attempt:
    start, models = opened
    return Attempt(
        task_id=start.task_id,
        agent=start.agent,
        models=frozenset(models),
        duration_s=max((end.at - start.at).total_seconds(), 0.0),
        is_failed=isinstance(end, TaskFailed),
    )


def _call(event: ModelCalled) -> Call:
    return Call(
        agent=event.agent,
        model=event.model,
        latency_s=event.latency_s,
        cost=event.cost,
        tokens=event.input_tokens + event.output_tokens,
    )


def _claim_of(event: Event) -> Claim | None:
    """The claim a ``claim_verified`` event checked; None for any other event."""
    if not isinstance(event, ClaimVerified):
        return None
    return Claim(agent=event.agent, model=event.model, is_supported=event.verdict == "supported")


def measure(runs: Sequence[RunFacts]) -> Metrics:
    """The metrics of whole runs (the overall and per-workflow view)."""
    return _measure(runs, _Scope())


@dataclass(frozen=True, slots=True, kw_only=True)
class _Scope:
    """Which parts of a run count for a group (all of them by default)."""

    attempt: Callable[[Attempt], bool] = lambda _: True
    call: Callable[[Call], bool] = lambda _: True
    claim: Callable[[Claim], bool] = lambda _: True
    task_feedback: Callable[[RunFacts, TaskId], bool] = lambda _run, _task: True


def _measure(runs: Sequence[RunFacts], scope: _Scope) -> Metrics:
    finished = [r for r in runs if r.is_finished]
    completed = sum(1 for r in finished if r.status == "succeeded" and not r.is_intervened)
    attempts = [a for r in runs for a in r.attempts if scope.attempt(a)]
    failed = sum(1 for a in attempts if a.is_failed)
    calls = [c for r in runs for c in r.calls if scope.call(c)]
    claims = [c for r in runs for c in r.claims if scope.claim(c)]
    unsupported = sum(1 for c in claims if not c.is_supported)
    scores = [
        score
        for r in runs
        for task, score in r.feedback
        if task is None or scope.task_feedback(r, task)
    ]
    cost = sum(c.cost for c in calls)
    tokens = sum(c.tokens for c in calls)
    durations = [a.duration_s for a in attempts]
    latencies = [c.latency_s for c in calls]
    return Metrics(
        runs=len(runs),
        finished=len(finished),
        in_progress=len(runs) - len(finished),
        completed=completed,
        completion_rate=_rate(completed, len(finished)),
        task_attempts=len(attempts),
        failed_attempts=failed,
        error_rate=_rate(failed, len(attempts)),
        task_p50_s=percentile(durations, 0.5),
        task_p95_s=percentile(durations, 0.95),
        model_calls=len(calls),
        call_p50_s=percentile(latencies, 0.5),
        call_p95_s=percentile(latencies, 0.95),
        claims_checked=len(claims),
        unsupported_claims=unsupported,
        hallucination_rate=_rate(unsupported, len(claims)),
        feedback_count=len(scores),
        satisfaction=_mean(sum(scores), len(scores)),
        cost_total=cost,
        cost_mean=_mean(cost, len(runs)),
        tokens_total=tokens,
        tokens_mean=_mean(tokens, len(runs)),
    )


def _keys(run: RunFacts, by: GroupBy) -> set[str]:
    if by == "workflow":
        return {run.workflow}
    if by == "agent":
        agents = {a.agent for a in run.attempts} | {c.agent for c in run.calls}
        return {a for a in agents | {c.agent for c in run.claims} if a}
    models = {c.model for c in run.claims if c.model}
    return {c.model for c in run.calls} | models


def _scope(by: GroupBy, key: str) -> _Scope:
    if by == "workflow":
        return _Scope()
    if by == "agent":
        return _Scope(
            attempt=lambda a: a.agent == key,
            call=lambda c: c.agent == key,
            claim=lambda c: c.agent == key,
            task_feedback=lambda r, t: any(a.agent == key for a in r.attempts if a.task_id == t),
        )
    return _Scope(
        attempt=lambda a: key in a.models,
        call=lambda c: c.model == key,
        claim=lambda c: c.model == key,
        task_feedback=lambda r, t: any(key in a.models for a in r.attempts if a.task_id == t),
    )


def trend(current: Metrics, previous: Metrics) -> dict[str, float | None]:
    """``current - previous`` for each metric; None where either is None."""
    deltas: dict[str, float | None] = {}
    for f in fields(Metrics):
        now, before = getattr(current, f.name), getattr(previous, f.name)
        deltas[f.name] = None if now is None or before is None else now - before
    return deltas


def _group(
    key: str, runs: Sequence[RunFacts], before: Sequence[RunFacts], scope: _Scope
) -> GroupMetrics:
    current, previous = _measure(runs, scope), _measure(before, scope)
    return GroupMetrics(
        group=key, current=current, previous=previous, trend=trend(current, previous)
    )


def compute_metrics(
    logs: Iterable[Sequence[Event]], *, window: Window, by: GroupBy = "workflow"
) -> MetricsReport:
    """The metrics of the runs that started in ``window``, grouped ``by``, with trends.

    Args:
        logs: each run's events (runs outside both windows are ignored).
        window: the runs counted; the trend compares with the window of the same length before.
        by: group per workflow, per agent or per model.

    Returns:
        The overall metrics and each group's (sorted by name), each against the window before.
    """
    earlier = window.previous()
    facts = [f for f in map(facts_of, logs) if f is not None]
    runs = [f for f in facts if window.holds(f.started_at)]
    before = [f for f in facts if earlier.holds(f.started_at)]
    keys = sorted(set[str]().union(*(_keys(r, by) for r in runs)))
    groups = tuple(
        _group(
            key,
            [r for r in runs if key in _keys(r, by)],
            [r for r in before if key in _keys(r, by)],
            _scope(by, key),
        )
        for key in keys
    )
    overall = _group(ALL, runs, before, _Scope())
    return MetricsReport(window=window, previous=earlier, by=by, overall=overall, groups=groups)
