"""A run the server executes outlives the server: stopped with it, resumed on the next one."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from served import TOKEN, serving, sse_events

from podium.server import ServerConfig
from podium.testing.clock import ManualClock

GATED = textwrap.dedent(
    """\
    name: gated
    model: scripted
    agents:
      writer: {instructions: You write.}
      keeper: {instructions: You wait at the gate., tools: ["server_gate:wait_for_gate"]}
    tasks:
      - {id: t1, agent: writer, instruction: Step 1}
      - {id: t2, agent: keeper, needs: [t1], instruction: "Step 2 after {{ t1 }}"}
      - {id: t3, agent: writer, needs: [t2], instruction: "Step 3 after {{ t2 }}"}
    scripted:
      t2: [{tool_call: {name: wait_for_gate, arguments: {}}}, "through the gate"]
    """
)
"""Step 2 calls a tool that waits until the test opens the gate (a file): the run is held
there, at any machine load, while the server stops."""

GATE = textwrap.dedent(
    '''\
    import asyncio
    import os
    from pathlib import Path


    async def wait_for_gate() -> str:
        """Wait until the test creates the gate file."""
        while not Path(os.environ["PODIUM_TEST_GATE"]).exists():
            await asyncio.sleep(0.01)
        return "open"
    '''
)


async def test_a_run_stopped_with_the_server_resumes_on_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = tmp_path / "gate.open"
    monkeypatch.setenv("PODIUM_TEST_GATE", str(gate))
    (tmp_path / "server_gate.py").write_text(GATE, encoding="utf-8")
    (tmp_path / "gated.yaml").write_text(GATED, encoding="utf-8")
    clock = ManualClock()
    config = ServerConfig(token=TOKEN, store=tmp_path / "runs.db", clock=clock)

    async with serving(config, clock, tmp_path) as first, first.client() as client:
        started = await client.post("/v1/runs", json={"workflow": str(tmp_path / "gated.yaml")})
        run_id = started.json()["run_id"]
        at_gate = await sse_events(
            client,
            f"/v1/runs/{run_id}/events/stream",
            until=lambda e: e["kind"] == "task_started" and e["task_id"] == "t2",
        )
    # the server has stopped: its run recorded itself cancelled, keeping what it had done
    async with serving(config, clock, tmp_path) as second, second.client() as client:
        stopped = (await client.get(f"/v1/runs/{run_id}")).json()
        assert stopped["status"] == "cancelled"
        assert [t["status"] for t in stopped["tasks"]][:2] == ["succeeded", "interrupted"]
        gate.touch()
        resumed = await client.post(f"/v1/runs/{run_id}/resume")
        assert resumed.status_code == 202
        after = await sse_events(
            client,
            f"/v1/runs/{run_id}/events/stream?after={at_gate[-1]['seq']}",
            until=lambda e: e["kind"] == "run_completed" and e["status"] == "succeeded",
        )
    starts = [e["task_id"] for e in at_gate + after if e["kind"] == "task_started"]
    assert starts.count("t1") == 1  # done before the restart, not done again
    assert starts.count("t3") == 1
