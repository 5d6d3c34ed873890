"""The command line on a PostgreSQL store: ``--store postgresql://...`` or ``PODIUM_STORE``.

Each test has a schema of its own on the server at 127.0.0.1:5432 (``postgres_url``), and is
skipped, saying why, where no server answers.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from podium_cli import PodiumCli

BRIEF = """\
name: brief
agents:
  researcher:
    instructions: You research.
  writer:
    instructions: You write.
tasks:
  - id: research
    agent: researcher
    instruction: Research cats
  - id: write
    agent: writer
    needs: [research]
    instruction: Write from {{ research }}
scripted:
  research: ["Cats sleep sixteen hours a day."]
  write: ["# Cat report"]
"""


@pytest.fixture
def cli(tmp_path: Path, postgres_url: str) -> PodiumCli:
    """The CLI with ``PODIUM_STORE`` naming this test's schema; no SQLite file is made."""
    cli = PodiumCli(tmp_path)
    cli.env["PODIUM_STORE"] = postgres_url
    cli.write("brief.yaml", BRIEF)
    return cli


def test_run_runs_and_show_on_the_store_the_environment_names(cli: PodiumCli) -> None:
    first = cli.json("run", "brief.yaml", "--model", "scripted")
    second = cli.json("run", "brief.yaml", "--model", "scripted")

    runs = cli.json("runs")
    shown = cli.json("show", second["run_id"][:8])

    assert (first["status"], second["status"]) == ("succeeded", "succeeded")
    assert [r["run_id"] for r in runs] == [second["run_id"], first["run_id"]]
    assert shown["run_id"] == second["run_id"]
    assert shown["output"] == "# Cat report"
    assert not list(cli.dir.glob("*.db"))


def test_store_option_names_the_database(cli: PodiumCli, postgres_url: str) -> None:
    cli.env["PODIUM_STORE"] = str(cli.dir / "elsewhere.db")
    run = cli.json("run", "brief.yaml", "--model", "scripted", "--store", postgres_url)

    listed = cli.json("runs", "--store", postgres_url)
    local = cli("runs")

    assert [r["run_id"] for r in listed] == [run["run_id"]]
    assert local.stdout.strip() == f"no runs yet in {cli.dir / 'elsewhere.db'}"


def test_gc_and_metrics_read_the_database(cli: PodiumCli) -> None:
    run = cli.json("run", "brief.yaml", "--model", "scripted")

    metrics = cli.json("metrics", "--window", "1d")
    kept = cli.json("gc", "--older-than", "1d")
    removed = cli.json("gc", "--older-than", "1ms")  # started a whole process ago

    assert metrics["overall"]["current"]["runs"] == 1
    assert kept["removed"] == []
    assert [r["run_id"] for r in removed["removed"]] == [run["run_id"]]
    assert cli.json("runs") == []


def test_a_server_that_does_not_answer_is_a_clear_error(cli: PodiumCli) -> None:
    cli.env["PODIUM_STORE"] = "postgresql://podium@127.0.0.1:1/none?connect_timeout=2"

    result = cli("runs")

    assert result.returncode != 0
    assert "postgres store postgresql://podium@127.0.0.1:1/none" in result.stderr
    assert "cannot open" in result.stderr
    assert "Traceback" not in result.stderr
