"""``podium feedback`` and ``podium metrics`` end to end, each step in its own process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


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


def run_example(name: str, store: Path) -> str:
    done = podium(
        "run", str(ROOT / "examples" / name), "--model", "scripted", "--json", store=store
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["run_id"]


def test_feedback_shows_in_metrics(tmp_path: Path) -> None:
    store = tmp_path / "runs.db"
    report = run_example("market_report.yaml", store)
    run_example("support_triage.yaml", store)
    rated = podium("feedback", report, "--score", "4", "--comment", "useful", store=store)
    assert rated.returncode == 0, rated.stderr
    assert f"recorded 4/5 for run {report}" in rated.stdout

    done = podium("metrics", "--json", store=store)
    assert done.returncode == 0, done.stderr
    metrics = json.loads(done.stdout)
    overall = metrics["overall"]["current"]
    assert (overall["runs"], overall["finished"], overall["in_progress"]) == (2, 2, 0)
    assert (overall["completed"], overall["completion_rate"]) == (2, 1.0)
    assert (overall["feedback_count"], overall["satisfaction"]) == (1, 4.0)
    assert overall["hallucination_rate"] == "n/a"
    groups = {g["group"]: g["current"] for g in metrics["groups"]}
    assert sorted(groups) == ["market_report", "support_triage"]
    assert groups["market_report"]["satisfaction"] == 4.0
    assert groups["support_triage"]["satisfaction"] is None
    assert metrics["overall"]["previous"]["runs"] == 0

    table = podium("metrics", "--by", "agent", store=store)
    assert table.returncode == 0, table.stderr
    assert "2 runs started since" in table.stdout
    assert "writer" in table.stdout


def test_feedback_rejects_a_bad_score_or_task(tmp_path: Path) -> None:
    store = tmp_path / "runs.db"
    run_id = run_example("market_report.yaml", store)
    done = podium("feedback", run_id, "--score", "6", store=store)
    assert done.returncode == 2
    assert "from 1 to 5" in done.stderr
    done = podium("feedback", run_id, "--score", "3", "--task", "nope", store=store)
    assert done.returncode == 2
    assert "no task 'nope'" in done.stderr
    done = podium("feedback", "unknown-run", "--score", "3", store=store)
    assert done.returncode == 2
    metrics = json.loads(podium("metrics", "--json", store=store).stdout)
    assert metrics["overall"]["current"]["feedback_count"] == 0


def test_metrics_with_no_runs(tmp_path: Path) -> None:
    done = podium("metrics", "--window", "24h", store=tmp_path / "none.db")
    assert done.returncode == 0, done.stderr
    assert "0 runs started since" in done.stdout
    assert podium("metrics", "--window", "7", store=tmp_path / "none.db").returncode == 2
