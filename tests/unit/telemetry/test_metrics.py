"""Metrics from prepared event logs on a fixed timeline, with answers worked out by hand."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from podium.event import (
    ApprovalGranted,
    ApprovalRequested,
    ClaimVerified,
    Event,
    FeedbackRecorded,
    ModelCalled,
    RunCompleted,
    RunStarted,
    TaskFailed,
    TaskStarted,
    TaskSucceeded,
)
from podium.ids import RunId, TaskId
from podium.telemetry.metrics import Window, compute_metrics, percentile

T0 = datetime(2026, 1, 8, tzinfo=UTC)
WEEK = Window(start=T0, end=T0 + timedelta(days=7))


class Log:
    """Builds one run's events on a timeline counted in seconds from ``start``."""

    def __init__(self, run: str, workflow: str, start: datetime) -> None:
        self.run_id, self.start = RunId(run), start
        self.events: list[Event] = []
        self.add(RunStarted, 0, workflow=workflow, inputs={}, graph=())

    def add(self, kind: type[Event], t: float, **fields: object) -> Log:
        at = self.start + timedelta(seconds=t)
        seq = len(self.events) + 1
        self.events.append(kind(seq=seq, run_id=self.run_id, at=at, **fields))  # type: ignore[arg-type]  # test builder
        return self

    def task(
        self, task: str, agent: str, t: float, *, took: float, ok: bool = True, attempt: int = 1
    ) -> Log:
        self.add(TaskStarted, t, task_id=TaskId(task), agent=agent, attempt=attempt)
        if ok:
            return self.add(
                TaskSucceeded, t + took, task_id=TaskId(task), agent=agent, attempt=attempt
            )
        return self.add(
            TaskFailed,
            t + took,
            task_id=TaskId(task),
            agent=agent,
            attempt=attempt,
            error_type="ModelError",
            message="boom",
        )

    def call(
        self, task: str, agent: str, t: float, *, model: str, latency: float, cost: float
    ) -> Log:
        return self.add(
            ModelCalled,
            t,
            task_id=TaskId(task),
            agent=agent,
            model=model,
            input_tokens=100,
            output_tokens=50,
            latency_s=latency,
            cost=cost,
        )

    def claims(self, t: float, *verdicts: str, agent: str | None, model: str | None) -> Log:
        """``verdicts``: ``s`` supported, ``u`` unsupported, ``c`` contradicted."""
        names = {"s": "supported", "u": "unsupported", "c": "contradicted"}
        for i, verdict in enumerate(verdicts):
            self.add(
                ClaimVerified,
                t + i,
                task_id=TaskId("check"),
                subject="draft",
                claim=f"claim {i}",
                verdict=names[verdict],
                agent=agent,
                model=model,
            )
        return self

    def end(self, status: str, t: float) -> Sequence[Event]:
        self.add(RunCompleted, t, status=status)
        return self.events


def succeeded_run(run: str, start: datetime, *, took: float = 2.0, cost: float = 0.01) -> Log:
    log = Log(run, "report", start)
    log.task("a", "writer", 0, took=1.0)
    log.call("a", "writer", 0.5, model="m1", latency=0.5, cost=cost)
    log.task("b", "reviewer", 1, took=took)
    return log.call("b", "reviewer", 1.5, model="m2", latency=1.0, cost=cost)


@pytest.fixture
def logs() -> list[Sequence[Event]]:
    """Four runs in the week, one in the week before, one after."""
    r1 = succeeded_run("r1", T0 + timedelta(days=1)).end("succeeded", 10)
    r2 = succeeded_run("r2", T0 + timedelta(days=2), took=4.0, cost=0.03)
    r2.add(FeedbackRecorded, 20, score=4)
    r2.add(FeedbackRecorded, 21, score=2, task_id=TaskId("b"))
    r3 = Log("r3", "report", T0 + timedelta(days=3))
    r3.task("a", "writer", 0, took=1.0, ok=False)
    r3.task("a", "writer", 2, took=3.0, attempt=2)
    r3.add(ApprovalRequested, 6, task_id=TaskId("a"), agent="writer")
    r3.add(ApprovalGranted, 7, task_id=TaskId("a"), by="ann")
    going = Log("r4", "triage", T0 + timedelta(days=6, hours=23))
    going.task("t", "triager", 0, took=8.0, ok=False)
    before = succeeded_run("r0", T0 - timedelta(days=3)).end("failed", 10)
    after = succeeded_run("r9", WEEK.end).end("succeeded", 10)
    return [r1, r2.end("succeeded", 30), r3.end("succeeded", 10), going.events, before, after]


def test_percentile_interpolates_between_closest_ranks() -> None:
    assert percentile([], 0.5) is None
    assert percentile([3.0], 0.95) == 3.0
    assert percentile([4.0, 1.0, 3.0, 2.0], 0.5) == 2.5
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 0.95) == pytest.approx(4.8)


def test_overall_metrics(logs: list[Sequence[Event]]) -> None:
    m = compute_metrics(logs, window=WEEK).overall.current
    assert (m.runs, m.finished, m.in_progress) == (4, 3, 1)
    # r3 succeeded only after a human approved: not a completion
    assert (m.completed, m.completion_rate) == (2, pytest.approx(2 / 3))
    # attempts: r1 a,b; r2 a,b; r3 a (failed), a; r4 t (failed)
    assert (m.task_attempts, m.failed_attempts, m.error_rate) == (7, 2, pytest.approx(2 / 7))
    # durations 1, 2, 1, 4, 1, 3, 8 -> sorted 1 1 1 2 3 4 8
    assert m.task_p50_s == 2.0
    assert m.task_p95_s == pytest.approx(4 + 0.7 * 4)
    assert (m.model_calls, m.call_p50_s, m.call_p95_s) == (4, 0.75, pytest.approx(1.0))
    assert (m.feedback_count, m.satisfaction) == (2, 3.0)
    assert m.cost_total == pytest.approx(0.08)
    assert m.cost_mean == pytest.approx(0.02)
    assert (m.tokens_total, m.tokens_mean) == (600, 150)
    assert (m.claims_checked, m.hallucination_rate) == (0, None)


def test_cost_and_completion_per_workflow(logs: list[Sequence[Event]]) -> None:
    groups = {g.group: g.current for g in compute_metrics(logs, window=WEEK).groups}
    assert sorted(groups) == ["report", "triage"]
    report, triage = groups["report"], groups["triage"]
    assert (report.runs, report.completion_rate) == (3, pytest.approx(2 / 3))
    assert report.cost_total == pytest.approx(0.08)
    assert report.cost_mean == pytest.approx(0.08 / 3)
    assert (triage.runs, triage.finished, triage.in_progress) == (1, 0, 1)
    assert (triage.completion_rate, triage.error_rate, triage.cost_mean) == (None, 1.0, 0.0)


def test_per_agent_counts_only_its_own_work(logs: list[Sequence[Event]]) -> None:
    groups = {g.group: g.current for g in compute_metrics(logs, window=WEEK, by="agent").groups}
    assert sorted(groups) == ["reviewer", "triager", "writer"]
    reviewer = groups["reviewer"]
    assert (reviewer.runs, reviewer.task_attempts, reviewer.task_p50_s) == (2, 2, 3.0)
    # run feedback (4) and feedback on its task b (2)
    assert reviewer.satisfaction == 3.0
    assert groups["writer"].satisfaction == 4.0
    assert groups["writer"].error_rate == pytest.approx(1 / 4)


def test_per_model_latency(logs: list[Sequence[Event]]) -> None:
    groups = {g.group: g.current for g in compute_metrics(logs, window=WEEK, by="model").groups}
    assert sorted(groups) == ["m1", "m2"]
    assert (groups["m1"].call_p50_s, groups["m2"].call_p95_s) == (0.5, 1.0)
    assert groups["m2"].cost_total == pytest.approx(0.04)


def test_trend_against_the_window_before(logs: list[Sequence[Event]]) -> None:
    overall = compute_metrics(logs, window=WEEK).overall
    assert overall.previous.runs == 1
    assert overall.previous.completion_rate == 0.0
    assert overall.trend["completion_rate"] == pytest.approx(2 / 3)
    assert overall.trend["runs"] == 3
    assert overall.trend["satisfaction"] is None  # no feedback the week before
    assert overall.trend["cost_total"] == pytest.approx(0.06)


def test_no_runs() -> None:
    report = compute_metrics([], window=WEEK)
    m = report.overall.current
    assert (m.runs, m.finished, m.in_progress, report.groups) == (0, 0, 0, ())
    assert (m.completion_rate, m.error_rate, m.task_p50_s, m.satisfaction) == (None,) * 4
    assert (m.cost_total, m.cost_mean) == (0.0, None)
    assert report.overall.trend["completion_rate"] is None


def test_all_failed() -> None:
    failed = [
        Log(f"f{i}", "report", T0 + timedelta(hours=i))
        .task("a", "w", 0, took=1, ok=False)
        .end("failed", 2)
        for i in range(3)
    ]
    m = compute_metrics(failed, window=WEEK).overall.current
    assert (m.finished, m.completed, m.completion_rate, m.error_rate) == (3, 0, 0.0, 1.0)


def test_runs_still_going_or_waiting_are_in_progress_not_in_rates() -> None:
    running = Log("g1", "report", T0).task("a", "w", 0, took=1).events
    waiting = Log("g2", "report", T0).end("waiting", 5)
    m = compute_metrics([running, waiting], window=WEEK).overall.current
    assert (m.runs, m.finished, m.in_progress, m.completion_rate) == (2, 0, 2, None)
    assert m.task_attempts == 1  # finished attempts still count


def test_a_log_without_run_started_is_ignored() -> None:
    log = Log("x", "report", T0)
    assert compute_metrics([log.events[1:]], window=WEEK).overall.current.runs == 0


@pytest.fixture
def checked() -> list[Sequence[Event]]:
    """Eight claims checked in the week, three not supported; two more the week before.

    writer on m1: s u s (1 of 3); writer on m2: c s (1 of 2); editor on m2: s s u (1 of 3).
    """
    r1 = succeeded_run("c1", T0 + timedelta(days=1))
    r1.claims(5, "s", "u", "s", agent="writer", model="m1")
    r1.claims(8, "c", "s", agent="writer", model="m2")
    r2 = Log("c2", "essay", T0 + timedelta(days=2)).task("d", "editor", 0, took=1.0)
    r2.call("d", "editor", 0.5, model="m2", latency=0.5, cost=0.01)
    r2.claims(2, "s", "s", "u", agent="editor", model="m2")
    before = Log("c0", "essay", T0 - timedelta(days=1)).claims(1, "u", "s", agent="x", model="m9")
    return [r1.end("succeeded", 20), r2.end("succeeded", 10), before.end("succeeded", 5)]


def test_hallucination_rate_overall_and_its_trend(checked: list[Sequence[Event]]) -> None:
    overall = compute_metrics(checked, window=WEEK).overall
    m = overall.current
    assert (m.claims_checked, m.unsupported_claims, m.hallucination_rate) == (8, 3, 0.375)
    assert overall.previous.hallucination_rate == 0.5
    assert overall.trend["hallucination_rate"] == pytest.approx(-0.125)
    groups = {g.group: g.current for g in compute_metrics(checked, window=WEEK).groups}
    assert groups["report"].hallucination_rate == pytest.approx(2 / 5)
    assert groups["essay"].hallucination_rate == pytest.approx(1 / 3)


def test_hallucination_rate_is_charged_to_the_agent_and_model_that_wrote_the_draft(
    checked: list[Sequence[Event]],
) -> None:
    by_agent = {
        g.group: g.current for g in compute_metrics(checked, window=WEEK, by="agent").groups
    }
    assert (by_agent["writer"].claims_checked, by_agent["writer"].unsupported_claims) == (5, 2)
    assert by_agent["writer"].hallucination_rate == pytest.approx(0.4)
    assert by_agent["editor"].hallucination_rate == pytest.approx(1 / 3)
    assert by_agent["reviewer"].hallucination_rate is None  # it wrote no checked draft
    by_model = {
        g.group: g.current for g in compute_metrics(checked, window=WEEK, by="model").groups
    }
    assert sorted(by_model) == ["m1", "m2"]
    assert by_model["m1"].hallucination_rate == pytest.approx(1 / 3)
    assert (by_model["m2"].claims_checked, by_model["m2"].hallucination_rate) == (5, 0.4)


def test_a_claim_of_a_draft_by_no_known_agent_counts_only_overall() -> None:
    log = Log("n1", "report", T0).claims(1, "u", agent=None, model=None).end("succeeded", 5)
    report = compute_metrics([log], window=WEEK, by="agent")
    assert report.overall.current.hallucination_rate == 1.0
    assert report.groups == ()


def test_an_agent_with_claims_but_no_task_of_its_own_still_has_a_group() -> None:
    log = Log("n2", "report", T0).claims(1, "s", "u", agent="writer", model="m1")
    events = log.end("succeeded", 5)
    by_agent = compute_metrics([events], window=WEEK, by="agent").groups
    assert [(g.group, g.current.hallucination_rate) for g in by_agent] == [("writer", 0.5)]
    by_model = compute_metrics([events], window=WEEK, by="model").groups
    assert [(g.group, g.current.hallucination_rate) for g in by_model] == [("m1", 0.5)]
