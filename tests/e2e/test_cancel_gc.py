"""``podium cancel`` and ``podium gc`` end to end, each command in a subprocess.

A slow run (the scripted model waits 0.2 s a call) is started in its own process, cancelled
once a task has succeeded, and resumed to the end. Old runs for ``gc`` are recorded in-process
by an engine on a manual clock that started long ago.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from podium_cli import DEADLINE, PodiumCli

from podium import Agent, ModelError, ScriptedModel, SqliteStore, Task, Workflow
from podium.engine import LocalEngine
from podium.event import load_event, recorded_write
from podium.testing.clock import ManualClock

SLOW = """\
name: slow
model: {provider: scripted, latency: 0.2}
agents:
  writer: {instructions: You write.}
tasks:
  - {id: t1, agent: writer, instruction: Step 1}
  - {id: t2, agent: writer, needs: [t1], instruction: "Step 2 after {{ t1 }}"}
  - {id: t3, agent: writer, needs: [t2], instruction: "Step 3 after {{ t2 }}"}
  - {id: t4, agent: writer, needs: [t3], instruction: "Step 4 after {{ t3 }}"}
  - {id: t5, agent: writer, needs: [t4], instruction: "Step 5 after {{ t4 }}"}
  - {id: t6, agent: writer, needs: [t5], instruction: "Step 6 after {{ t5 }}"}
  - {id: t7, agent: writer, needs: [t6], instruction: "Step 7 after {{ t6 }}"}
  - {id: t8, agent: writer, needs: [t7], instruction: "Step 8 after {{ t7 }}"}
"""

GATED = """\
name: gated
model: scripted
agents:
  writer: {instructions: You write.}
  waiter: {instructions: You wait., tools: ["gate:wait_for_release"]}
tasks:
  - {id: t1, agent: writer, instruction: Step 1}
  - {id: t2, agent: waiter, needs: [t1], instruction: Wait for the release}
  - {id: t3, agent: writer, needs: [t2], instruction: "Step 3 after {{ t2 }}"}
scripted:
  t2:
    - {tool_call: {name: wait_for_release, arguments: {}}}
    - released
"""
GATE = """\
import asyncio
from pathlib import Path


async def wait_for_release() -> str:
    \"\"\"Hold the run until the test writes the file ``release`` (a tool the test controls).\"\"\"
    while not Path("release").exists():
        await asyncio.sleep(0.05)
    return "released"
"""

PODIUM_WITH_CTRL_C = (
    "import signal, sys\n"
    "signal.signal(signal.SIGINT, signal.default_int_handler)  # a shell may start us ignoring it\n"
    "from podium.cli.app import main\n"
    "main(sys.argv[1:])\n"
)

_DEADLINE = DEADLINE
"""Seconds any one CLI call or wait may take before the test fails instead of hanging."""


class Cli(PodiumCli):
    """Runs ``python -m podium`` against one store, in a scratch directory."""

    def start(self, workflow: Path) -> subprocess.Popen[str]:
        """Start ``podium run`` in the background, with SIGINT handled as at a terminal."""
        return subprocess.Popen(
            [sys.executable, "-c", PODIUM_WITH_CTRL_C, "run", str(workflow), "--quiet"],
            cwd=self.dir,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )

    def events(self) -> list[Any]:  # Any: events of any kind
        """Every committed event, read as another process would."""
        if not self.store.exists():
            return []
        try:
            with closing(sqlite3.connect(self.store, timeout=5)) as conn:
                rows = conn.execute("SELECT body FROM events ORDER BY run_id, seq").fetchall()
        except sqlite3.OperationalError:  # the run's process is still creating the tables
            return []
        return [load_event(body) for (body,) in rows]

    def wait_for_success(self, process: subprocess.Popen[str]) -> str:
        """Poll the store until a task has succeeded; return the run's id."""
        deadline = time.monotonic() + _DEADLINE
        while time.monotonic() < deadline:
            assert process.poll() is None, process.communicate()
            done = [e for e in self.events() if e.kind == "task_succeeded"]
            if done:
                return str(done[0].run_id)
            time.sleep(0.02)
        raise AssertionError("no task succeeded in time")


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path)


def succeeded_once(events: list[Any]) -> bool:  # Any: events of any kind
    counts = Counter(e.task_id for e in events if e.kind == "task_succeeded")
    return set(counts) == {f"t{n}" for n in range(1, 9)} and set(counts.values()) == {1}


def test_cancel_stops_a_live_run_which_then_resumes(cli: Cli) -> None:
    """The run is held in t2's tool until the test releases it, so the cancel always finds
    it running however long the ``podium cancel`` process takes to start."""
    workflow = cli.dir / "gated.yaml"
    workflow.write_text(GATED, encoding="utf-8")
    (cli.dir / "gate.py").write_text(GATE, encoding="utf-8")
    with cli.start(workflow) as process:
        try:
            run_id = cli.wait_for_success(process)
            cancelled = cli("cancel", run_id[:8])
            _, stderr = process.communicate(timeout=_DEADLINE)
        finally:
            if process.poll() is None:
                process.kill()

    assert cancelled.returncode == 0, cancelled.stderr
    assert f"run {run_id} cancelled: its process ({process.pid}) stopped" in cancelled.stdout
    assert f"podium resume {run_id}" in cancelled.stdout
    assert process.returncode == 130, stderr
    [run] = cli.json("runs")
    assert (run["run_id"], run["status"]) == (run_id, "cancelled")
    kept = cli.events()
    assert kept[-1].kind == "run_completed"
    assert kept[-1].status == "cancelled"
    assert any(w is not None and w.key == "t1" for w in map(recorded_write, kept))

    (cli.dir / "release").touch()
    resumed = cli("resume", run_id, "--json")

    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["status"] == "succeeded"
    after = cli.events()
    assert after[: len(kept)] == kept  # nothing written before the cancel was lost
    counts = Counter(e.task_id for e in after if e.kind == "task_succeeded")
    assert counts == {"t1": 1, "t2": 1, "t3": 1}
    again = cli("cancel", run_id)
    assert again.returncode == 2
    assert "already ended succeeded" in again.stderr


def test_cancel_records_an_interrupted_run_cancelled(cli: Cli) -> None:
    workflow = cli.dir / "slow.yaml"
    workflow.write_text(SLOW, encoding="utf-8")
    with cli.start(workflow) as process:
        run_id = cli.wait_for_success(process)
        process.send_signal(signal.SIGKILL)  # a crash: nothing records the end
        process.communicate(timeout=_DEADLINE)
    [run] = cli.json("runs")
    assert run["status"] == "interrupted"
    before = cli.events()

    cancelled = cli("cancel", run_id)

    assert cancelled.returncode == 0, cancelled.stderr
    assert "its process is gone" in cancelled.stdout
    after = cli.events()
    assert after[:-1] == before
    assert (after[-1].kind, after[-1].seq) == ("run_completed", before[-1].seq + 1)
    assert (after[-1].status, after[-1].error) == ("cancelled", "cancelled with podium cancel")
    [run] = cli.json("runs")
    assert run["status"] == "cancelled"
    resumed = cli("resume", run_id, "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert succeeded_once(cli.events())


def test_cancel_of_an_unknown_run_exits_2(cli: Cli) -> None:
    cli.store.touch()
    result = cli("cancel", "nope")
    assert result.returncode == 2
    assert "no run" in result.stderr


# -- gc ----------------------------------------------------------------------------------------

LONG_AGO = datetime(2025, 1, 1, tzinfo=UTC)
FLOW = Workflow(
    name="tiny", agents=[Agent(name="a")], tasks=[Task(id="t", agent="a", instruction="x")]
)


def record(store: Path, model: ScriptedModel, *, started: datetime | None) -> str:
    """Run FLOW in this process, on a clock that started at ``started`` (None: now)."""

    async def go() -> str:
        async with SqliteStore(store) as opened:
            clock = ManualClock(start=started) if started else None
            result = await LocalEngine(store=opened, model=model, clock=clock).execute(FLOW)
            return result.run_id

    return asyncio.run(go())


@pytest.fixture
def runs(cli: Cli) -> dict[str, str]:
    """An old succeeded run, an old failed one and a recent succeeded one, by that name."""
    broken = ModelError("bad request", kind="bad_request")
    return {
        "old_ok": record(cli.store, ScriptedModel(["fine"]), started=LONG_AGO),
        "old_failed": record(cli.store, ScriptedModel([broken]), started=LONG_AGO),
        "recent": record(cli.store, ScriptedModel(["fine"]), started=None),
    }


def listed(cli: Cli) -> set[str]:
    return {r["run_id"] for r in cli.json("runs")}


def test_gc_dry_run_removes_nothing(cli: Cli, runs: dict[str, str]) -> None:
    result = cli("gc", "--older-than", "30d", "--dry-run")

    assert result.returncode == 0, result.stderr
    assert "would remove 1 runs" in result.stdout
    assert runs["old_ok"] in result.stdout
    assert listed(cli) == set(runs.values())


def test_gc_removes_old_finished_runs_and_keeps_resumable_ones(
    cli: Cli, runs: dict[str, str]
) -> None:
    result = cli("gc", "--older-than", "30d")

    assert result.returncode == 0, result.stderr
    assert "removed 1 runs" in result.stdout
    assert runs["old_ok"] in result.stdout
    assert "--force removes them too" in result.stdout
    assert listed(cli) == {runs["old_failed"], runs["recent"]}
    assert not [e for e in cli.events() if e.run_id == runs["old_ok"]]

    forced = cli.json("gc", "--older-than", "720h", "--force")

    assert [r["run_id"] for r in forced["removed"]] == [runs["old_failed"]]
    assert forced["removed"][0]["status"] == "failed"
    assert listed(cli) == {runs["recent"]}


@pytest.mark.parametrize("age", ["30", "soon", "0d"])
def test_gc_needs_a_positive_age_with_a_unit(cli: Cli, age: str) -> None:
    result = cli("gc", "--older-than", age)
    assert result.returncode == 2
    assert "--older-than" in result.stderr
