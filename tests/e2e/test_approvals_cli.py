"""Approvals through the CLI, each step in its own process: run, list, approve/deny/edit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

WORKFLOW = textwrap.dedent(
    """\
    name: outreach
    model: scripted
    agents:
      writer: {instructions: You write emails.}
      mailer:
        instructions: You send emails.
        approval: {reason: sends an email to a client}
    tasks:
      - {id: draft, agent: writer, instruction: "Write to the client"}
      - {id: send, agent: mailer, needs: [draft], instruction: "Send: {{ draft }}"}
      - {id: log, agent: writer, needs: [send], instruction: "Log: {{ send }}"}
    scripted:
      draft: ["Dear client, your order shipped."]
      send: ["Sent: Dear client, your order shipped."]
      log: ["Logged."]
    """
)


def podium(*args: str, store: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "podium", *args],
        env={**os.environ, "PODIUM_STORE": str(store), "USER": "tester"},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def waiting(tmp_path: Path) -> tuple[Path, str]:
    """A run of the workflow, stopped waiting for approval of ``send``."""
    path = tmp_path / "outreach.yaml"
    path.write_text(WORKFLOW, encoding="utf-8")
    store = tmp_path / "runs.db"
    done = podium("run", str(path), "--json", store=store)
    assert done.returncode == 3, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "waiting"
    assert result["tasks"]["send"]["status"] == "waiting"
    return store, result["run_id"]


def test_approvals_lists_what_waits(waiting: tuple[Path, str]) -> None:
    store, run_id = waiting
    listed = json.loads(podium("approvals", "--json", store=store).stdout)
    assert [(a["run_id"], a["task_id"], a["reason"]) for a in listed] == [
        (run_id, "send", "sends an email to a client")
    ]
    assert listed[0]["output"] == "Sent: Dear client, your order shipped."
    table = podium("approvals", store=store).stdout
    assert "send" in table
    assert f"podium approve {run_id} send" in table


def test_approve_resumes_the_run_to_the_end(waiting: tuple[Path, str]) -> None:
    store, run_id = waiting
    done = podium("approve", run_id, "send", "--comment", "looks right", "--json", store=store)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == "succeeded"
    assert podium("approvals", "--json", store=store).stdout.strip() == "[]"
    shown = podium("show", run_id, store=store).stdout
    assert "send: approved by tester: looks right" in shown


def test_approve_with_an_edited_output(waiting: tuple[Path, str], tmp_path: Path) -> None:
    store, run_id = waiting
    edit = tmp_path / "edit.txt"
    edit.write_text("Sent: Dear Ms. Lee, your order shipped today.", encoding="utf-8")
    done = podium("approve", run_id, "send", "--edit", str(edit), "--json", store=store)
    assert done.returncode == 0, done.stderr
    state = json.loads(podium("show", run_id, "--json", store=store).stdout)
    sends = [w["value"] for w in state["writes"] if w["key"] == "send"]
    assert sends == ["Sent: Dear Ms. Lee, your order shipped today."]


def test_deny_fails_the_task_and_skips_what_needs_it(waiting: tuple[Path, str]) -> None:
    store, run_id = waiting
    done = podium("deny", run_id, "send", "--reason", "wrong client", "--json", store=store)
    assert done.returncode == 1
    result = json.loads(done.stdout)
    assert result["tasks"]["send"]["error"] == "ApprovalDeniedError: denied by tester: wrong client"
    assert result["tasks"]["log"]["status"] == "skipped"


def test_deciding_on_a_task_that_does_not_wait_is_a_clear_error(waiting: tuple[Path, str]) -> None:
    store, run_id = waiting
    done = podium("approve", run_id, "draft", store=store)
    assert done.returncode == 2
    assert "task 'draft'" in done.stderr
    assert "is not waiting for approval (waiting: send)" in done.stderr
