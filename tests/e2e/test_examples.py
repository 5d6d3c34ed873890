"""The example workflows in ``examples/``, run end to end through the CLI in a subprocess.

Every top-level example runs with ``--model scripted`` (its canned ``scripted:`` answers) and
no inputs, so each must have a default for every input. Files that other examples use only
as sub-workflows (``workflow: other.yaml``) are run through their parent. The structure each
example is meant to show is checked on what the run recorded: ``podium run --json``,
``podium show --json`` and the events in the store.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest
import yaml

from podium import SqliteStore
from podium.event import Event, LoopIterated, MapExpanded, TaskSkipped
from podium.ids import RunId

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
_TIMEOUT_S = 120
_ENDED = {"succeeded", "skipped"}


def _documents() -> dict[str, dict[str, Any]]:  # Any: raw YAML documents
    return {p.name: yaml.safe_load(p.read_text(encoding="utf-8")) for p in EXAMPLES.glob("*.yaml")}


def _included(value: Any) -> Iterator[str]:  # Any: raw YAML data
    """File names a workflow document includes as sub-workflows (``workflow: x.yaml``)."""
    if isinstance(value, dict):
        for key, item in cast("dict[str, Any]", value).items():
            if key == "workflow" and isinstance(item, str):
                yield Path(item).name
            else:
                yield from _included(item)
    elif isinstance(value, list):
        for item in cast("list[Any]", value):
            yield from _included(item)


def _top_level() -> list[str]:
    documents = _documents()
    included = {name for doc in documents.values() for name in _included(doc.get("tasks"))}
    return sorted(set(documents) - included)


TOP_LEVEL = _top_level()


def _canned(example: str, task_id: str, index: int = -1) -> Any:  # Any: a YAML answer
    """The ``index``-th canned answer an example scripts for ``task_id``."""
    return _documents()[example]["scripted"][task_id][index]


@dataclass(frozen=True, slots=True)
class Run:
    """One example run through the CLI, with what it recorded."""

    result: dict[str, Any]  # Any: `podium run --json`
    state: dict[str, Any]  # Any: `podium show --json`
    events: list[Event]

    def task(self, task_id: str) -> dict[str, Any]:  # Any: a task's JSON state
        return self.state["tasks"][task_id]

    def output_of(self, task_id: str) -> Any:  # Any: a JSON output
        return self.task(task_id)["output"]


def _podium(
    *args: str, store: Path, timeout: float = _TIMEOUT_S
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PODIUM_STORE": str(store), "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "podium", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )


def _run_json(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:  # Any: JSON
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    result: dict[str, Any] = json.loads(proc.stdout)  # Any: JSON values
    return result


def _events(store: Path, run_id: str) -> list[Event]:
    async def read() -> list[Event]:
        async with SqliteStore(store) as opened:
            return await opened.read(RunId(run_id))

    return asyncio.run(read())


@pytest.fixture(scope="module")
def scripted_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    """Every top-level example, run once with ``--model scripted`` and no inputs."""
    store = tmp_path_factory.mktemp("examples") / "runs.db"
    runs: dict[str, Run] = {}
    for name in TOP_LEVEL:
        path = str(EXAMPLES / name)
        result = _run_json(_podium("run", path, "--model", "scripted", "--json", store=store))
        state = _run_json(_podium("show", result["run_id"], "--json", store=store))
        runs[name] = Run(result=result, state=state, events=_events(store, result["run_id"]))
    return runs


def test_the_three_business_examples_are_top_level() -> None:
    assert {"market_report.yaml", "support_triage.yaml", "due_diligence.yaml"} <= set(TOP_LEVEL)
    assert "executive_summary.yaml" not in TOP_LEVEL


@pytest.mark.parametrize("example", sorted(p.name for p in EXAMPLES.glob("*.yaml")))
def test_example_is_valid(example: str, tmp_path: Path) -> None:
    proc = _podium("validate", str(EXAMPLES / example), store=tmp_path / "runs.db")

    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "is valid" in proc.stdout


@pytest.mark.parametrize("example", TOP_LEVEL)
def test_example_succeeds_offline_with_canned_answers(
    example: str, scripted_runs: dict[str, Run]
) -> None:
    run = scripted_runs[example]

    assert run.result["status"] == "succeeded"
    assert run.result["error"] is None
    assert isinstance(run.result["output"], str)
    assert run.result["output"].strip()
    assert {t["status"] for t in run.result["tasks"].values()} <= _ENDED
    assert run.state["output"] == run.result["output"]


def test_market_report_researches_in_parallel_then_revises_until_approved(
    scripted_runs: dict[str, Run],
) -> None:
    run = scripted_runs["market_report.yaml"]
    loop = [(e.iteration, e.is_done) for e in run.events if isinstance(e, LoopIterated)]
    research = ("market_size", "competitors", "regulation")

    assert all(run.task(t)["status"] == "succeeded" for t in research)
    assert {n["id"]: n["needs"] for n in run.state["graph"]}["findings"] == list(research)
    assert loop == [(1, False), (2, True)]
    assert run.task("revise/draft")["iteration"] == 2
    assert run.output_of("revise/draft") == _canned("market_report.yaml", "draft", 1)
    assert run.output_of("revise/review")["approved"] is True
    assert run.result["output"] == _canned("market_report.yaml", "report")


def test_support_triage_routes_to_billing_and_skips_the_other_specialists(
    scripted_runs: dict[str, Run],
) -> None:
    run = scripted_runs["support_triage.yaml"]
    skipped = {e.task_id: e.reason for e in run.events if isinstance(e, TaskSkipped)}

    assert run.output_of("classify")["category"] == "billing"
    assert run.output_of("route")["choice"] == "billing"
    assert run.task("billing")["status"] == "succeeded"
    assert skipped == {
        "technical": "router 'route' chose 'billing'",
        "account": "router 'route' chose 'billing'",
    }
    assert run.task("escalate")["status"] == "succeeded"  # urgency is high: `when` holds
    assert run.task("qa")["status"] == "succeeded"  # join: any, after the one specialist
    assert run.result["output"] == _canned("support_triage.yaml", "qa")


def test_due_diligence_extracts_each_document_and_briefs_through_a_sub_workflow(
    scripted_runs: dict[str, Run],
) -> None:
    run = scripted_runs["due_diligence.yaml"]
    documents = _documents()["due_diligence.yaml"]["inputs"]["documents"]["default"]
    expanded = [e.items for e in run.events if isinstance(e, MapExpanded)]
    extractions = run.output_of("extract")
    brief = run.output_of("executive_brief/brief")

    assert expanded == [len(documents)]
    assert len(extractions) == len(documents)
    assert all(run.task(f"extract[{i}]")["status"] == "succeeded" for i in range(len(documents)))
    assert all(
        set(e) == {"parties", "obligations", "risks", "risk_level"} and e["risks"]
        for e in extractions
    )
    assert [e["risk_level"] for e in extractions] == ["high", "medium", "low", "high"]
    assert run.task("executive_brief/priorities")["status"] == "succeeded"
    assert brief == _canned("executive_summary.yaml", "brief")
    assert run.output_of("executive_brief") == brief
    assert run.result["output"] == _canned("due_diligence.yaml", "memo")


@pytest.mark.slow
def test_market_report_runs_on_the_embedded_model(tmp_path: Path) -> None:
    store = tmp_path / "runs.db"
    path = str(EXAMPLES / "market_report.yaml")

    result = _run_json(_podium("run", path, "--json", store=store, timeout=600))
    state = _run_json(_podium("show", result["run_id"], "--json", store=store))

    assert result["status"] == "succeeded", result["error"]
    assert {t["status"] for t in state["tasks"].values()} <= _ENDED
    assert {n["id"] for n in state["graph"]} <= set(state["tasks"])
    assert isinstance(result["output"], str)
    assert result["output"].strip()
