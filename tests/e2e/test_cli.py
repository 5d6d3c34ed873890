"""The ``podium`` command line, end to end: each test runs it in a subprocess.

Every run is recorded in ``tmp_path/runs.db`` (``PODIUM_STORE``) and uses the scripted model,
so nothing leaves the machine and answers are canned. Standard input is closed and standard
output is a pipe, so the CLI prints one line per task instead of the live view.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path

import pytest
from podium_cli import DEADLINE as _DEADLINE
from podium_cli import PodiumCli

import podium
from podium.ids import SequentialIdFactory

BRIEF = """\
name: brief
inputs:
  docs: {default: [a, b]}
  n: {default: 1}
agents:
  researcher:
    instructions: You research.
  writer:
    instructions: You write.
tasks:
  - id: research
    agent: researcher
    instruction: Research {{ n }} things
  - id: summarize
    needs: [research]
    map:
      over: docs
      task:
        id: summarize_one
        agent: researcher
        instruction: Summarize {{ item }}
  - id: write
    agent: writer
    needs: [summarize]
    instruction: Write from {{ research }} and {{ summarize }}
scripted:
  research: ["Cats sleep sixteen hours a day."]
  write: ["# Cat report\\n\\nCats rule the house."]
"""

FAILING = """\
name: failing
model: scripted
agents:
  extractor:
    output_schema: {title: str, score: int}
    max_repairs: 1
  writer: {}
tasks:
  - id: extract
    agent: extractor
    instruction: Extract a title and a score.
  - id: write
    agent: writer
    needs: [extract]
    instruction: Write about {{ extract.title }}
scripted:
  extract: ["this is not JSON", "still not JSON", "never JSON"]
"""

INVALID = """\
name: invalid
agents:
  writer: {}
tasks:
  - id: draft
    agent: writer
    needs: [review]
  - id: review
    agent: ghost
    needs: [draft]
"""

MALFORMED = """\
name: malformed
tasks:
  - id: draft
    agent: [writer
"""

SLOW_DRIVER = """\
import signal
import sys
from datetime import timedelta
from pathlib import Path

from podium import Agent, ScriptedModel, Task, Workflow
from podium.cli.run import RunOptions, run_workflow

signal.signal(signal.SIGINT, signal.default_int_handler)  # a shell may start us ignoring it
flow = Workflow(
    name="slow",
    inputs={"topic": {"default": "naps"}},
    agents=(
        Agent(name="planner", model=ScriptedModel(["plan: one long nap"])),
        Agent(name="sleeper", model=ScriptedModel(["rested"], latency=timedelta(minutes=5))),
    ),
    tasks=(
        Task(id="plan", agent="planner", instruction="Plan naps on {{ topic }}"),
        Task(id="nap", agent="sleeper", instruction="Follow {{ plan }}", needs=("plan",)),
    ),
)
sys.exit(run_workflow(flow, RunOptions(store=Path(sys.argv[1]))))
"""

Cli = PodiumCli


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path)


def _run_id(stdout: str) -> str:
    match = re.search(r"^run (\S+) succeeded in .* — podium show \1$", stdout, re.MULTILINE)
    assert match, stdout
    return match.group(1)


def test_run_prints_each_task_the_output_and_the_run_id(cli: Cli) -> None:
    cli.write("brief.yaml", BRIEF)

    result = cli("run", "brief.yaml", "--model", "scripted")

    assert result.returncode == 0, result.stderr
    assert re.search(r"^✓ research\s+researcher\s+\S+s\s+\d+ tok$", result.stdout, re.MULTILINE)
    assert re.search(r"^✓ summarize\[1\]\s+researcher", result.stdout, re.MULTILINE)
    assert "# Cat report\n\nCats rule the house." in result.stdout
    run_id = _run_id(result.stdout)
    assert re.search(
        rf"run {run_id} succeeded in \S+ · 5 tasks · [\d,]+ tokens · \$0\.0000", result.stdout
    )
    assert result.stderr == ""


def test_run_json_prints_one_object_and_nothing_else(cli: Cli) -> None:
    cli.write("brief.yaml", BRIEF)

    report = cli.json("run", "brief.yaml", "--model", "scripted")

    assert report["status"] == "succeeded"
    assert report["error"] is None
    assert report["output"] == "# Cat report\n\nCats rule the house."
    assert report["tasks"]["research"]["agent"] == "researcher"
    assert report["tasks"]["research"]["tokens"] > 0
    assert set(report["tasks"]) == {
        "research",
        "summarize",
        "summarize[0]",
        "summarize[1]",
        "write",
    }


def test_quiet_prints_only_the_output(cli: Cli) -> None:
    cli.write("brief.yaml", BRIEF)

    result = cli("run", "brief.yaml", "--model", "scripted", "--quiet")

    assert result.returncode == 0, result.stderr
    assert result.stdout == "# Cat report\n\nCats rule the house.\n"


def test_inputs_are_read_as_yaml_and_a_list_feeds_a_map(cli: Cli) -> None:
    cli.write("brief.yaml", BRIEF)

    report = cli.json(
        "run", "brief.yaml", "--model", "scripted", "-i", "docs=[x, y, z]", "--input", "n=3"
    )
    state = cli.json("show", report["run_id"])

    assert report["tasks"]["summarize[2]"]["status"] == "succeeded"
    assert "summarize[3]" not in report["tasks"]
    assert state["inputs"] == {"docs": ["x", "y", "z"], "n": 3}


def test_runs_lists_recorded_runs_newest_first(cli: Cli) -> None:
    cli.write("brief.yaml", BRIEF)
    first = cli.json("run", "brief.yaml", "--model", "scripted")["run_id"]
    second = cli.json("run", "brief.yaml", "--model", "scripted")["run_id"]

    table = cli("runs")
    runs = cli.json("runs")

    assert table.returncode == 0, table.stderr
    assert first in table.stdout and second in table.stdout and "brief" in table.stdout
    assert [r["run_id"] for r in runs] == [second, first]
    assert runs[0]["status"] == "succeeded"
    assert runs[0]["tasks_succeeded"] == 5


def test_runs_on_an_empty_store_says_so(cli: Cli) -> None:
    result = cli("runs")

    assert result.returncode == 0
    assert result.stdout.strip() == f"no runs yet in {cli.store}"
    assert not cli.store.exists()


def test_show_a_prefix_prints_graph_tasks_context_and_output(cli: Cli) -> None:
    cli.write("brief.yaml", BRIEF)
    run_id = cli.json("run", "brief.yaml", "--model", "scripted")["run_id"]

    result = cli("show", run_id[:5])

    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert re.search(rf"^run\s+{run_id}\s*$", out, re.MULTILINE)
    assert re.search(r"^workflow\s+brief\s*$", out, re.MULTILINE)
    assert re.search(r"├── ✓ summarize\s+map\s+succeeded\s+needs research", out)
    assert re.search(r"│\s+├── ✓ summarize\[0\]\s+researcher\s+succeeded", out)
    assert re.search(r"^\s+summarize\[1\]\s+researcher\s+✓ succeeded", out, re.MULTILINE)
    assert re.search(r"^docs\s+v1\s+input\s", out, re.MULTILINE)
    assert re.search(
        r"^research\s+v1\s+researcher · task research\s.*Cats sleep", out, re.MULTILINE
    )
    assert "- summarize: mapped over 2 items" in out
    assert out.rstrip().endswith("# Cat report\n\nCats rule the house.")


def test_show_json_is_the_run_state(cli: Cli) -> None:
    cli.write("brief.yaml", BRIEF)
    run_id = cli.json("run", "brief.yaml", "--model", "scripted")["run_id"]

    state = cli.json("show", run_id)

    assert state["run_id"] == run_id
    assert state["workflow"] == "brief"
    assert state["tasks"]["write"]["status"] == "succeeded"
    assert [w["key"] for w in state["writes"]] == ["docs", "n", "research", "summarize", "write"]
    assert state["writes"][2]["agent"] == "researcher"
    assert [n["id"] for n in state["graph"]] == ["research", "summarize", "write"]


def test_show_an_unknown_run_exits_2(cli: Cli) -> None:
    cli.write("brief.yaml", BRIEF)
    cli.json("run", "brief.yaml", "--model", "scripted")

    result = cli("show", "zzzz")

    assert result.returncode == 2
    assert "no run matches 'zzzz'" in result.stderr
    assert "Traceback" not in result.stderr


def test_show_an_ambiguous_prefix_exits_2_listing_the_candidates(cli: Cli) -> None:
    flow = cli.write("brief.yaml", BRIEF)
    ids = SequentialIdFactory("demo")
    asyncio.run(_record_runs(flow, cli.store, ids, count=2))

    result = cli("show", "demo")
    exact = cli("show", "demo-2")

    assert result.returncode == 2
    assert "'demo' matches 2 runs" in result.stderr
    assert "demo-1" in result.stderr and "demo-2" in result.stderr
    assert exact.returncode == 0, exact.stderr


async def _record_runs(flow: Path, store: Path, ids: SequentialIdFactory, *, count: int) -> None:
    async with podium.SqliteStore(store) as opened:
        for _ in range(count):
            await podium.arun(flow, model="scripted", store=opened, ids=ids)


def test_malformed_yaml_exits_2_with_file_and_line(cli: Cli) -> None:
    cli.write("malformed.yaml", MALFORMED)

    result = cli("run", "malformed.yaml", "--model", "scripted")

    assert result.returncode == 2
    assert re.search(r"malformed\.yaml:\d+:\d+: invalid YAML", result.stderr)
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("command", ["run", "validate"])
def test_an_invalid_workflow_exits_2_listing_every_problem(cli: Cli, command: str) -> None:
    cli.write("invalid.yaml", INVALID)

    result = cli(command, "invalid.yaml")

    assert result.returncode == 2
    assert "2 problems" in result.stderr
    assert re.search(r"invalid\.yaml:\d+:\d+ .*cycle: draft -> review -> draft", result.stderr)
    assert re.search(r"invalid\.yaml:9:\d+ .*'ghost'", result.stderr)
    assert "Traceback" not in result.stderr


def test_validate_a_valid_workflow(cli: Cli) -> None:
    cli.write("brief.yaml", BRIEF)

    result = cli("validate", "brief.yaml")

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "brief.yaml is valid: 4 tasks, 2 agents"


@pytest.mark.parametrize(
    ("command", "target"), [("run", "report.yaml"), ("validate", "write a report about cats")]
)
def test_a_missing_workflow_file_exits_2(cli: Cli, command: str, target: str) -> None:
    result = cli(command, target)

    assert result.returncode == 2
    assert f"no workflow file {target!r}" in result.stderr


def test_a_failing_run_exits_1_and_is_recorded_as_failed(cli: Cli) -> None:
    cli.write("failing.yaml", FAILING)

    result = cli("run", "failing.yaml")
    runs = cli.json("runs")

    assert result.returncode == 1
    assert re.search(r"✗ extract \(extractor\): OutputValidationError: .*schema", result.stderr)
    assert "✗ write" not in result.stderr  # skipped because its need failed, not failed itself
    assert re.search(r"^↷ write\s+writer\s.*skipped", result.stdout, re.MULTILINE)
    assert runs[0]["status"] == "failed"
    assert runs[0]["tasks_failed"] == 1
    assert "extract" in runs[0]["error"]


def test_runs_filters_by_status_and_start(cli: Cli) -> None:
    cli.write("failing.yaml", FAILING)
    cli.write("brief.yaml", BRIEF)
    failed = cli("run", "failing.yaml")
    succeeded = cli.json("run", "brief.yaml", "--model", "scripted")["run_id"]

    only_failed = cli.json("runs", "--status", "failed")
    recent = cli.json("runs", "--since", "1d")
    none_interrupted = cli.json("runs", "--status", "interrupted")
    bad = cli("runs", "--status", "lost")

    assert failed.returncode == 1
    assert [r["status"] for r in only_failed] == ["failed"]
    assert [r["status"] for r in recent] == ["succeeded", "failed"]
    assert recent[0]["run_id"] == succeeded
    assert none_interrupted == []
    assert bad.returncode == 2
    assert "'lost': give running, interrupted, waiting" in bad.stderr


def test_a_run_stopped_by_its_budget_goes_on_when_resume_raises_it(cli: Cli) -> None:
    cli.write("brief.yaml", BRIEF)
    first = cli("run", "brief.yaml", "--model", "scripted", "--max-calls", "1", "--json")
    assert first.returncode == 1, first.stderr
    run_id = json.loads(first.stdout)["run_id"]
    assert "over its max_model_calls of 1" in json.loads(first.stdout)["error"]

    again = cli("resume", run_id, "--json")
    assert again.returncode == 1  # the same limit stops it again before anything runs
    assert "over its max_model_calls of 1" in json.loads(again.stdout)["error"]
    bad = cli("resume", run_id, "--max-time", "soon")
    assert bad.returncode == 2, bad.stderr

    report = cli.json("resume", run_id, "--max-calls", "10")

    assert report["status"] == "succeeded"
    assert report["output"] == "# Cat report\n\nCats rule the house."


@pytest.mark.parametrize("command", [(), ("run",), ("runs",), ("show",), ("validate",)])
def test_every_command_has_help(cli: Cli, command: Sequence[str]) -> None:
    result = cli(*command, "--help")

    assert result.returncode == 0, result.stderr
    assert f"Usage: podium {' '.join(command)}".rstrip() in result.stdout


def test_version(cli: Cli) -> None:
    result = cli("--version")

    assert result.returncode == 0
    assert result.stdout.strip() == f"podium {_installed_version()}"


def _installed_version() -> str:
    from importlib.metadata import version

    return version("podium")


@pytest.mark.parametrize(
    "args",
    [
        ("run", "x.yaml", "--bogus"),
        ("frobnicate",),
        ("runs", "--limit", "0"),
        ("run", "x.yaml", "-i", "novalue"),
    ],
)
def test_bad_usage_exits_2(cli: Cli, args: Sequence[str]) -> None:
    cli.write("x.yaml", BRIEF)

    result = cli(*args)

    assert result.returncode == 2
    assert "Usage: podium" in result.stderr
    assert "Traceback" not in result.stderr


def test_ctrl_c_cancels_the_run_and_keeps_its_log(cli: Cli) -> None:
    driver = cli.write("slow_driver.py", SLOW_DRIVER)
    with subprocess.Popen(
        [sys.executable, str(driver), str(cli.store)],
        cwd=cli.dir,
        env=cli.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
    ) as process:
        try:
            _wait_for_event(cli.store, process, kind="task_succeeded")
            process.send_signal(signal.SIGINT)
            stdout, stderr = process.communicate(timeout=_DEADLINE)
        finally:
            if process.poll() is None:
                process.kill()

    assert process.returncode == 130, stderr
    match = re.search(r"run (\S+) cancelled; its log is kept: podium show \1", stderr)
    assert match, stderr
    assert re.search(r"^✓ plan\s+planner", stdout, re.MULTILINE)
    [run] = cli.json("runs")
    assert run["run_id"] == match.group(1)
    assert run["status"] == "cancelled"
    state = cli.json("show", run["run_id"])
    assert state["tasks"]["plan"]["status"] == "succeeded"
    assert [(w["key"], w["value"]) for w in state["writes"]] == [
        ("topic", "naps"),
        ("plan", "plan: one long nap"),
    ]


def _wait_for_event(store: Path, process: subprocess.Popen[str], *, kind: str) -> None:
    """Poll the store until an event of ``kind`` is committed (bounded by a deadline).

    The engine commits a ``task_started`` together with the task's next event, so a task that
    is still working shows in the store only through the events before it.
    """
    deadline = time.monotonic() + _DEADLINE
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        if store.exists():
            try:
                with closing(sqlite3.connect(store)) as conn:
                    query = "SELECT 1 FROM events WHERE kind = ?"
                    if conn.execute(query, (kind,)).fetchone() is not None:
                        return
            except sqlite3.OperationalError:  # the store is still being created
                pass
        time.sleep(0.02)
    pytest.fail(f"the run never recorded a {kind} event")
