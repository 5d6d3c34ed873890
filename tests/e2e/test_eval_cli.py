"""``podium eval SUITE.yaml`` end to end, on the scripted model (the default team's canned
answers): every question runs as a recorded goal, and the scores follow from the answers."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from podium_cli import PodiumCli

EXAMPLES = Path(__file__).parents[2] / "examples"

SUITE = """\
name: tiny
docs: docs
questions:
  - question: How many electric two-wheelers were sold in 2024?
    facts: ["300,000", "/VinFast/", "Honda"]
    wrong: ["300 million", "/40 ?percent/"]
  - question: Who leads the market?
    facts: [VinFast]
"""


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> PodiumCli:
    monkeypatch.setenv("PODIUM_CACHE_DIR", str(tmp_path / "cache"))
    shutil.copytree(EXAMPLES / "docs", tmp_path / "docs")
    return PodiumCli(tmp_path)


def test_eval_scores_each_question_and_records_each_run(cli: PodiumCli) -> None:
    cli.write("suite.yaml", SUITE)

    report = cli.json("eval", "suite.yaml", "--model", "scripted")

    first, second = report["questions"]
    # the canned answer states 300,000 and VinFast (and VinFast's 40 percent), not Honda
    assert (first["found"], first["missed"]) == (["300,000", "/VinFast/"], ["Honda"])
    assert first["wrong"] == ["/40 ?percent/"]
    assert first["recall"] == pytest.approx(2 / 3)
    # both canned claims are sentences of the documents, cited by the passage that holds them
    assert (first["claims"], first["valid_citations"]) == (2, 2)
    assert first["hallucination_rate"] == 0.0
    assert first["tokens"] > 0 and first["status"] == "succeeded"
    totals = report["totals"]
    assert totals["questions"] == 2
    assert totals["recall"] == pytest.approx(3 / 4)
    assert (totals["wrong_facts"], totals["citation_validity"]) == (1, 1.0)
    runs = cli.json("runs")
    assert {r["run_id"] for r in runs} == {first["run_id"], second["run_id"]}
    assert cli.json("metrics")["groups"][0]["current"]["runs"] == 2


def test_eval_prints_a_table_and_the_totals(cli: PodiumCli) -> None:
    cli.write("suite.yaml", SUITE)

    result = cli("eval", "suite.yaml", "--model", "scripted")

    assert result.returncode == 0, result.stderr
    assert "Who leads the market?" in result.stdout
    assert (
        "2 questions · recall 75% · wrong facts 1 · invented numbers 0 · citation validity 100%"
        in result.stdout
    )


def test_a_bad_suite_is_refused_with_what_is_wrong(cli: PodiumCli) -> None:
    cli.write("suite.yaml", "name: x\ndocs: docs\nquestions:\n  - question: Why\n    fact: [a]\n")

    result = cli("eval", "suite.yaml")

    assert result.returncode == 2
    said = " ".join(result.stderr.split())
    assert "suite.yaml" in said and "questions.0.fact" in said
    assert not cli.store.exists()  # nothing ran
