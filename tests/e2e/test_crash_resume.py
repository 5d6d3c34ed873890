"""Fault injection: a real ``podium run`` killed with SIGKILL at many points, then resumed.

Each time, the resumed run must end exactly as an uninterrupted run does, no task may have
succeeded twice, and every event committed before the kill must still be in the log.

The last task calls a tool that waits until the test opens a gate (creates a file), so a run
cannot finish before the test kills it, however loaded the machine; kill points are
fractions of the events committed before the gate (1.0: at the gate).
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import pytest

from podium.event import load_event

pytestmark = pytest.mark.slow

WORKFLOW = textwrap.dedent(
    """\
    name: crashy
    model: {provider: scripted, latency: 0.04}
    inputs:
      docs: {default: [lease, nda, supply, logistics]}
      topic: {default: tides}
    agents:
      researcher: {instructions: You research.}
      lawyer: {instructions: You read contracts.}
      writer: {instructions: You write.}
      reviewer:
        instructions: You review.
        output_schema: {approved: bool, note: str}
      closer:
        instructions: You finish once the gate opens.
        tools: [gate:wait_for_gate]
    tasks:
      - {id: facts, agent: researcher, instruction: "Facts about {{ topic }}"}
      - {id: risks, agent: researcher, instruction: "Risks of {{ topic }}"}
      - id: clauses
        map:
          over: docs
          item: doc
          task: {id: clause, agent: lawyer, instruction: "Read {{ doc }}"}
      - id: summary
        agent: writer
        needs: [facts, risks, clauses]
        instruction: "Summarize {{ facts }} {{ risks }} {{ clauses | join(', ') }}"
      - id: revise
        needs: [summary]
        loop:
          until: review.approved
          max_iterations: 2
          tasks:
            - {id: draft, agent: writer, instruction: "Draft from {{ summary }}"}
            - {id: review, agent: reviewer, needs: [draft], instruction: "Review {{ draft }}"}
      - {id: final, agent: closer, needs: [revise], instruction: "Final: {{ draft }}"}
    scripted:
      final: [{tool_call: {name: wait_for_gate, arguments: {}}}, "The final report."]
    """
)

GATE = textwrap.dedent(
    """\
    import asyncio
    import os
    from pathlib import Path


    async def wait_for_gate() -> str:
        \"\"\"Wait until the test creates the gate file.\"\"\"
        gate = Path(os.environ["PODIUM_TEST_GATE"])
        while not gate.exists():
            await asyncio.sleep(0.01)
        return "open"
    """
)


def environment(store: Path) -> dict[str, str]:
    """The CLI's environment: this store, and a gate file next to it."""
    gate = store.with_name("gate.open")
    return {**os.environ, "PODIUM_STORE": str(store), "PODIUM_TEST_GATE": str(gate)}


def open_gate(store: Path) -> None:
    store.with_name("gate.open").touch()


def podium(*args: str, store: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = environment(store)
    return subprocess.run(
        [sys.executable, "-m", "podium", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def stored_events(store: Path, run_id: str | None = None) -> list[tuple[str, int, str]]:
    """(run, seq, body) of every committed event, read as another process would."""
    if not store.exists():
        return []
    query = "SELECT run_id, seq, body FROM events"
    with sqlite3.connect(store, timeout=5) as conn:
        try:
            rows = conn.execute(
                query + (" WHERE run_id = ?" if run_id else ""), (run_id,) if run_id else ()
            )
        except sqlite3.OperationalError:  # the run's process is still creating the tables
            return []
        return sorted(rows.fetchall())


def kill_after(events: int, workflow: Path, store: Path) -> str:
    """Start a run, SIGKILL it once at least ``events`` events are committed; return its id."""
    env = environment(store)
    process = subprocess.Popen(
        [sys.executable, "-m", "podium", "run", str(workflow), "--quiet"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    try:
        while len(stored_events(store)) < events and process.poll() is None:
            assert time.monotonic() < deadline, "the run never reached that many events"
            time.sleep(0.002)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    (run_id,) = {row[0] for row in stored_events(store)}
    return run_id


def final_state(result: subprocess.CompletedProcess[str]) -> dict[str, object]:
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    return {"status": data["status"], "output": data["output"]}


@pytest.fixture(scope="module")
def workflow(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("crash") / "crashy.yaml"
    path.write_text(WORKFLOW, encoding="utf-8")
    path.with_name("gate.py").write_text(GATE, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def reference(
    workflow: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[dict[str, object], int]:
    """The uninterrupted run: its final state, and how many events it commits before the
    gate (its last task's first model call, which asks for the gate tool)."""
    store = tmp_path_factory.mktemp("reference") / "runs.db"
    open_gate(store)
    state = final_state(podium("run", str(workflow), "--json", store=store))
    bodies = [body for _, _, body in stored_events(store)]
    at_gate = next(
        n for n, body in enumerate(bodies, 1) if '"model_called"' in body and '"final"' in body
    )
    return state, at_gate


@pytest.mark.parametrize("fraction", [0.05, 0.15, 0.3, 0.45, 0.6, 0.75, 0.9, 1.0])
def test_a_killed_run_resumes_to_the_same_result(
    fraction: float, workflow: Path, reference: tuple[dict[str, object], int], tmp_path: Path
) -> None:
    expected, at_gate = reference
    store = tmp_path / "runs.db"
    run_id = kill_after(max(2, round(at_gate * fraction)), workflow, store)  # 1.0: at the gate
    before = stored_events(store, run_id)
    assert not any('"run_completed"' in body for _, _, body in before), "killed too late"
    (listed,) = json.loads(podium("runs", "--json", store=store).stdout)
    assert listed["status"] == "interrupted"

    open_gate(store)
    resumed = podium("resume", run_id, "--json", store=store)

    assert final_state(resumed) == expected
    after = stored_events(store, run_id)
    assert after[: len(before)] == before  # nothing committed before the kill was lost
    events = [load_event(body) for _, _, body in after]
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    succeeded = Counter(
        (e.task_id, e.iteration)  # type: ignore[attr-defined]
        for e in events
        if e.kind == "task_succeeded"
    )
    assert succeeded, "the run did something"
    assert max(succeeded.values()) == 1, f"a task succeeded twice: {succeeded.most_common(3)}"
    listed = json.loads(podium("runs", "--json", store=store).stdout)
    assert [r["status"] for r in listed] == ["succeeded"]
