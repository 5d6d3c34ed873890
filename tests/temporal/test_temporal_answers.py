"""Runs on Temporal that wait for a person or a signal: they stay alive as workflows, and an
approval, a denial, a signal or a cancellation sent through the facade or the CLI reaches
the workflow, which records it in the log once and goes on (a real dev server, a worker,
PostgreSQL, the scripted model).

Such a run is live while its workflow runs, whichever process started it: it shows
``waiting`` while it waits, also after the worker that started it was killed with SIGKILL and
another one carries it on; once its workflow has ended without finishing it (terminated), it
shows ``interrupted`` and ``podium resume`` starts the workflow again under the same run id.

Each test holds its run on something it controls (an approval request, a wait task) and waits
for the run's own events, never for a time.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import pytest
from mcp import Client as McpClient
from mcp import StdioServerParameters
from temporalio.client import Client

import podium
from podium.errors import RunStateError
from podium.event import (
    ApprovalDenied,
    ApprovalGranted,
    ModelCalled,
    RunResumed,
    RunStarted,
    SignalReceived,
    TaskStarted,
    TemporalRef,
    ToolCalled,
)
from podium.ids import RunId, TaskId

REVIEWED = """\
name: reviewed
agents:
  writer:
    description: Writes.
tasks:
  - id: draft
    agent: writer
    instruction: Write the note
    approval: {reason: it goes out}
  - id: polish
    agent: writer
    instruction: "Polish: {{ draft }}"
    needs: [draft]
output: polish
scripted:
  draft: ["First draft."]
  polish: ["Polished."]
"""

TIMED = """\
name: timed
agents:
  writer:
    description: Writes.
tasks:
  - id: draft
    agent: writer
    instruction: Write the note
    approval: {timeout: 1, on_timeout: approve}
output: draft
scripted:
  draft: ["First draft."]
"""

MAILER = """\
name: mailer
agents:
  clerk:
    description: Sends mail.
    tools: ["mail_tools:send_mail"]
tasks:
  - id: send
    agent: clerk
    instruction: Send the note to Ana
output: send
scripted:
  send:
    - {tool_call: {name: send_mail, arguments: {to: ana}}}
    - "Sent to Ana."
"""

MAIL_TOOLS = '''\
from pathlib import Path

from podium import tool

HERE = Path(__file__).parent


@tool(approval=True)
def send_mail(to: str) -> str:
    """Send the note."""
    with (HERE / "sent.txt").open("a") as sent:
        sent.write(to + "\\n")
    return "sent to " + to
'''

MAILER_TWICE = MAILER.replace(
    '    - "Sent to Ana."',
    '    - {tool_call: {name: send_mail, arguments: {to: bob}}}\n    - "Sent to both."',
)

PAYMENT = """\
name: payment
agents:
  clerk:
    description: Ships.
signals:
  paid: {description: the payment went through}
tasks:
  - {id: paid, wait: {signal: paid}}
  - {id: ship, agent: clerk, needs: [paid], instruction: "Ship order {{ paid.order }}"}
output: ship
scripted:
  ship: ["Shipped."]
"""


E = TypeVar("E")


class _Ids:
    """The run id of this test's run, known before it starts."""

    def __init__(self, run_id: str) -> None:
        self._run_id = RunId(run_id)

    def new_run_id(self) -> RunId:
        return self._run_id


@asynccontextmanager
async def on_temporal(
    tmp_path: Path, flow: str, target: podium.TemporalTarget, store: str
) -> AsyncGenerator[tuple[str, Awaitable[podium.RunResult]]]:
    """A worker, and the run of ``flow`` on it: its id, and its result to await."""
    path = tmp_path / "flow.yaml"
    path.write_text(flow, encoding="utf-8")
    run_id = f"t{uuid.uuid4().hex[:11]}"  # workflow ids are unique on the session's server
    async with asyncio.TaskGroup() as tasks:
        worker = tasks.create_task(podium.serve_worker(target, store=store))
        running = tasks.create_task(
            podium.run_on_temporal(
                path, temporal=target, store=store, model="scripted", ids=_Ids(run_id)
            )
        )
        try:
            yield run_id, running
        finally:
            await asyncio.wait([running], timeout=None)
            worker.cancel()


async def wait_for(store: str, run_id: str, holds: Callable[[podium.RunState], bool]) -> None:
    """Return once the run's log shows what ``holds`` looks for."""
    async with asyncio.timeout(180):
        while True:
            try:
                state = await podium.get_run(run_id, store=store)
            except podium.ConfigError:  # not started yet
                state = None
            if state is not None and holds(state):
                return
            await asyncio.sleep(0.1)


def kinds(result: podium.RunResult, kind: type[E]) -> list[E]:
    return [e for e in result.events if isinstance(e, kind)]


async def test_an_approval_sent_through_the_facade_lets_the_waiting_workflow_go_on(
    tmp_path: Path, target: podium.TemporalTarget, postgres_url: str
) -> None:
    async with on_temporal(tmp_path, REVIEWED, target, postgres_url) as (run_id, running):
        await wait_for(postgres_url, run_id, lambda s: TaskId("draft") in s.approvals)
        granted = await podium.approve(run_id, "draft", by="ana", store=postgres_url)
        result = await running

    assert (granted.task_id, granted.by) == ("draft", "ana")
    assert result.status == "succeeded"
    assert result.output == "Polished."
    (recorded,) = kinds(result, ApprovalGranted)
    assert recorded == granted
    (started,) = kinds(result, RunStarted)
    assert started.temporal is not None and started.temporal.address == target.address
    with pytest.raises(RunStateError, match="Temporal"):
        await podium.approve(run_id, "draft", by="ana", store=postgres_url)
    with pytest.raises(RunStateError, match="already succeeded"):
        await podium.resume(run_id, store=postgres_url)


async def test_an_mcp_host_approves_a_run_waiting_on_temporal_without_resuming_it_here(
    tmp_path: Path, target: podium.TemporalTarget, postgres_url: str
) -> None:
    async with on_temporal(tmp_path, REVIEWED, target, postgres_url) as (run_id, running):
        await wait_for(postgres_url, run_id, lambda s: TaskId("draft") in s.approvals)
        command = ["-m", "podium", "mcp", str(tmp_path / "flow.yaml"), "--model", "scripted"]
        server = StdioServerParameters(
            command=sys.executable, args=[*command, "--store", postgres_url]
        )
        async with McpClient(server) as client:
            listed = await client.call_tool("list_approvals", {})
            approved = await client.call_tool("approve", {"run_id": run_id, "task_id": "draft"})
        result = await running

    assert not listed.is_error and not approved.is_error, (listed.content, approved.content)
    waiting = listed.structured_content["result"]  # type: ignore[index]
    assert {"run_id": run_id, "task_id": "draft"} in [
        {"run_id": w["run_id"], "task_id": w["task_id"]} for w in waiting
    ]
    answer = approved.structured_content
    assert answer is not None and answer["run_id"] == run_id
    assert answer["status"] in {"running", "succeeded"}  # it goes on in its workflow
    assert result.status == "succeeded"
    (granted,) = kinds(result, ApprovalGranted)
    assert granted.by == "mcp"
    assert not kinds(result, RunResumed)


async def test_a_denial_sent_with_the_cli_fails_the_task_on_temporal(
    tmp_path: Path, target: podium.TemporalTarget, postgres_url: str
) -> None:
    async with on_temporal(tmp_path, REVIEWED, target, postgres_url) as (run_id, running):
        await wait_for(postgres_url, run_id, lambda s: TaskId("draft") in s.approvals)
        command = [sys.executable, "-m", "podium", "deny", run_id, "draft"]
        command += ["--reason", "too vague", "--by", "ana", "--store", postgres_url]
        denied = await asyncio.to_thread(
            subprocess.run, command, capture_output=True, text=True, check=False
        )
        result = await running

    assert denied.returncode == 0, denied.stderr
    assert "on Temporal" in denied.stdout
    assert result.status == "failed"
    (recorded,) = kinds(result, ApprovalDenied)
    assert "too vague" in str(recorded)
    assert "too vague" in (result.tasks[TaskId("draft")].error or "")
    assert "polish" not in {e.task_id for e in kinds(result, TaskStarted)}


async def test_a_tool_call_waits_for_its_approval_on_temporal_then_runs_once(
    tmp_path: Path, target: podium.TemporalTarget, postgres_url: str
) -> None:
    flow = with_mail_tools(tmp_path, MAILER)
    async with on_temporal(tmp_path, flow, target, postgres_url) as (run_id, running):
        await wait_for(postgres_url, run_id, lambda s: TaskId("send") in s.approvals)
        assert not (tmp_path / "sent.txt").exists()
        await podium.approve(run_id, "send", by="ana", store=postgres_url)
        result = await running

    assert result.status == "succeeded"
    assert result.output == "Sent to Ana."
    assert (tmp_path / "sent.txt").read_text() == "ana\n"
    assert len(kinds(result, ApprovalGranted)) == 1
    assert len(kinds(result, ToolCalled)) == 1
    assert len(kinds(result, ModelCalled)) == 2  # the first one replayed, not made again


def with_mail_tools(directory: Path, flow: str) -> str:
    """``flow`` using the mail tools written in ``directory``, as a module of this test's own
    (the worker runs in this process, which imports a module name once)."""
    module = f"mail_tools_{directory.name[-8:].replace('-', '_')}"
    (directory / f"{module}.py").write_text(MAIL_TOOLS, encoding="utf-8")
    return flow.replace("mail_tools:", f"{module}:")


def asks_to_send_to(name: str) -> Callable[[podium.RunState], bool]:
    def holds(state: podium.RunState) -> bool:
        request = state.approvals.get(TaskId("send"))
        return request is not None and str(request.output).count(name) == 1

    return holds


async def test_a_denied_tool_call_after_an_approved_one_fails_the_task_on_temporal(
    tmp_path: Path, target: podium.TemporalTarget, postgres_url: str
) -> None:
    flow = with_mail_tools(tmp_path, MAILER_TWICE)
    async with on_temporal(tmp_path, flow, target, postgres_url) as (run_id, running):
        await wait_for(postgres_url, run_id, asks_to_send_to("ana"))
        await podium.approve(run_id, "send", by="ana", store=postgres_url)
        await wait_for(postgres_url, run_id, asks_to_send_to("bob"))
        await podium.deny(run_id, "send", reason="not bob", by="ana", store=postgres_url)
        result = await running

    assert result.status == "failed"
    assert (tmp_path / "sent.txt").read_text() == "ana\n"
    assert "not bob" in (result.tasks[TaskId("send")].error or "")
    assert len(kinds(result, ApprovalGranted)) == len(kinds(result, ApprovalDenied)) == 1
    assert len(kinds(result, ToolCalled)) == 1


async def test_podium_cancel_cancels_a_waiting_run_s_workflow(
    tmp_path: Path, target: podium.TemporalTarget, postgres_url: str
) -> None:
    async with on_temporal(tmp_path, REVIEWED, target, postgres_url) as (run_id, running):
        await wait_for(postgres_url, run_id, lambda s: TaskId("draft") in s.approvals)
        cancelled = await podium.cancel(run_id, wait=timedelta(minutes=3), store=postgres_url)
        result = await running

    assert cancelled.how == "workflow"
    assert result.status == "cancelled"
    assert kinds(result, ApprovalGranted) == kinds(result, ApprovalDenied) == []


async def test_an_approval_timeout_is_a_workflow_timer(
    tmp_path: Path, target: podium.TemporalTarget, postgres_url: str
) -> None:
    async with on_temporal(tmp_path, TIMED, target, postgres_url) as (_, running):
        result = await running

    assert result.status == "succeeded"
    assert result.output == "First draft."
    (granted,) = kinds(result, ApprovalGranted)
    assert granted.by == "timeout"


async def test_a_signal_reaches_a_wait_task_on_temporal(
    tmp_path: Path, target: podium.TemporalTarget, postgres_url: str
) -> None:
    async with on_temporal(tmp_path, PAYMENT, target, postgres_url) as (run_id, running):
        await wait_for(postgres_url, run_id, lambda s: s.task(TaskId("paid")).status == "waiting")
        sent = await podium.signal(run_id, "paid", data={"order": 7}, by="bank", store=postgres_url)
        result = await running

    assert result.status == "succeeded"
    assert result.output == "Shipped."
    (received,) = kinds(result, SignalReceived)
    assert received == sent
    assert result.tasks[TaskId("paid")].output == {"order": 7}


# Liveness: a run on Temporal is live while its workflow runs, whichever process started it;
# once its workflow has ended without finishing it, it is interrupted and resumes on Temporal.

WorkerStarter = Callable[[podium.TemporalTarget, str, Path], subprocess.Popen[bytes]]
"""The ``start_worker`` fixture."""


def new_run_id() -> str:
    return f"t{uuid.uuid4().hex[:11]}"  # workflow ids are unique on the session's server


def asks_for_draft(state: podium.RunState) -> bool:
    return TaskId("draft") in state.approvals


async def cli(*args: str) -> str:
    """What ``podium ARGS`` prints; it must succeed."""
    command = [sys.executable, "-m", "podium", *args]
    done = await asyncio.to_thread(
        subprocess.run, command, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


async def listed_status(store: str, run_id: str) -> str:
    """The run's status as ``podium runs --json`` shows it."""
    lines = json.loads(await cli("runs", "--json", "--store", store))
    (line,) = [line for line in lines if line["run_id"] == run_id]
    return str(line["status"])


async def ended(run: Awaitable[podium.RunResult]) -> podium.RunResult | podium.ConfigError:
    """The run's result, or the error its workflow's end was reported with."""
    try:
        return await run
    except podium.ConfigError as exc:
        return exc


def workflow_pid(events: list[podium.Event]) -> int | None:
    started = events[0]
    assert isinstance(started, RunStarted)
    return started.pid


async def test_a_waiting_run_stays_waiting_when_the_worker_that_started_it_dies(
    tmp_path: Path, target: podium.TemporalTarget, postgres_url: str, start_worker: WorkerStarter
) -> None:
    path = tmp_path / "flow.yaml"
    path.write_text(REVIEWED, encoding="utf-8")
    first = start_worker(target, postgres_url, tmp_path / "worker1.log")
    run_id = new_run_id()
    async with asyncio.TaskGroup() as tasks:
        running = tasks.create_task(
            podium.run_on_temporal(
                path, temporal=target, store=postgres_url, model="scripted", ids=_Ids(run_id)
            )
        )
        await wait_for(postgres_url, run_id, asks_for_draft)
        assert await listed_status(postgres_url, run_id) == "waiting"
        async with podium.opened_store(postgres_url) as store:
            assert workflow_pid(await store.read(RunId(run_id))) == first.pid
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=30)
        start_worker(target, postgres_url, tmp_path / "worker2.log")

        assert await listed_status(postgres_url, run_id) == "waiting"  # not "interrupted"
        state = await podium.get_run(run_id, store=postgres_url)
        assert (state.status, state.waiting) == ("waiting", {TaskId("draft")})
        shown = await podium.shown_statuses([state])
        assert shown.statuses[state.run_id] == "waiting" and not shown.unreachable
        assert '"status": "waiting"' in await cli("show", run_id, "--json", "--store", postgres_url)
        with pytest.raises(RunStateError, match="on Temporal"):
            await podium.feedback(run_id, 5, store=postgres_url)
        await podium.approve(run_id, "draft", by="ana", store=postgres_url)  # the other worker
        result = await running

    assert result.status == "succeeded" and result.output == "Polished."
    assert await listed_status(postgres_url, run_id) == "succeeded"


async def test_a_run_whose_workflow_was_terminated_is_interrupted_and_resumes_on_temporal(
    tmp_path: Path, target: podium.TemporalTarget, postgres_url: str, start_worker: WorkerStarter
) -> None:
    path = tmp_path / "flow.yaml"
    path.write_text(REVIEWED, encoding="utf-8")
    start_worker(target, postgres_url, tmp_path / "worker.log")
    run_id = new_run_id()
    async with asyncio.TaskGroup() as tasks:
        running = tasks.create_task(
            ended(
                podium.run_on_temporal(
                    path, temporal=target, store=postgres_url, model="scripted", ids=_Ids(run_id)
                )
            )
        )
        await wait_for(postgres_url, run_id, asks_for_draft)
        client = await Client.connect(target.address)
        await client.get_workflow_handle(f"podium-{run_id}").terminate("an operator stopped it")
        assert "failed on Temporal" in str(await running)
        state = await podium.get_run(run_id, store=postgres_url)
        shown = await podium.shown_statuses([state])
        assert (state.status, shown.statuses[state.run_id]) == ("waiting", "interrupted")
        assert await listed_status(postgres_url, run_id) == "interrupted"

        resumed = tasks.create_task(podium.resume(run_id, store=postgres_url))
        await wait_for(postgres_url, run_id, lambda s: "resumed" in s.notes)
        with pytest.raises(RunStateError, match="still running on Temporal"):
            await podium.resume(run_id, store=postgres_url)
        await podium.approve(run_id, "draft", by="ana", store=postgres_url)
        result = await resumed

    assert result.status == "succeeded" and result.output == "Polished."
    assert len([e for e in result.events if isinstance(e, RunResumed)]) == 1
    assert len([e for e in result.events if isinstance(e, ApprovalGranted)]) == 1
    drafts = [e for e in result.events if isinstance(e, ModelCalled) and e.task_id == "draft"]
    assert len(drafts) == 1  # the draft written before the termination is not written again
    assert await listed_status(postgres_url, run_id) == "succeeded"


def closed_address() -> str:
    """A loopback address where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


async def test_a_run_whose_temporal_cannot_be_reached_shows_what_its_log_says(
    tmp_path: Path,
) -> None:
    ref = TemporalRef(
        address=closed_address(), namespace="default", task_queue="q", workflow_id="podium-r1"
    )
    started = RunStarted(
        seq=1,
        run_id=RunId("r1"),
        at=datetime(2026, 1, 1, tzinfo=UTC),
        workflow="reviewed",
        inputs={},
        graph=(),
        pid=2**22 + 1,  # no such process: the run is not judged by it
        host=socket.gethostname(),
        temporal=ref,
    )
    store = tmp_path / "runs.db"
    async with podium.opened_store(store) as opened:
        await opened.append(RunId("r1"), [started])

    assert await podium.workflow_states([ref]) == {"podium-r1": "unknown"}
    assert await listed_status(str(store), "r1") == "running"  # not "interrupted"
    printed = await cli("runs", "--store", str(store))
    assert f"Temporal at {ref.address} could not be reached" in " ".join(printed.split())
    assert podium.shown_status("waiting", None, workflow="ended") == "interrupted"
    assert podium.shown_status("failed", None, workflow="ended") == "failed"
