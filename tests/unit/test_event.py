"""Events: dump -> load identity, schema versions, and the released fixture logs.

Each released ``SCHEMA_VERSION`` has a fixture log, ``tests/fixtures/events-v<N>.jsonl``, that
must stay loadable: never rewrite one. When the version goes up, write the new one from
``sample_events`` (one event of every kind), from the repository root::

    from pathlib import Path
    from podium.event import SCHEMA_VERSION, dump_event
    from podium.ids import RunId
    from podium.testing import sample_events

    events = sample_events(RunId("c41d8e07f5b2"))  # any new run id
    lines = b"".join(dump_event(e) + b"\n" for e in events)
    Path(f"tests/fixtures/events-v{SCHEMA_VERSION}.jsonl").write_bytes(lines)
"""

from __future__ import annotations

import math
from dataclasses import fields, replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import get_args

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import JsonValue

from podium.errors import StoreError
from podium.event import (
    SCHEMA_VERSION,
    ContextWritten,
    Event,
    EventAdapter,
    ModelCalled,
    TaskFailed,
    TaskRetried,
    TaskSucceeded,
    check_schema_version,
    dump_event,
    load_event,
    recorded_write,
)
from podium.ids import RunId, TaskId
from podium.run import project
from podium.testing import sample_events

FIXTURES = Path(__file__).parent.parent / "fixtures"
RUN = RunId("r1")
T0 = datetime(2025, 1, 1, 9, 0, tzinfo=UTC)


def _all_kinds() -> set[str]:
    union = get_args(Event)[0]  # Event is Annotated[union, discriminator]
    return {str(f.default) for cls in get_args(union) for f in fields(cls) if f.name == "kind"}


def test_sample_events_hold_one_event_of_every_kind() -> None:
    events = sample_events(RUN)
    assert sorted(e.kind for e in events) == sorted(_all_kinds())
    assert len(_all_kinds()) == 32


@pytest.mark.parametrize("event", sample_events(RUN), ids=lambda e: e.kind)
def test_dump_then_load_is_identity_for_every_kind(event: Event) -> None:
    data = dump_event(event)
    assert isinstance(data, bytes)
    assert load_event(data) == event
    assert load_event(data.decode()) == event


@pytest.mark.parametrize("event", sample_events(RUN), ids=lambda e: e.kind)
def test_dump_event_writes_what_the_event_union_writes(event: Event) -> None:
    # dump_event serializes each kind on its own, for speed: the bytes must not change
    assert dump_event(event) == EventAdapter.dump_json(event)


@pytest.mark.parametrize("event", sample_events(RUN), ids=lambda e: e.kind)
def test_python_mode_round_trip_for_every_kind(event: Event) -> None:
    assert EventAdapter.validate_python(EventAdapter.dump_python(event, mode="json")) == event


def test_dumped_events_carry_their_kind_and_keep_non_ascii_text() -> None:
    succeeded = next(e for e in sample_events(RUN) if e.kind == "task_succeeded")
    data = dump_event(succeeded)
    assert data.startswith(b'{"kind":"task_succeeded"')
    assert "café ✓".encode() in data


def test_a_task_success_with_a_key_records_the_write_a_context_written_recorded() -> None:
    old = [load_event(line) for line in _fixture_lines(11)]  # separate context_written
    written = next(e for e in old if isinstance(e, ContextWritten))
    succeeded = next(e for e in old if isinstance(e, TaskSucceeded))
    assert recorded_write(written) is written
    assert recorded_write(succeeded) is None  # it records no write of its own

    one = replace(succeeded, seq=written.seq, at=written.at, key="notes", version=1)

    assert recorded_write(one) == written
    assert load_event(dump_event(one)) == one
    assert recorded_write(replace(one, key=None)) is None
    assert all(recorded_write(e) is None for e in old if e.kind not in _WRITING)


_WRITING = ("context_written", "task_succeeded")


def test_an_unknown_kind_does_not_load() -> None:
    with pytest.raises(ValueError, match="does not match any of the expected tags"):
        load_event(
            '{"kind": "task_exploded", "seq": 1, "run_id": "r1", "at": "2025-01-01T00:00:00Z"}'
        )


# -- schema versions ---------------------------------------------------------------------------


@pytest.mark.parametrize("version", [SCHEMA_VERSION, SCHEMA_VERSION - 1, 0])
def test_the_current_and_older_schema_versions_are_accepted(version: int) -> None:
    check_schema_version(version, where="run r1")  # no error


def test_a_newer_schema_version_fails_fast_saying_to_upgrade() -> None:
    newer = SCHEMA_VERSION + 1
    with pytest.raises(
        StoreError,
        match=(
            rf"^runs\.db was written with event schema version {newer}, but this podium reads "
            rf"up to version {SCHEMA_VERSION}: upgrade podium to read it$"
        ),
    ):
        check_schema_version(newer, where="runs.db")


# -- properties --------------------------------------------------------------------------------

_TEXT = st.text(max_size=60)
_MOMENTS = st.datetimes(
    min_value=datetime(1970, 1, 2),  # noqa: DTZ001 - hypothesis wants naive bounds
    max_value=datetime(2200, 1, 1),  # noqa: DTZ001
    timezones=st.builds(
        timezone, st.integers(-14 * 60, 14 * 60).map(lambda m: timedelta(minutes=m))
    ),
)
_JSON: st.SearchStrategy[JsonValue] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4),
    max_leaves=20,
)


@given(
    at=_MOMENTS,
    error_type=_TEXT,
    message=st.text(),
    retryable=st.booleans(),
    attempt=st.integers(1, 100),
    agent=st.none() | _TEXT,
)
def test_task_failed_round_trips_any_text(
    at: datetime, error_type: str, message: str, retryable: bool, attempt: int, agent: str | None
) -> None:
    event = TaskFailed(
        seq=3,
        run_id=RUN,
        at=at,
        task_id=TaskId("draft"),
        agent=agent,
        error_type=error_type,
        message=message,
        retryable=retryable,
        attempt=attempt,
    )
    loaded = load_event(dump_event(event))
    assert loaded == event
    assert loaded.at.utcoffset() == at.utcoffset()


@given(key=_TEXT, value=_JSON, version=st.integers(1, 10_000), task=st.none() | _TEXT)
def test_context_written_round_trips_any_json_value(
    key: str, value: JsonValue, version: int, task: str | None
) -> None:
    event = ContextWritten(
        seq=7,
        run_id=RUN,
        at=T0,
        key=key,
        version=version,
        value=value,
        task_id=TaskId(task) if task is not None else None,
        agent="writer",
    )
    assert load_event(dump_event(event)) == event


def test_infinite_and_nan_costs_and_latencies_survive_a_round_trip() -> None:
    called = ModelCalled(
        seq=3,
        run_id=RUN,
        at=T0,
        task_id=TaskId("draft"),
        agent="writer",
        model="scripted",
        input_tokens=1,
        output_tokens=1,
        latency_s=math.inf,
        cost=math.nan,
    )
    retried = TaskRetried(
        seq=4, run_id=RUN, at=T0, task_id=TaskId("draft"), attempt=1, delay_s=-math.inf
    )

    loaded = load_event(dump_event(called))
    assert isinstance(loaded, ModelCalled)
    assert loaded.latency_s == math.inf
    assert math.isnan(loaded.cost)
    assert load_event(dump_event(retried)) == retried


# -- the released fixture logs -----------------------------------------------------------------


def _fixture_lines(version: int) -> list[str]:
    return (FIXTURES / f"events-v{version}.jsonl").read_text(encoding="utf-8").splitlines()


def test_a_fixture_log_exists_for_every_released_schema_version() -> None:
    for version in range(1, SCHEMA_VERSION + 1):
        assert (FIXTURES / f"events-v{version}.jsonl").is_file(), f"no fixture log for v{version}"


@pytest.mark.parametrize("version", range(1, SCHEMA_VERSION + 1))
def test_every_line_of_a_released_fixture_log_loads(version: int) -> None:
    check_schema_version(version, where=f"events-v{version}.jsonl")
    events = [load_event(line) for line in _fixture_lines(version)]

    assert events
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert len({e.run_id for e in events}) == 1


def test_the_current_fixture_log_holds_every_kind() -> None:
    events = [load_event(line) for line in _fixture_lines(SCHEMA_VERSION)]
    assert {e.kind for e in events} == _all_kinds()


def test_the_v1_fixture_log_reads_as_the_run_it_recorded() -> None:
    events = [load_event(line) for line in _fixture_lines(1)]
    state = project(events[0].run_id, events)

    assert state.run_id == "3f9c2a7e1b04"
    assert (state.workflow, state.goal, state.status) == ("report", "Explain tides", "failed")
    assert state.inputs == {"topic": "tides", "pages": 2}
    assert state.error == "task 'write' failed"
    assert {t.id: t.status for t in state.tasks.values()} == {
        "research": "succeeded",
        "write": "failed",
        "review": "skipped",
    }
    assert (state.input_tokens, state.output_tokens, state.cost) == (120, 30, 0.0015)
    assert state.writes[0].value == {
        "summary": "Tides follow the moon — café ✓",
        "sources": [1, 2.5, None, True],
    }
    assert state.started_at == datetime(2025, 1, 1, 9, 0, tzinfo=UTC)
    assert state.duration == timedelta(seconds=13)


@pytest.mark.parametrize("version", range(1, SCHEMA_VERSION + 1))
def test_every_released_fixture_log_projects(version: int) -> None:
    events = [load_event(line) for line in _fixture_lines(version)]
    state = project(events[0].run_id, events)

    assert (state.workflow, state.status) == ("report", "failed")
    assert state.last_seq == len(events)
    assert state.tasks[TaskId("research")].status == "succeeded"


@pytest.mark.parametrize("version", [11, 12])
def test_the_writes_of_a_fixture_log_are_its_context_written_and_task_succeeded_events(
    version: int,
) -> None:
    events = [load_event(line) for line in _fixture_lines(version)]
    state = project(events[0].run_id, events)

    writes = [(w.key, w.version, w.task_id, w.agent) for w in state.writes]
    if version == 11:  # the output's write was its own event
        assert writes == [("notes", 1, "research", "researcher")]
    else:  # the success of research records it; research also wrote sources
        assert writes == [("sources", 1, "research", None), ("notes", 1, "research", "researcher")]
    notes = state.writes[-1]
    assert notes.value == state.tasks[TaskId("research")].output
    assert notes.value == {
        "summary": "Tides follow the moon — café ✓",
        "sources": [1, 2.5, None, True],
    }


def test_the_v3_fixture_log_reads_as_the_run_it_recorded() -> None:
    events = [load_event(line) for line in _fixture_lines(3)]
    state = project(events[0].run_id, events)

    assert state.run_id == "c41d8e07f5b2"
    (plan,) = state.plans
    assert (plan.task_id, plan.revision, plan.reason, plan.is_created) == (
        "plan",
        1,
        "Explain tides",
        True,
    )
    assert [s.id for s in plan.steps] == ["plan/gather", "plan/check"]
    assert plan.repairs == ["step 'check' needed itself: dropped that need"]
    assert [r.problems for r in plan.rejections] == [("step 'draft': no agent 'poet' in the team",)]
    assert state.tasks[TaskId("plan/check")].status == "skipped"  # never ran; the run is over
    assert state.tasks[TaskId("plan/check")].agent == "checker"
    assert [n.id for n in state.graph][-2:] == ["plan/gather", "plan/check"]
    assert list(state.sources) == ["tides.md#2"]
    assert state.sources["tides.md#2"]["title"] == "Tides"
    assert [(c.claim, c.verdict, c.sources) for c in state.claims] == [
        ("Tides follow the moon", "supported", ("tides.md#2",))
    ]
    assert state.hallucination_rate == 0.0
