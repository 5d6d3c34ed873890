"""The contract every ``Store`` implementation passes, as a pytest mixin.

Subclass ``StoreContract`` in a test module and provide a ``store`` fixture that yields a fresh,
empty store of your implementation (and closes it); pytest then runs every contract test
against it::

    class TestSqliteStore(StoreContract):
        @pytest.fixture
        async def store(self) -> AsyncIterator[Store]:
            async with SqliteStore(":memory:") as store:
                yield store

The async tests need pytest-asyncio in auto mode (``asyncio_mode = "auto"``).
"""

from __future__ import annotations

import asyncio
from dataclasses import fields, replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Final, Literal, get_args

try:
    import pytest
except ImportError as exc:  # pragma: no cover - only without the test extra
    raise ImportError('the store contract needs pytest: pip install "podium[test]"') from exc

from pydantic import JsonValue

from podium.errors import AppendConflictError, StoreError
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
    GraphNode,
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
    RunStatus,
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
from podium.ids import RunId, TaskId
from podium.run import project, summarize
from podium.stores.base import Store

__all__ = ["SAMPLE_START", "StoreContract", "sample_events"]

SAMPLE_START: Final = datetime(2025, 1, 1, 9, 0, tzinfo=UTC)
"""When the runs built by ``sample_events`` start unless told otherwise."""

_RESEARCH, _WRITE, _REVIEW = TaskId("research"), TaskId("write"), TaskId("review")
_SEND: Final = TaskId("send")
_PLAN, _GATHER, _CHECK = TaskId("plan"), TaskId("plan/gather"), TaskId("plan/check")
_GRAPH: Final = (
    GraphNode(id=_RESEARCH, kind="agent", agent="researcher", needs=(), output="notes"),
    GraphNode(id=_WRITE, kind="loop", agent="writer", needs=(_RESEARCH,), output="draft"),
    GraphNode(id=_REVIEW, kind="agent", agent=None, needs=(_WRITE,), output="review"),
    GraphNode(id=_PLAN, kind="plan", agent=None, needs=(), output="plan"),
)
_STEPS: Final = (
    GraphNode(id=_GATHER, kind="agent", agent="researcher", needs=(), output="gather",
              parent=_PLAN),
    GraphNode(id=_CHECK, kind="agent", agent="checker", needs=(_GATHER,), output="check",
              parent=_PLAN),
)  # fmt: skip
_PLANNED: Final[JsonValue] = {
    "steps": [
        {"id": "gather", "agent": "researcher", "instruction": "Find why tides happen"},
        {"id": "check", "agent": "checker", "instruction": "Check the draft", "needs": ["gather"]},
    ]
}
_PASSAGE: Final[dict[str, JsonValue]] = {
    "id": "tides.md#2",
    "document": "tides.md",
    "title": "Tides",
    "text": "The moon's pull raises the sea on the side facing it — twice a day.",
    "score": 0.82,
}
_NOTES: Final[dict[str, JsonValue]] = {
    "summary": "Tides follow the moon — café ✓",  # non-ASCII text must survive the store
    "sources": [1, 2.5, None, True],
}


def sample_events(
    run_id: RunId,
    *,
    started_at: datetime = SAMPLE_START,
    status: Literal["succeeded", "failed", "cancelled"] = "failed",
) -> list[Event]:
    """One event of each of the 32 kinds: a small run's whole log, ``seq`` 1 to 32.

    The run has four tasks: ``research`` writes the passages it found to ``sources`` and
    succeeds (after a model call of 120 + 30 tokens and a tool call), its success recording
    the write of its output to ``notes``; ``write`` fails, ``review`` is skipped; the plan
    task ``plan`` gets its first plan after one rejected answer and one repair:
    ``plan/gather`` retrieves a passage and ``plan/check`` finds the writer's claim in the
    draft supported. The last event ends the run with ``status``.

    Args:
        run_id: the run the events belong to.
        started_at: the time of the first event; each next one is a second later.
        status: the status of the closing ``run_completed`` event.

    Returns:
        The events in ``seq`` order.
    """

    def at(seq: int) -> datetime:
        return started_at + timedelta(seconds=seq - 1)

    return [
        RunStarted(seq=1, run_id=run_id, at=at(1), workflow="report", goal="Explain tides",
                   inputs={"topic": "tides", "pages": 2}, graph=_GRAPH, output_key="review",
                   source="report.yaml", fingerprint="f00d", pid=4141,
                   host="worker-1"),
        TaskStarted(seq=2, run_id=run_id, at=at(2), task_id=_RESEARCH, agent="researcher"),
        ModelCalled(seq=3, run_id=run_id, at=at(3), task_id=_RESEARCH, agent="researcher",
                    model="scripted", input_tokens=120, output_tokens=30, latency_s=0.25,
                    cost=0.0015, response={"text": "draft notes", "tool_calls": []}),
        ToolCalled(seq=4, run_id=run_id, at=at(4), task_id=_RESEARCH, agent="researcher",
                   tool="search", arguments={"query": "tides"}, result=["moon", "sun"],
                   latency_s=0.1),
        OutputRejected(seq=5, run_id=run_id, at=at(5), task_id=_RESEARCH, agent="researcher",
                       repair=1, errors="summary: field required"),
        ContextWritten(seq=6, run_id=run_id, at=at(6), key="sources", version=1,
                       value={"tides.md#2": _PASSAGE}, task_id=_RESEARCH, agent=None),
        TaskSucceeded(seq=7, run_id=run_id, at=at(7), task_id=_RESEARCH, agent="researcher",
                      output=_NOTES, attempt=2, key="notes", version=1),
        RouteChosen(seq=8, run_id=run_id, at=at(8), task_id=_RESEARCH, choice=_WRITE,
                    reason="notes are complete"),
        MapExpanded(seq=9, run_id=run_id, at=at(9), task_id=_WRITE, items=2),
        LoopIterated(seq=10, run_id=run_id, at=at(10), task_id=_WRITE, iteration=1,
                     is_done=False, reason="too short", rank=[2, -1]),
        TaskFailed(seq=11, run_id=run_id, at=at(11), task_id=_WRITE, agent="writer",
                   error_type="ModelError", message="timed out", retryable=True),
        TaskRetried(seq=12, run_id=run_id, at=at(12), task_id=_WRITE, attempt=1, delay_s=0.5),
        TaskSkipped(seq=13, run_id=run_id, at=at(13), task_id=_REVIEW,
                    reason="need 'write' failed"),
        RunResumed(seq=14, run_id=run_id, at=at(14), pid=4242, host="worker-2",
                   fingerprint="f00d"),
        CircuitChanged(seq=15, run_id=run_id, at=at(15), target="model:openai:gpt-4o",
                       state="open", reason="5 failures in a row"),
        TaskRerouted(seq=16, run_id=run_id, at=at(16), task_id=_WRITE,
                     from_target="agent:writer", to_target="agent:editor", reason="circuit open"),
        ApprovalRequested(seq=17, run_id=run_id, at=at(17), task_id=_SEND, agent="editor",
                          output="a report", reason="sends an email"),
        ApprovalDenied(seq=18, run_id=run_id, at=at(18), task_id=_SEND, by="ana",
                       reason="too long"),
        ApprovalGranted(seq=19, run_id=run_id, at=at(19), task_id=_SEND, by="ana",
                        comment="fine now", is_edited=True, output="a shorter report"),
        BudgetExceeded(seq=20, run_id=run_id, at=at(20), scope="run", limit="tokens",
                       used=1200, allowed=1000, reason="1,200 tokens used of 1,000"),
        AgentChosen(seq=21, run_id=run_id, at=at(21), task_id=_REVIEW, capability="review",
                    agent="reviewer", reason="best record: 9/10 succeeded",
                    scores={"reviewer": 0.9, "critic": 0.6}),
        FeedbackRecorded(seq=22, run_id=run_id, at=at(22), score=4, comment="useful",
                         by="ana"),
        PlanRejected(seq=23, run_id=run_id, at=at(23), task_id=_PLAN, revision=1, ask=1,
                     problems=("step 'draft': no agent 'poet' in the team",)),
        PlanRepaired(seq=24, run_id=run_id, at=at(24), task_id=_PLAN, revision=1,
                     repairs=("step 'check' needed itself: dropped that need",)),
        PlanCreated(seq=25, run_id=run_id, at=at(25), task_id=_PLAN, revision=1, steps=_STEPS,
                    plan=_PLANNED, reason="Explain tides"),
        SourcesRetrieved(seq=26, run_id=run_id, at=at(26), task_id=_GATHER,
                         query="why do tides happen", passages=(_PASSAGE,),
                         skipped=({"document": "scan.pdf", "reason": "PdfReadError: EOF"},)),
        ClaimVerified(seq=27, run_id=run_id, at=at(27), task_id=_CHECK, subject="draft",
                      claim="Tides follow the moon", verdict="supported",
                      evidence="The moon's pull raises the sea", sources=("tides.md#2",),
                      agent="writer", model="scripted", iteration=1),
        ToolDenied(seq=28, run_id=run_id, at=at(28), task_id=_GATHER, agent="researcher",
                   tool="delete_all", arguments={}, reason="not one of its tools: search"),
        TaskCancelled(seq=29, run_id=run_id, at=at(29), task_id=_REVIEW,
                      reason="the join of 'write' was met"),
        SignalReceived(seq=30, run_id=run_id, at=at(30), name="payment", data={"paid": 12.5},
                       by="billing"),
        SignalAwaited(seq=31, run_id=run_id, at=at(31), task_id=_SEND, name="payment",
                      deadline=at(40)),
        RunCompleted(seq=32, run_id=run_id, at=at(32), status=status,
                     output=None if status == "failed" else "a report",
                     error="task 'write' failed" if status == "failed" else None),
    ]  # fmt: skip


class StoreContract:
    """Contract tests for a ``Store``; subclasses provide a ``store`` fixture (fresh, empty)."""

    async def test_round_trip_of_every_event_kind(self, store: Store) -> None:
        events = sample_events(RunId("r1"))
        assert {e.kind for e in events} == _all_kinds()
        await store.append(RunId("r1"), events)
        assert await store.read(RunId("r1")) == events

    async def test_appends_in_several_batches_continue_the_log(self, store: Store) -> None:
        events = sample_events(RunId("r1"))
        for start in range(0, len(events), 5):
            await store.append(RunId("r1"), events[start : start + 5])
        assert await store.read(RunId("r1")) == events

    async def test_read_after_seq(self, store: Store) -> None:
        events = sample_events(RunId("r1"))
        await store.append(RunId("r1"), events)
        assert await store.read(RunId("r1"), after_seq=10) == events[10:]
        assert await store.read(RunId("r1"), after_seq=len(events)) == []

    async def test_unknown_run_reads_empty(self, store: Store) -> None:
        await store.append(RunId("r1"), sample_events(RunId("r1")))
        assert await store.read(RunId("nope")) == []

    async def test_runs_are_independent(self, store: Store) -> None:
        first, second = sample_events(RunId("r1")), sample_events(RunId("r2"))
        await store.append(RunId("r1"), first[:3])
        await store.append(RunId("r2"), second)
        await store.append(RunId("r1"), first[3:])
        assert await store.read(RunId("r1")) == first
        assert await store.read(RunId("r2")) == second

    async def test_empty_append_stores_nothing(self, store: Store) -> None:
        await store.append(RunId("r1"), [])
        assert await store.read(RunId("r1")) == []

    async def test_first_seq_must_be_one(self, store: Store) -> None:
        events = sample_events(RunId("r1"))
        with pytest.raises(StoreError, match="run r1: expected seq 1, got 2"):
            await store.append(RunId("r1"), events[1:])
        assert await store.read(RunId("r1")) == []

    async def test_seq_gap_is_rejected_and_nothing_stored(self, store: Store) -> None:
        events = sample_events(RunId("r1"))
        await store.append(RunId("r1"), events[:2])
        with pytest.raises(StoreError, match="run r1: expected seq 3, got 4"):
            await store.append(RunId("r1"), events[3:5])
        assert await store.read(RunId("r1")) == events[:2]

    async def test_duplicate_seq_is_rejected(self, store: Store) -> None:
        events = sample_events(RunId("r1"))
        await store.append(RunId("r1"), events[:3])
        with pytest.raises(StoreError, match="run r1: expected seq 4, got 3"):
            await store.append(RunId("r1"), events[2:4])
        assert await store.read(RunId("r1")) == events[:3]

    async def test_a_batch_is_atomic(self, store: Store) -> None:
        events = sample_events(RunId("r1"))
        batch = [*events[:4], events[3]]  # valid until its last event repeats seq 4
        with pytest.raises(StoreError, match="run r1: expected seq 5, got 4"):
            await store.append(RunId("r1"), batch)
        assert await store.read(RunId("r1")) == []
        await store.append(RunId("r1"), events)
        assert await store.read(RunId("r1")) == events

    async def test_concurrent_appends_to_different_runs(self, store: Store) -> None:
        logs = {RunId(f"r{i}"): sample_events(RunId(f"r{i}")) for i in range(3)}

        async def write(run_id: RunId) -> None:
            for event in logs[run_id]:
                await store.append(run_id, [event])

        async with asyncio.TaskGroup() as tg:
            for run_id in logs:
                tg.create_task(write(run_id))
        for run_id, events in logs.items():
            assert await store.read(run_id) == events

    async def test_list_runs_newest_first_with_summaries(self, store: Store) -> None:
        hour = timedelta(hours=1)
        old = sample_events(RunId("old"), status="succeeded")
        new = sample_events(RunId("new"), started_at=SAMPLE_START + 2 * hour)
        mid = sample_events(RunId("mid"), started_at=SAMPLE_START + hour)[:-1]  # still running
        for events in (mid, old, new):
            await store.append(events[0].run_id, events)
        runs = await store.list_runs()
        assert [r.run_id for r in runs] == ["new", "mid", "old"]
        assert [r.status for r in runs] == ["failed", "running", "succeeded"]
        assert runs == [summarize(project(e[0].run_id, e)) for e in (new, mid, old)]
        first = runs[0]
        assert (first.workflow, first.goal) == ("report", "Explain tides")
        assert first.started_at == new[0].at
        assert (first.tasks_succeeded, first.tasks_failed, first.tokens) == (1, 1, 150)
        assert first.error == "task 'write' failed"
        assert [r.run_id for r in await store.list_runs(limit=2)] == ["new", "mid"]

    async def test_list_runs_by_id_prefix(self, store: Store) -> None:
        ids = ["abc1", "abc2", "abd", "ab", "a_c", "a%c", "été", "\U0010ffffz", "b"]
        for i, run_id in enumerate(ids):
            started = SAMPLE_START + timedelta(minutes=i)
            await store.append(RunId(run_id), sample_events(RunId(run_id), started_at=started))

        async def listed(prefix: str, limit: int = 50) -> list[str]:
            return [r.run_id for r in await store.list_runs(prefix=prefix, limit=limit)]

        assert await listed("abc") == ["abc2", "abc1"]
        assert await listed("ab") == ["ab", "abd", "abc2", "abc1"]
        assert await listed("ab", limit=1) == ["ab"]
        assert await listed("abc1") == ["abc1"]
        assert await listed("a_") == ["a_c"]  # _ and % are letters here, not patterns
        assert await listed("a%") == ["a%c"]
        assert await listed("é") == ["été"]
        assert await listed("\U0010ffff") == ["\U0010ffffz"]
        assert await listed("c") == []
        assert len(await listed("")) == len(ids)

    async def test_list_runs_by_start_time(self, store: Store) -> None:
        hour = timedelta(hours=1)
        for i in range(4):
            run_id = RunId(f"r{i}")
            await store.append(run_id, sample_events(run_id, started_at=SAMPLE_START + i * hour))

        async def listed(
            *, since: datetime | None = None, before: datetime | None = None
        ) -> list[str]:
            return [r.run_id for r in await store.list_runs(since=since, before=before)]

        assert await listed(since=SAMPLE_START + hour) == ["r3", "r2", "r1"]  # since: inclusive
        assert await listed(before=SAMPLE_START + hour) == ["r0"]  # before: exclusive
        assert await listed(since=SAMPLE_START + hour, before=SAMPLE_START + 3 * hour) == [
            "r2",
            "r1",
        ]
        naive = (SAMPLE_START + 2 * hour).replace(tzinfo=None)  # naive means UTC
        assert await listed(since=naive) == ["r3", "r2"]
        elsewhere = (SAMPLE_START + 2 * hour).astimezone(timezone(timedelta(hours=-5)))
        assert await listed(since=elsewhere) == ["r3", "r2"]
        assert await listed(since=SAMPLE_START + 9 * hour) == []

    async def test_list_runs_by_recorded_status(self, store: Store) -> None:
        for i, status in enumerate(("succeeded", "failed", "cancelled")):
            run_id = RunId(status)
            started = SAMPLE_START + timedelta(minutes=i)
            await store.append(run_id, sample_events(run_id, started_at=started, status=status))
        later = SAMPLE_START + timedelta(hours=1)
        await store.append(RunId("running"), sample_events(RunId("running"), started_at=later)[:-1])
        waiting = sample_events(RunId("waiting"), started_at=later + timedelta(minutes=1))
        await store.append(
            RunId("waiting"), [*waiting[:-1], replace(waiting[-1], status="waiting")]
        )

        async def listed(status: RunStatus) -> list[str]:
            return [r.run_id for r in await store.list_runs(status=status)]

        for status in ("succeeded", "failed", "cancelled", "running", "waiting"):
            assert await listed(status) == [status]
        last = len(sample_events(RunId("failed")))
        resumed = RunResumed(
            seq=last + 1, run_id=RunId("failed"), at=SAMPLE_START + timedelta(days=1)
        )
        await store.append(RunId("failed"), [resumed])  # a later append changes the status
        assert await listed("failed") == []
        assert await listed("running") == ["running", "failed"]
        done = RunCompleted(seq=last + 2, run_id=RunId("failed"), at=resumed.at, status="succeeded")
        await store.append(RunId("failed"), [done])
        assert await listed("succeeded") == ["failed", "succeeded"]
        assert await listed("running") == ["running"]

    async def test_list_runs_with_every_filter(self, store: Store) -> None:
        for i in range(6):
            run_id = RunId(f"{'ab'[i % 2]}{i}")
            started = SAMPLE_START + timedelta(hours=i)
            status = "succeeded" if i % 3 else "failed"
            await store.append(run_id, sample_events(run_id, started_at=started, status=status))
        runs = await store.list_runs(
            prefix="b",
            since=SAMPLE_START + timedelta(hours=1),
            before=SAMPLE_START + timedelta(hours=5),
            status="succeeded",
        )
        assert [r.run_id for r in runs] == ["b1"]  # b3 failed, b5 too late

    async def test_list_runs_of_an_empty_store(self, store: Store) -> None:
        assert await store.list_runs() == []

    async def test_delete_run_removes_its_log_and_listing(self, store: Store) -> None:
        kept, gone = sample_events(RunId("kept")), sample_events(RunId("gone"))
        await store.append(RunId("kept"), kept)
        await store.append(RunId("gone"), gone)
        assert await store.delete_run(RunId("gone")) is True
        assert await store.read(RunId("gone")) == []
        assert [r.run_id for r in await store.list_runs()] == ["kept"]
        assert await store.read(RunId("kept")) == kept

    async def test_delete_unknown_run_returns_false(self, store: Store) -> None:
        await store.append(RunId("r1"), sample_events(RunId("r1")))
        assert await store.delete_run(RunId("nope")) is False
        assert await store.delete_run(RunId("r1")) is True
        assert await store.delete_run(RunId("r1")) is False  # deleting twice is harmless

    async def test_delete_if_last_seq_keeps_a_log_that_grew(self, store: Store) -> None:
        events = sample_events(RunId("r1"))
        await store.append(RunId("r1"), events[:5])
        await store.append(RunId("r1"), events[5:6])  # resumed after the caller looked
        assert await store.delete_run(RunId("r1"), if_last_seq=5) is False
        assert await store.read(RunId("r1")) == events[:6]
        assert await store.delete_run(RunId("r1"), if_last_seq=6) is True
        assert await store.read(RunId("r1")) == []

    async def test_a_second_writer_of_a_run_gets_an_append_conflict(self, store: Store) -> None:
        events = sample_events(RunId("r1"))
        await store.append(RunId("r1"), events[:5])
        await store.append(RunId("r1"), events[5:6])
        with pytest.raises(AppendConflictError, match="run r1: expected seq 7, got 6"):
            await store.append(RunId("r1"), events[5:6])  # the loser read the log at seq 5
        assert await store.read(RunId("r1")) == events[:6]

    async def test_a_deleted_run_id_starts_a_new_log(self, store: Store) -> None:
        events = sample_events(RunId("r1"))
        await store.append(RunId("r1"), events[:5])
        await store.delete_run(RunId("r1"))
        with pytest.raises(StoreError, match="run r1: expected seq 1, got 6"):
            await store.append(RunId("r1"), events[5:])
        await store.append(RunId("r1"), events)
        assert await store.read(RunId("r1")) == events
        assert [r.run_id for r in await store.list_runs()] == ["r1"]

    async def test_delete_a_log_without_a_start_event(self, store: Store) -> None:
        """A log whose first event is not ``run_started`` is not listed, but can be deleted."""
        orphan = replace(sample_events(RunId("r1"))[1], seq=1)
        await store.append(RunId("r1"), [orphan])
        assert await store.list_runs() == []
        assert await store.delete_run(RunId("r1")) is True
        assert await store.read(RunId("r1")) == []

    async def test_aclose_twice(self, store: Store) -> None:
        await store.aclose()
        await store.aclose()


def _all_kinds() -> set[object]:
    """Every ``kind`` the ``Event`` union holds."""
    union = get_args(Event)[0]  # Event is Annotated[union, discriminator]
    return {f.default for cls in get_args(union) for f in fields(cls) if f.name == "kind"}
