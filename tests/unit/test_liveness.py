"""Liveness: a run's recorded process and machine decide whether it is still going."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from podium.errors import ConfigError, RunStateError
from podium.event import TemporalRef
from podium.ids import RunId
from podium.liveness import ensure_not_running, is_alive, shown_status, this_host
from podium.run import RunState


@pytest.fixture(scope="module")
def dead_pid() -> int:
    """The pid of a process that has ended (and been reaped)."""
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    return int(proc.stdout)


def test_a_process_of_this_machine_is_checked(dead_pid: int) -> None:
    assert is_alive(os.getpid())
    assert is_alive(os.getpid(), this_host())
    assert not is_alive(dead_pid)
    assert not is_alive(dead_pid, this_host())
    assert shown_status("running", dead_pid, this_host()) == "interrupted"
    assert shown_status("running", dead_pid) == "interrupted"  # logs before hosts: here


def test_a_process_of_another_machine_counts_as_alive(dead_pid: int) -> None:
    assert is_alive(dead_pid, "elsewhere")
    assert shown_status("running", dead_pid, "elsewhere") == "running"
    assert shown_status("failed", dead_pid, "elsewhere") == "failed"


def test_a_run_going_on_another_machine_is_not_touched(dead_pid: int) -> None:
    state = RunState(run_id=RunId("r1"), status="running", pid=dead_pid, host="elsewhere")
    with pytest.raises(ConfigError, match=rf"process {dead_pid} on elsewhere.*cancel r1` on "):
        ensure_not_running(state, doing="resume it")
    state.host = this_host()
    ensure_not_running(state, doing="resume it")  # its process here is gone: fine
    state.pid = os.getpid()
    ensure_not_running(state, doing="resume it")  # this very process: fine


def test_a_run_on_temporal_is_live_while_its_workflow_runs(dead_pid: int) -> None:
    # the worker that started it is gone: its workflow, not that process, says
    assert shown_status("waiting", dead_pid, this_host(), workflow="running") == "waiting"
    assert shown_status("running", dead_pid, this_host(), workflow="running") == "running"
    assert shown_status("running", dead_pid, this_host(), workflow="unknown") == "running"
    assert shown_status("waiting", dead_pid, this_host(), workflow="ended") == "interrupted"
    assert shown_status("cancelled", dead_pid, this_host(), workflow="ended") == "cancelled"


def test_nothing_appends_to_the_log_of_a_run_on_temporal_that_is_going(dead_pid: int) -> None:
    ref = TemporalRef(address="t:7233", namespace="default", task_queue="q", workflow_id="w1")
    state = RunState(run_id=RunId("r1"), status="waiting", pid=dead_pid, temporal=ref)
    with pytest.raises(RunStateError, match=r"waiting on Temporal \(workflow w1 at t:7233\)"):
        ensure_not_running(state, doing="rate it")
    state.status = "failed"
    ensure_not_running(state, doing="rate it")
