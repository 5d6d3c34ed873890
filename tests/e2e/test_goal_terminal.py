"""``podium run GOAL --approve-plan`` at a terminal: the plan is shown and decided on the spot.

The CLI runs in a pseudo-terminal (its stdin, stdout and stderr), as a person would use it.
"""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from podium_cli import DEADLINE, PodiumCli

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")

GOAL = "Compare e-bike makers in Vietnam"


def converse(cli: PodiumCli, replies: dict[bytes, bytes], *args: str) -> tuple[int, str]:
    """Run podium in a pseudo-terminal, answering each prompt (once); return code and screen."""
    master, slave = pty.openpty()
    env = cli.env | {"COLUMNS": "120", "TERM": "xterm"}
    process = subprocess.Popen(
        [sys.executable, "-m", "podium", *args],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        cwd=cli.dir,
        env=env,
        close_fds=True,
    )
    os.close(slave)
    screen, pending = b"", dict(replies)
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        chunk = _read(master) if ready else b""
        screen += chunk
        for prompt in [p for p in pending if p in screen]:
            os.write(master, pending.pop(prompt))
        if ready and not chunk:
            break  # the terminal closed: podium exited
    os.close(master)
    return process.wait(timeout=DEADLINE), screen.decode("utf-8", errors="replace")


def _read(fd: int) -> bytes:
    try:
        return os.read(fd, 65536)
    except OSError:  # EIO once the child closed its side
        return b""


@pytest.fixture
def cli(tmp_path: Path) -> PodiumCli:
    return PodiumCli(tmp_path)


def test_a_plan_accepted_at_the_terminal_runs_at_once(cli: PodiumCli) -> None:
    code, screen = converse(
        cli, {b"Run this plan?": b"y\n"}, "run", GOAL, "--model", "scripted", "--approve-plan"
    )

    assert code == 0, screen
    assert "Plan: Compare e-bike makers in Vietnam" in screen
    assert "research" in screen
    assert "Claims" in screen
    (run,) = cli.json("runs")
    assert run["status"] == "succeeded"
    shown = cli.json("show", run["run_id"])
    assert any(n.startswith("plan/planner: approved by") for n in shown["notes"])
    assert shown["tasks"]["plan/research"]["status"] == "succeeded"


def test_a_plan_turned_down_at_the_terminal_fails_the_run_with_the_reason(cli: PodiumCli) -> None:
    replies = {b"Run this plan?": b"n\n", b"Why not?": b"too vague\n"}
    code, screen = converse(cli, replies, "run", GOAL, "--model", "scripted", "--approve-plan")

    assert code == 1, screen
    (run,) = cli.json("runs")
    assert run["status"] == "failed"
    shown = cli.json("show", run["run_id"])
    assert any("denied" in n and "too vague" in n for n in shown["notes"]), shown["notes"]
    assert "plan/research" not in shown["tasks"]  # no step ran: no plan was accepted
