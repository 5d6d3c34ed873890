"""Context: versions with provenance, write scopes, merge policies, read scopes, prompt views."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import JsonValue

from podium.agent import Agent
from podium.context import Context, Provenance, Version, estimate_tokens
from podium.errors import ConfigError, ContextAccessError
from podium.event import ContextWritten
from podium.ids import RunId, TaskId
from podium.workflow.model import KeySpec

RUN = RunId("run-1")
T0 = datetime(2025, 1, 1, 9, 0, tzinfo=UTC)

WRITER = Agent(name="writer", reads=("notes*", "topic"), writes=("draft", "notes_*"))
REVIEWER = Agent(name="reviewer", reads=("draft", "review"), writes=("review",))
RESEARCHER = Agent(name="researcher", writes=("notes",))


def _by(agent: str | None, task: str | None = None, *, second: int = 0) -> Provenance:
    return Provenance(
        run_id=RUN,
        task_id=TaskId(task) if task is not None else None,
        agent=agent,
        at=T0 + timedelta(seconds=second),
    )


def _write(
    context: Context,
    key: str,
    value: JsonValue,
    *,
    writer: Agent | None = None,
    second: int = 0,
) -> Version:
    """Stage and apply one write, as the engine does once the event is logged."""
    name = writer.name if writer else None
    version = context.stage(key, value, provenance=_by(name, name, second=second), writer=writer)
    context.apply(version)
    return version


# -- versions and provenance ------------------------------------------------------------------


def test_every_write_is_kept_as_a_version_with_its_provenance() -> None:
    context = Context(RUN)
    _write(context, "draft", "v1", writer=WRITER, second=1)
    _write(context, "draft", "v2", writer=WRITER, second=2)

    assert context.get("draft") == "v2"
    assert context.versions("draft") == (
        Version(key="draft", version=1, value="v1", provenance=_by("writer", "writer", second=1)),
        Version(key="draft", version=2, value="v2", provenance=_by("writer", "writer", second=2)),
    )
    latest = context.versions("draft")[-1].provenance
    assert (latest.run_id, latest.task_id, latest.agent, latest.at) == (
        RUN,
        "writer",
        "writer",
        T0 + timedelta(seconds=2),
    )


def test_a_missing_key_has_no_versions_and_reads_as_the_default() -> None:
    context = Context(RUN)
    assert "draft" not in context
    assert context.versions("draft") == ()
    assert context.get("draft") is None
    assert context.get("draft", "none yet") == "none yet"


def test_stage_computes_the_version_but_does_not_apply_it() -> None:
    context = Context(RUN)
    _write(context, "draft", "v1")
    staged = context.stage("draft", "v2", provenance=_by(None))

    assert (staged.version, staged.value) == (2, "v2")
    assert context.get("draft") == "v1"
    assert len(context.versions("draft")) == 1


def test_latest_lists_keys_in_the_order_they_were_last_written() -> None:
    context = Context(RUN)
    _write(context, "a", 1)
    _write(context, "b", 2)
    _write(context, "c", 3)
    _write(context, "a", 4)
    _write(context, "a", 5)

    assert context.latest() == {"b": 2, "c": 3, "a": 5}
    assert list(context.latest()) == ["b", "c", "a"]


# -- write scopes ------------------------------------------------------------------------------


def test_a_write_outside_the_writers_scope_is_refused_naming_agent_key_and_task() -> None:
    context = Context(RUN)
    _write(context, "review", {"approved": True}, writer=REVIEWER)

    with pytest.raises(
        ContextAccessError,
        match=r"agent 'writer' may not write context key 'review' \(task 'draft-1'\); "
        r"its writes scope allows: draft, notes_\*",
    ):
        context.stage(
            "review", {"approved": False}, provenance=_by("writer", "draft-1"), writer=WRITER
        )

    assert context.get("review") == {"approved": True}
    assert len(context.versions("review")) == 1
    assert context.latest() == {"review": {"approved": True}}


def test_a_refused_write_to_a_new_key_leaves_no_trace() -> None:
    context = Context(RUN)
    with pytest.raises(ContextAccessError, match="its writes scope allows: nothing"):
        context.stage(
            "draft", "x", provenance=_by("reader", "t"), writer=Agent(name="reader", writes=())
        )
    assert "draft" not in context
    assert context.latest() == {}


def test_write_scopes_are_glob_patterns() -> None:
    context = Context(RUN)
    version = context.stage("notes_web", "found", provenance=_by("writer"), writer=WRITER)
    assert version.value == "found"
    with pytest.raises(ContextAccessError, match="'notes'"):
        context.stage("notes", "x", provenance=_by("writer"), writer=WRITER)


def test_without_a_writer_any_key_may_be_written() -> None:
    context = Context(RUN)
    assert _write(context, "anything", 1).version == 1


# -- merge policies ----------------------------------------------------------------------------


def test_append_turns_the_first_write_into_a_one_item_list_and_grows_it() -> None:
    context = Context(RUN, {"findings": KeySpec(merge="append")})
    first = _write(context, "findings", {"source": "a"})
    _write(context, "findings", {"source": "b"})
    _write(context, "findings", ["c", "d"])

    assert first.value == [{"source": "a"}]
    assert context.get("findings") == [{"source": "a"}, {"source": "b"}, ["c", "d"]]
    assert [v.version for v in context.versions("findings")] == [1, 2, 3]


def test_a_reducer_combines_the_old_and_the_new_value() -> None:
    context = Context(RUN, {"total": KeySpec(merge="reducer", reducer="operator:add")})
    assert _write(context, "total", 3).value == 3  # the first write is taken as it is
    _write(context, "total", 4)
    _write(context, "total", 5)
    assert context.get("total") == 12
    assert [v.value for v in context.versions("total")] == [3, 7, 12]


def test_a_reducer_works_on_lists_too() -> None:
    context = Context(RUN, {"items": KeySpec(merge="reducer", reducer="operator:add")})
    _write(context, "items", [1])
    _write(context, "items", [2, 3])
    assert context.get("items") == [1, 2, 3]


@pytest.mark.parametrize("merge", ["last_writer_wins", "single"])
def test_last_writer_wins_and_single_keep_the_newest_value(
    merge: Literal["last_writer_wins", "single"],
) -> None:
    context = Context(RUN, {"status": KeySpec(merge=merge)})
    _write(context, "status", "drafting")
    _write(context, "status", {"phase": "review"})
    assert context.get("status") == {"phase": "review"}
    assert [v.value for v in context.versions("status")] == ["drafting", {"phase": "review"}]


def test_an_unimportable_reducer_is_a_config_error() -> None:
    with pytest.raises(
        ConfigError,
        match=r"context key 'total': reducer 'no_such_module_xyz:add' cannot be imported",
    ):
        Context(RUN, {"total": KeySpec(merge="reducer", reducer="no_such_module_xyz:add")})


def test_a_missing_reducer_function_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"reducer 'operator:no_such_fn' cannot be imported"):
        Context(RUN, {"total": KeySpec(merge="reducer", reducer="operator:no_such_fn")})


def test_a_reducer_that_is_not_callable_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"context key 'pi': reducer 'math:pi' is not callable"):
        Context(RUN, {"pi": KeySpec(merge="reducer", reducer="math:pi")})


# -- read scopes -------------------------------------------------------------------------------


def _filled() -> Context:
    context = Context(RUN)
    for key, value in [
        ("topic", "tides"),
        ("notes", "moon"),
        ("notes_web", "sun"),
        ("draft", "text"),
        ("review.score", 4),
        ("secret", "s3cr3t"),
    ]:
        _write(context, key, value)
    return context


def test_select_returns_the_named_keys_that_exist() -> None:
    context = _filled()
    assert context.select(["topic", "draft", "missing"]) == {"topic": "tides", "draft": "text"}


def test_select_keeps_only_keys_the_reader_may_read_by_glob() -> None:
    context = _filled()
    names = ["topic", "notes", "notes_web", "draft", "secret"]
    assert context.select(names, WRITER) == {"topic": "tides", "notes": "moon", "notes_web": "sun"}


def test_a_dotted_key_is_readable_through_its_root() -> None:
    context = _filled()
    assert context.select(["review.score", "draft"], REVIEWER) == {
        "review.score": 4,
        "draft": "text",
    }
    assert context.select(["review.score"], WRITER) == {}


def test_select_follows_the_order_of_names() -> None:
    context = _filled()
    assert list(context.select(["draft", "topic", "notes"])) == ["draft", "topic", "notes"]


# -- prompt views ------------------------------------------------------------------------------


def test_render_shows_each_key_with_version_and_author() -> None:
    context = Context(RUN)
    _write(context, "topic", "tides")
    _write(context, "notes", {"summary": "Tides follow the moon — café"}, writer=RESEARCHER)
    _write(context, "notes", {"summary": "v2"}, writer=RESEARCHER)

    view = context.render(max_tokens=1000)

    assert view.text == (
        '## topic (v1, by input)\ntides\n\n## notes (v2, by researcher)\n{\n "summary": "v2"\n}'
    )
    assert (view.omitted, view.truncated) == ((), ())
    assert view.tokens == estimate_tokens(view.text)


def test_render_keeps_non_ascii_text_as_is() -> None:
    context = Context(RUN)
    _write(context, "notes", ["café ✓"])
    assert "café ✓" in context.render(max_tokens=100).text


def test_render_leaves_out_the_oldest_keys_first_and_says_so() -> None:
    context = Context(RUN)
    for key in ["alpha", "beta", "gamma", "delta"]:
        _write(context, key, key * 20)  # each section costs about 25 tokens
    _write(context, "alpha", "alpha again " * 8)  # rewritten: now the newest

    view = context.render(max_tokens=90)

    assert view.omitted == ("beta", "gamma")
    assert view.truncated == ()
    assert "## delta" in view.text
    assert "## alpha (v2, by input)" in view.text
    assert "## beta" not in view.text
    assert "## gamma" not in view.text
    assert view.text.index("## delta") < view.text.index("## alpha")
    assert view.text.endswith(
        "[context trimmed to fit the prompt budget; left out older keys: beta, gamma]"
    )


def test_render_cuts_a_single_value_that_alone_is_too_long() -> None:
    context = Context(RUN)
    _write(context, "old", "x" * 50)
    _write(context, "essay", "word " * 400)

    view = context.render(max_tokens=50)

    assert view.truncated == ("essay",)
    assert view.omitted == ("old",)
    assert view.text.startswith("## essay (v1, by input)\nword word")
    assert "\n[...cut]\n\n" in view.text
    assert view.text.endswith(
        "[context trimmed to fit the prompt budget; left out older keys: old; cut to fit: essay]"
    )
    assert len(view.text) < len("word " * 400)


def test_render_respects_the_readers_scope() -> None:
    context = _filled()
    view = context.render(max_tokens=1000, reader=WRITER)
    assert [line for line in view.text.splitlines() if line.startswith("## ")] == [
        "## topic (v1, by input)",
        "## notes (v1, by input)",
        "## notes_web (v1, by input)",
    ]
    assert "s3cr3t" not in view.text
    assert view.omitted == ()  # unreadable keys are hidden, not reported as cut


def test_render_can_be_limited_to_some_keys() -> None:
    context = _filled()
    view = context.render(max_tokens=1000, keys=["draft", "secret"], reader=REVIEWER)
    assert view.text == "## draft (v1, by input)\ntext"


def test_render_of_an_empty_context_is_empty() -> None:
    assert Context(RUN).render(max_tokens=10).text == ""


def test_a_trimmed_view_stays_within_the_budget() -> None:
    context = Context(RUN)
    for key in ["alpha", "beta", "gamma"]:
        _write(context, key, key * 40)
    for max_tokens in (40, 60):
        view = context.render(max_tokens=max_tokens)
        assert view.omitted
        assert view.tokens <= max_tokens


_KEYS = st.sampled_from(["a", "b", "c", "d", "e"])


_VALUES = st.text(st.characters(blacklist_characters="#"), max_size=200)


@given(writes=st.lists(st.tuples(_KEYS, _VALUES), max_size=12))
def test_render_keeps_a_suffix_of_the_newest_keys(writes: list[tuple[str, str]]) -> None:
    context = Context(RUN)
    for key, value in writes:
        _write(context, key, value)
    order = list(context.latest())

    view = context.render(max_tokens=80)

    shown = [k for k in order if f"## {k} (" in view.text]
    assert shown == order[len(order) - len(shown) :]  # the newest keys, in order
    assert set(view.omitted) | set(view.truncated) | set(shown) == set(order)
    assert tuple(order[: len(view.omitted)]) == view.omitted  # the oldest ones were cut


# -- events ------------------------------------------------------------------------------------


def _written(key: str, version: int, value: JsonValue, *, seq: int = 1) -> ContextWritten:
    return ContextWritten(
        seq=seq,
        run_id=RUN,
        at=T0 + timedelta(seconds=seq),
        key=key,
        version=version,
        value=value,
        task_id=TaskId("sub/draft"),
        agent="writer",
    )


def test_apply_event_strips_the_namespace_and_keeps_provenance() -> None:
    context = Context(RUN, namespace="sub.")
    context.apply_event(_written("sub.draft", 1, "v1", seq=3))
    context.apply_event(_written("sub.draft", 2, "v2", seq=4))

    assert "sub.draft" not in context
    assert context.get("draft") == "v2"
    assert context.versions("draft")[0] == Version(
        key="draft",
        version=1,
        value="v1",
        provenance=Provenance(
            run_id=RUN, task_id=TaskId("sub/draft"), agent="writer", at=T0 + timedelta(seconds=3)
        ),
    )


def test_apply_event_takes_the_logged_value_without_merging_again() -> None:
    context = Context(RUN, {"findings": KeySpec(merge="append")})
    context.apply_event(_written("findings", 1, ["a"]))
    context.apply_event(_written("findings", 2, ["a", "b"], seq=2))
    assert context.get("findings") == ["a", "b"]
    assert context.stage("findings", "c", provenance=_by(None)).value == ["a", "b", "c"]
    assert context.stage("findings", "c", provenance=_by(None)).version == 3


def test_replaying_the_log_rebuilds_the_same_context() -> None:
    live = Context(RUN, {"total": KeySpec(merge="reducer", reducer="operator:add")})
    events: list[ContextWritten] = []
    for seq, (key, value) in enumerate([("total", 1), ("topic", "x"), ("total", 2)], start=1):
        version = live.stage(key, value, provenance=_by("writer", "t", second=seq))
        events.append(
            ContextWritten(
                seq=seq,
                run_id=RUN,
                at=version.provenance.at,
                key=key,
                version=version.version,
                value=version.value,
                task_id=TaskId("t"),
                agent="writer",
            )
        )
        live.apply(version)

    replayed = Context(RUN, {"total": KeySpec(merge="reducer", reducer="operator:add")})
    for event in events:
        replayed.apply_event(event)

    assert replayed.latest() == live.latest() == {"topic": "x", "total": 3}
    assert replayed.versions("total") == live.versions("total")
