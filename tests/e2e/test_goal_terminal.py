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
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest
from podium_cli import DEADLINE, PodiumCli

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")

GOAL = "Compare e-bike makers in Vietnam"


def converse(
    cli: PodiumCli,
    replies: Mapping[bytes, bytes] | Sequence[tuple[bytes, bytes]],
    *args: str,
) -> tuple[int, str]:
    """Run podium in a pseudo-terminal, answering prompts in order (each reply once, to the
    first prompt shown after the previous one); return the exit code and the screen."""
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
    pending = list(replies.items() if isinstance(replies, Mapping) else replies)
    screen, seen = b"", 0
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        chunk = _read(master) if ready else b""
        screen += chunk
        if pending and (found := screen.find(pending[0][0], seen)) >= 0:
            seen = found + len(pending[0][0])
            os.write(master, pending.pop(0)[1])
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


def test_a_plan_turned_down_at_the_terminal_is_planned_again_with_the_reason(
    cli: PodiumCli,
) -> None:
    replies = [
        (b"Run this plan?", b"n\n"),
        (b"Why not?", b"too vague\n"),
        (b"Run this plan?", b"y\n"),  # the plan made again, with the reason
    ]
    code, screen = converse(cli, replies, "run", GOAL, "--model", "scripted", "--approve-plan")

    assert code == 0, screen
    (run,) = cli.json("runs")
    assert run["status"] == "succeeded"
    shown = cli.json("show", run["run_id"])
    assert any("denied" in n and "too vague" in n for n in shown["notes"]), shown["notes"]
    (plan,) = shown["plans"]
    assert [r["problems"] for r in plan["rejections"]] == [
        ["a person turned this plan down: too vague"]
    ]
    assert shown["tasks"]["plan/planner-2"]["status"] == "succeeded"
