"""``podium signal`` end to end, each step in its own process: run, wait, signal, resume."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from podium_cli import PodiumCli

WORKFLOW = textwrap.dedent(
    """\
    name: checkout
    model: scripted
    agents:
      clerk: {instructions: You ship orders.}
    signals:
      payment: {description: the payment provider confirms the payment}
    tasks:
      - {id: order, agent: clerk, instruction: "Take the order"}
      - {id: paid, wait: {signal: payment}, needs: [order]}
      - {id: ship, agent: clerk, needs: [paid], instruction: "Ship {{ paid.amount }}"}
    scripted:
      order: ["Order taken."]
      ship: ["Shipped."]
    """
)


def test_a_signal_resumes_the_waiting_run_to_the_end(tmp_path: Path) -> None:
    podium = PodiumCli(tmp_path)
    path = podium.write("checkout.yaml", WORKFLOW)
    waiting = podium("run", str(path), "--json")
    assert waiting.returncode == 3, waiting.stderr
    assert "task 'paid' waits for signal 'payment': podium signal" in waiting.stderr
    result = json.loads(waiting.stdout)
    assert result["status"] == "waiting"
    assert result["tasks"]["paid"]["status"] == "waiting"
    run_id = result["run_id"]

    bad = podium("signal", run_id, "payment", "--data", "{not json")
    assert bad.returncode != 0
    assert "--data is not JSON" in bad.stderr

    done = podium(
        "signal", run_id, "payment", "--data", '{"amount": 12}', "--by", "tester", "--json"
    )
    assert done.returncode == 0, done.stderr
    finished = json.loads(done.stdout)
    assert finished["status"] == "succeeded"
    assert finished["output"] == "Shipped."
    shown = podium("show", run_id).stdout
    assert "signal 'payment' received from tester" in shown


def test_podium_resume_after_the_deadline_applies_on_timeout(tmp_path: Path) -> None:
    podium = PodiumCli(tmp_path)
    timed = WORKFLOW.replace(
        "wait: {signal: payment}", "wait: {signal: payment, timeout: 1ms, on_timeout: succeed}"
    ).replace("Ship {{ paid.amount }}", "Ship")  # past by the time a new process resumes it
    path = podium.write("checkout.yaml", timed)
    waiting = podium("run", str(path), "--json")
    assert waiting.returncode == 3, waiting.stderr
    run_id = json.loads(waiting.stdout)["run_id"]

    resumed = podium("resume", run_id, "--json")

    assert resumed.returncode == 0, resumed.stderr
    finished = json.loads(resumed.stdout)
    assert finished["status"] == "succeeded"
    assert finished["tasks"]["paid"]["status"] == "succeeded"
    assert finished["output"] == "Shipped."
