"""The public facade: list, inspect, decide on, rate, resume, replay and cancel recorded runs.

Every test goes through ``podium.*`` only, against a real SQLite file, as a script or the
server would.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

import podium
from podium import Agent, ConfigError, ScriptedModel, SqliteStore, Task, Workflow
from podium.models.base import ToolCall
from podium.task import Approval
from podium.testing.clock import ManualClock

FLOW = Workflow(
    name="outreach",
    agents=[Agent(name="writer"), Agent(name="mailer", approval=Approval(reason="sends an email"))],
    tasks=[
        Task(id="draft", agent="writer", instruction="Write to the client"),
        Task(id="send", agent="mailer", instruction="Send {{ draft }}", needs=("draft",)),
    ],
)


def model() -> ScriptedModel:
    return ScriptedModel(lambda r: f"{r.caller.task_id if r.caller else '?'}: ok")


async def waiting_run(path: Path) -> podium.RunResult:
    result = await podium.arun(FLOW, model=model(), store=path)
    assert result.status == "waiting"
    return result


async def test_runs_are_listed_and_read_by_id_or_prefix(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    first = await podium.arun(FLOW, model=model(), store=path)

    (summary,) = await podium.list_runs(store=path)
    state = await podium.get_run(first.run_id[:8], store=path)

    assert summary.run_id == first.run_id == state.run_id
    assert summary.status == state.status == "waiting"
    assert set(state.approvals) == {"send"}
    with pytest.raises(podium.RunNotFoundError, match="no run matches 'zzz'"):
        await podium.get_run("zzz", store=path)


async def test_an_open_store_object_is_used_and_left_open(tmp_path: Path) -> None:
    async with SqliteStore(tmp_path / "runs.db") as store:
        done = await podium.arun(FLOW, model=model(), store=store)
        assert [s.run_id for s in await podium.list_runs(store=store)] == [done.run_id]
        assert (await podium.get_run(done.run_id, store=store)).run_id == done.run_id


async def test_approve_then_resume_writes_the_edited_output(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    waiting = await waiting_run(path)

    granted = await podium.approve(
        waiting.run_id, "send", output="Dear Ms. Lee", comment="nicer", by="ana", store=path
    )
    done = await podium.resume(waiting.run_id, FLOW, store=path)

    assert (granted.kind, granted.by, granted.is_edited) == ("approval_granted", "ana", True)
    assert done.ok
    assert done.context["send"] == "Dear Ms. Lee"


async def test_deny_then_resume_fails_the_task_with_the_reason(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    waiting = await waiting_run(path)

    denied = await podium.deny(waiting.run_id, "send", reason="not this week", store=path)
    done = await podium.resume(waiting.run_id, FLOW, store=path)

    assert denied.reason == "not this week"
    assert done.status == "failed"
    assert "not this week" in (done.tasks["send"].error or "")


async def test_a_task_not_waiting_cannot_be_approved(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    waiting = await waiting_run(path)
    with pytest.raises(podium.RunStateError, match=r"'draft' .* is not waiting for approval"):
        await podium.approve(waiting.run_id, "draft", store=path)


async def test_feedback_is_recorded_and_counted_in_the_metrics(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    waiting = await waiting_run(path)

    rating = await podium.feedback(waiting.run_id, 4, comment="good", by="ana", store=path)
    report = await podium.metrics(window=timedelta(days=1), store=path)

    assert (rating.score, rating.task_id) == (4, None)
    assert report.overall.current.runs == 1
    assert report.overall.current.feedback_count == 1
    with pytest.raises(ConfigError, match="score 6 is out of range"):
        await podium.feedback(waiting.run_id, 6, store=path)


async def test_cancel_records_a_stopped_run_cancelled_and_resume_continues_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / "runs.db"
    waiting = await waiting_run(path)

    cancelled = await podium.cancel(waiting.run_id, store=path)

    assert (cancelled.how, cancelled.is_cancelled) == ("recorded", True)
    assert (await podium.get_run(waiting.run_id, store=path)).status == "cancelled"
    with pytest.raises(podium.RunStateError, match="already ended cancelled"):
        await podium.cancel(waiting.run_id, store=path)


async def test_metrics_over_time_cut_the_window_into_spans(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    clock = ManualClock()
    await podium.arun(FLOW, model=model(), store=path, clock=clock)
    until = clock.now() + timedelta(hours=1)

    series = await podium.metrics_series(
        window=timedelta(hours=3), buckets=3, until=until, store=path
    )
    last = await podium.metrics(window=timedelta(hours=1), until=until, store=path)

    assert [r.overall.current.runs for r in series] == [0, 0, 1]
    assert [r.window.end for r in series] == [until - timedelta(hours=h) for h in (2, 1, 0)]
    assert series[-1] == last
    with pytest.raises(ConfigError, match="buckets=0"):
        await podium.metrics_series(buckets=0, store=path)


async def test_resume_judges_approval_deadlines_by_the_clock_it_is_given(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    timed = Approval(reason="sends an email", timeout=timedelta(hours=1), on_timeout="approve")
    flow = Workflow(
        name="outreach",
        agents=[Agent(name="writer"), Agent(name="mailer", approval=timed)],
        tasks=FLOW.tasks,
    )
    clock = ManualClock()
    waiting = await podium.arun(flow, model=model(), store=path, clock=clock)

    early = await podium.resume(waiting.run_id, flow, store=path, clock=clock)
    clock.advance(timedelta(hours=2))
    late = await podium.resume(waiting.run_id, flow, store=path, clock=clock)

    assert (early.status, late.status) == ("waiting", "succeeded")
    granted = [e for e in late.events if e.kind == "approval_granted"]
    assert [(e.task_id, e.by) for e in granted] == [("send", "timeout")]


async def test_replay_runs_again_from_the_log_without_a_model(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    flow = FLOW.model_copy(update={"tasks": FLOW.tasks[:1]})
    first = await podium.arun(flow, model=model(), store=path)

    again = await podium.replay(first.run_id, flow, store=path)

    assert again.ok
    assert again.run_id != first.run_id
    assert again.context["draft"] == first.context["draft"] == "draft: ok"


async def test_the_default_store_is_the_default_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PODIUM_STORE", str(tmp_path / "default.db"))
    done = await podium.arun(FLOW, model=model())

    assert podium.default_store_path() == tmp_path / "default.db"
    assert [s.run_id for s in await podium.list_runs()] == [done.run_id]
    assert [s.run_id for s in await podium.list_runs(store=tmp_path / "default.db")] == [
        done.run_id
    ]
    async with SqliteStore() as store:  # no path: the same default file
        assert [s.run_id for s in await store.list_runs()] == [done.run_id]


def test_an_agent_runs_with_its_tools_on_a_prompt(tmp_path: Path) -> None:
    looked_up: list[str] = []

    @podium.tool
    def order_status(order_id: str) -> str:
        """Where an order is."""
        looked_up.append(order_id)
        return "shipped yesterday"

    agent = Agent(name="support", instructions="You answer customers.", tools=(order_status,))
    model = ScriptedModel(
        [ToolCall(id="c1", name="order_status", arguments={"order_id": "A-1042"}), "It shipped."]
    )

    result = podium.run(agent, "Where is order A-1042?", model=model, store=tmp_path / "r.db")

    assert result.ok
    assert result.output == "It shipped."
    assert looked_up == ["A-1042"]
    asked = model.calls[0].messages[-1].content
    assert asked == "Where is order A-1042?"
    tool_result = model.calls[1].messages[-1].content
    assert "shipped yesterday" in tool_result


async def test_an_agent_needs_a_prompt_and_a_workflow_takes_no_prompt() -> None:
    with pytest.raises(ConfigError, match="needs a prompt"):
        await podium.arun(Agent(name="a"), {"prompt": "hi"}, store=":memory:")
    with pytest.raises(ConfigError, match="a prompt goes with an agent"):
        await podium.arun(FLOW, "hi", store=":memory:")


def test_import_podium_loads_no_module_until_a_name_is_used() -> None:
    script = (
        "import sys, podium\n"
        "print(sorted(m for m in sys.modules if m.startswith(('podium.', 'pydantic', 'jinja2'))))\n"
        "podium.ConfigError\n"
        "print(sorted(m for m in sys.modules if m.startswith(('podium.', 'pydantic', 'jinja2'))))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert done.stdout.splitlines() == ["[]", "['podium.errors']"]


def test_a_task_can_be_made_first_thing_in_a_fresh_process() -> None:
    script = "from podium import Task\nprint(Task(id='a', agent='w', instruction='x').id)\n"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.stdout == "a\n", done.stderr


def test_each_public_name_is_what_its_module_defines_even_where_a_module_has_its_name() -> None:
    import podium.feedback  # modules named like public functions: importing them first
    import podium.run  # must not replace podium.run, podium.tool or podium.feedback
    import podium.tool

    for name in podium.__all__:
        module, attribute = podium._PUBLIC[name]
        assert getattr(podium, name) is getattr(importlib.import_module(module), attribute)
    assert callable(podium.run) and callable(podium.tool) and callable(podium.feedback)
    with pytest.raises(AttributeError, match="has no attribute 'nothing'"):
        podium.nothing  # noqa: B018
