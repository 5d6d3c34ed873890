"""``podium run "GOAL"`` end to end: plan a goal on a team, run it, answer with citations.

Each command runs in a subprocess on the scripted model (the team's canned ``scripted:``
answers), against a scratch store and a scratch cache directory for the knowledge index.
Standard output is a pipe, so the CLI prints one line per task and ``--plan-only`` prints
only the workflow file there.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import pytest
import yaml
from podium_cli import PodiumCli
from test_goal_terminal import converse

from podium.knowledge import KnowledgeBase

GOAL = "Write a short report on e-bikes in Vietnam"
ANSWER = "About 300,000 electric two-wheelers were sold in 2024, and VinFast leads the market."
CLAIMS = [
    "Sales of electric motorbikes and e-bikes reached about 300,000 units in 2024.",
    "VinFast, the domestic carmaker's two-wheeler arm, is the market leader with about 40 percent"
    " of electric two-wheeler sales in 2024.",
]
"""The default team's canned claims: sentences of the sample documents, so that with
``--docs`` they are grounded in real passages and pass the verifier's first pass."""
STEPS = ["research", "analysis", "review"]
"""The steps of the default team's scripted plan."""
PLANNED = frozenset(f"plan/{step}" for step in STEPS)
EXAMPLE_DOCS = Path(__file__).parents[2] / "examples" / "docs"

TEAM = """\
name: tiny-team
inputs:
  goal: {required: true}
agents:
  chief: {instructions: You plan.}
  scout: {instructions: You look around.}
  scribe: {instructions: You write.}
output: findings
tasks:
  - id: plan
    output: findings
    plan: {goal: "{{ goal }}", planner: chief}
scripted:
  chief:
    - steps:
        - {id: look, agent: scout, instruction: "Look around."}
        - {id: write_up, agent: scribe, instruction: "Write it up.", needs: [look]}
  scout: ["Saw three e-bike shops."]
  scribe: ["Three shops sell e-bikes."]
"""

FLAKY_TEAM = """\
name: flaky-team
inputs:
  goal: {required: true}
defaults:
  retry: {max_attempts: 1}
agents:
  chief: {instructions: You plan.}
  scout: {instructions: You look around.}
  scribe:
    instructions: You write a title.
    output_schema: {title: str}
    max_repairs: 0
output: findings
tasks:
  - id: plan
    output: findings
    plan: {goal: "{{ goal }}", planner: chief, max_replans: 0}
scripted:
  chief:
    - steps:
        - {id: look, agent: scout, instruction: "Look around."}
        - {id: write_up, agent: scribe, instruction: "Write it up.", needs: [look]}
  scout: ["Saw three e-bike shops."]
  scribe: [SCRIBE]
"""


@pytest.fixture
def cli(tmp_path: Path) -> PodiumCli:
    cli = PodiumCli(tmp_path)
    cli.env["PODIUM_CACHE_DIR"] = str(tmp_path / "cache")
    return cli


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    return shutil.copytree(EXAMPLE_DOCS, tmp_path / "docs")


def _run_id(stdout: str) -> str:
    match = re.search(r"^run (\S+) succeeded in .* — podium show \1$", stdout, re.MULTILINE)
    assert match, stdout
    return match.group(1)


def _section(stdout: str, title: str) -> list[str]:
    """The lines under a heading of a printed answer, up to a blank line or the summary."""
    lines = stdout.splitlines()
    start = lines.index(title) + 1
    end = start
    while end < len(lines) and lines[end].strip() and not lines[end].startswith("run "):
        end += 1
    return lines[start:end]


def _words(text: str) -> str:
    """``text`` without rich's box drawing, whitespace collapsed (messages wrap in boxes)."""
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", text).split())


def test_a_goal_prints_the_answer_and_its_claims(cli: PodiumCli) -> None:
    result = cli("run", GOAL, "--model", "scripted")

    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert re.search(r"^✓ plan/planner\s+planner\s", out, re.MULTILINE)
    assert re.search(
        r"^◆ plan\s+plan revision 1: plan/research, plan/analysis, plan/review$", out, re.MULTILINE
    )
    assert re.search(r"^✓ answer/check\s+verifier\s", out, re.MULTILINE)
    assert f"\n{ANSWER}\n" in out
    assert _section(out, "Claims") == [f"{i}. {c} (no source)" for i, c in enumerate(CLAIMS, 1)]
    assert "Sources" not in out.splitlines()
    assert re.search(r"\n\nverified: 2 of 2 claims supported\nrun \S+ succeeded", out), out
    _run_id(out)
    assert result.stderr == ""


def test_a_goal_as_json_gives_the_answer_with_claims(cli: PodiumCli) -> None:
    report = cli.json("run", GOAL, "--model", "scripted")

    assert report["status"] == "succeeded"
    assert report["error"] is None
    assert report["output"] == {
        "answer": ANSWER,
        "claims": [{"text": claim, "sources": []} for claim in CLAIMS],
    }
    agents = {task: state["agent"] for task, state in report["tasks"].items()}
    assert agents["plan/planner"] == "planner"
    assert [agents[f"plan/{step}"] for step in STEPS] == ["researcher", "analyst", "reviewer"]
    assert (agents["answer/draft"], agents["answer/check"]) == ("synthesizer", "verifier")
    assert {state["status"] for state in report["tasks"].values()} == {"succeeded"}


def test_with_docs_the_answer_cites_real_passages(cli: PodiumCli, docs: Path) -> None:
    result = cli("run", GOAL, "--model", "scripted", "--docs", "docs")

    assert result.returncode == 0, result.stderr
    claims = _section(result.stdout, "Claims")
    sources = _section(result.stdout, "Sources")
    cited = re.findall(r"^\[(\d+)\] (\S+) — ", "\n".join(sources), re.MULTILINE)
    assert [number for number, _ in cited] == [str(n) for n in range(1, len(cited) + 1)]
    assert cited, result.stdout
    assert all(re.fullmatch(r"\d+\. .+ (\[\d+\])+", line) for line in claims), claims
    ids = [passage_id for _, passage_id in cited]
    with KnowledgeBase.open(docs, cache_dir=cli.dir / "check-index") as knowledge:
        assert all(knowledge.passage(passage_id) is not None for passage_id in ids), ids
    assert list((cli.dir / "cache" / "knowledge").glob("*.sqlite3"))  # PODIUM_CACHE_DIR

    run_id = _run_id(result.stdout)
    state = cli.json("show", run_id)
    assert state["inputs"]["docs"] == str(docs.resolve())
    assert [c["claim"] for c in state["claims"]] == CLAIMS
    assert {c["verdict"] for c in state["claims"]} == {"supported"}
    assert {s for c in state["claims"] for s in c["sources"]} == set(ids)
    assert set(ids) <= set(state["sources"])


def test_a_goal_as_json_gives_the_verdicts_and_the_cited_passages(
    cli: PodiumCli, docs: Path
) -> None:
    report = cli.json("run", GOAL, "--model", "scripted", "--docs", "docs")

    assert [(c["claim"], c["verdict"]) for c in report["claims"]] == [
        (claim, "supported") for claim in CLAIMS
    ]
    assert all(c["evidence"] and c["sources"] for c in report["claims"])
    cited = {s for c in report["claims"] for s in c["sources"]}
    assert set(report["sources"]) == cited
    with KnowledgeBase.open(docs, cache_dir=cli.dir / "check-index") as knowledge:
        for passage_id, passage in report["sources"].items():
            found = knowledge.passage(passage_id)
            assert found is not None
            assert passage == {"document": found.document, "title": found.title, "text": found.text}
    assert report["hallucination_rate"] == 0.0


def test_a_workflow_without_verification_has_no_verdicts_in_its_json(cli: PodiumCli) -> None:
    cli.write("podium.yaml", TEAM)

    report = cli.json("run", "podium.yaml", "-i", f"goal={GOAL}", "--model", "scripted")

    assert report["status"] == "succeeded"
    assert set(report) == {"run_id", "status", "output", "error", "tasks"}


def test_show_lists_the_plan_and_the_verified_claims(cli: PodiumCli, docs: Path) -> None:
    run_id = _run_id(cli("run", GOAL, "--model", "scripted", "--docs", str(docs)).stdout)

    shown = cli("show", run_id)

    assert shown.returncode == 0, shown.stderr
    out = shown.stdout
    assert re.search(rf"^goal\s+{GOAL}\s*$", out, re.MULTILINE)
    assert re.search(rf"^plan\s+revision 1\s+goal: {GOAL}$", out, re.MULTILINE)
    assert re.search(r"^├── plan/research\s+researcher$", out, re.MULTILINE)
    assert re.search(r"^├── plan/analysis\s+analyst\s+needs plan/research$", out, re.MULTILINE)
    assert re.search(r"^└── plan/review\s+reviewer\s+needs plan/analysis$", out, re.MULTILINE)
    assert re.search(r"^\d+ passages retrieved from \d+ documents; 2 cited by", out, re.MULTILINE)
    for claim in CLAIMS:  # the table wraps long claims: match their start
        row = rf"^answer/check\s+{re.escape(claim[:30])}.*\s+supported\s+\S+#\d+\s"
        assert re.search(row, out, re.MULTILINE), out
    assert "hallucination rate 0.0%: 0 of 2 claims unsupported or contradicted" in out


def test_plan_only_prints_a_workflow_that_runs_without_the_planner(
    cli: PodiumCli, docs: Path
) -> None:
    planned = cli("run", GOAL, "--model", "scripted", "--docs", "docs", "--plan-only")

    assert planned.returncode == 0, planned.stderr
    assert planned.stdout.startswith(f"# Planned by podium for: {GOAL}\n")
    assert f"Plan: {GOAL}" in planned.stderr  # the tree goes to stderr off a terminal
    workflow = yaml.safe_load(planned.stdout)
    assert [s["id"] for s in workflow["tasks"][0]["plan"]["steps"]] == STEPS
    assert workflow["inputs"]["goal"]["default"] == GOAL
    cli.write("planned.yaml", planned.stdout)

    report = cli.json("run", "planned.yaml", "--model", "scripted")

    assert report["status"] == "succeeded"
    assert "plan/planner" not in report["tasks"]
    assert [report["tasks"][f"plan/{s}"]["status"] for s in STEPS] == ["succeeded"] * 3
    assert report["output"]["answer"] == ANSWER
    state = cli.json("show", report["run_id"])
    assert [(p["revision"], p["reason"]) for p in state["plans"]] == [
        (1, "the plan written in the workflow")
    ]
    assert state["inputs"] == {"goal": GOAL, "docs": str(docs.resolve()), "approve_plan": False}
    assert state["sources"]


def test_a_plan_only_workflow_edited_into_a_bad_plan_is_refused_before_it_runs(
    cli: PodiumCli,
) -> None:
    planned = cli("run", GOAL, "--model", "scripted", "--plan-only").stdout
    assert "agent: researcher\n" in planned
    edited = cli.write("planned.yaml", planned.replace("agent: researcher\n", "agent: searcher\n"))
    line = edited.read_text().splitlines().index("      agent: searcher") + 1

    checked = cli("validate", "planned.yaml")
    ran = cli("run", "planned.yaml", "--model", "scripted")

    assert checked.returncode == 2
    said = _words(checked.stderr + checked.stdout)
    assert f"planned.yaml:{line}" in said
    assert "plan 'plan': step 'research', agent: Input should be 'researcher'," in said
    assert ran.returncode == 2
    assert "step 'research', agent: Input should be" in _words(ran.stderr)
    assert len(cli.json("runs")) == 1  # the planning run only: nothing started


def test_plan_only_json_gives_the_run_the_plan_and_the_workflow(cli: PodiumCli) -> None:
    report = cli.json("run", GOAL, "--model", "scripted", "--plan-only")

    assert set(report) == {"run_id", "plan", "workflow"}
    assert [s["id"] for s in report["plan"]["steps"]] == STEPS
    steps = yaml.safe_load(report["workflow"])["tasks"][0]["plan"]["steps"]
    assert [(s["id"], s["agent"]) for s in steps] == [
        (s["id"], s["agent"]) for s in report["plan"]["steps"]
    ]
    state = cli.json("show", report["run_id"])
    assert state["status"] == "succeeded"
    ran = {task for task, t in state["tasks"].items() if t["attempts"]}
    assert ran == {"plan", "plan/planner"}  # planned, and no step ran


def test_a_multi_line_goal_stays_a_comment_in_the_plan_only_workflow(cli: PodiumCli) -> None:
    goal = f"{GOAL}\ntasks: []\n\n  in two lines"

    planned = cli("run", goal, "--model", "scripted", "--plan-only")

    assert planned.returncode == 0, planned.stderr
    header = planned.stdout.split("\nname: ")[0].splitlines()
    assert header[:3] == [f"# Planned by podium for: {GOAL}", "#   tasks: []", "#   "]
    assert all(line.startswith("#") for line in header)
    cli.write("planned.yaml", planned.stdout)
    report = cli.json("run", "planned.yaml", "--model", "scripted")
    assert report["status"] == "succeeded"
    assert cli.json("show", report["run_id"])["inputs"]["goal"] == goal


def test_plan_only_with_approve_plan_is_refused(cli: PodiumCli) -> None:
    result = cli("run", GOAL, "--model", "scripted", "--plan-only", "--approve-plan")

    assert result.returncode == 2
    said = _words(result.stderr)
    assert "--plan-only and --approve-plan do not go together" in said
    assert "--plan-only prints the plan as a workflow file to check and edit" in said
    assert not cli.store.exists()  # nothing ran, so no run waits for an approval it cannot get


@pytest.fixture
def waiting(cli: PodiumCli) -> str:
    """A goal run stopped before its plan runs, waiting for ``plan/planner`` to be approved."""
    done = cli("run", GOAL, "--model", "scripted", "--approve-plan", "--json")
    assert done.returncode == 3, done.stderr
    report = json.loads(done.stdout)
    assert report["status"] == "waiting"
    assert report["tasks"]["plan/planner"]["status"] == "waiting"
    assert not PLANNED & set(report["tasks"])  # no step ran
    return str(report["run_id"])


def test_approve_plan_waits_and_approvals_lists_the_plan(cli: PodiumCli, waiting: str) -> None:
    listed = cli.json("approvals")

    assert [(a["run_id"], a["task_id"], a["agent"]) for a in listed] == [
        (waiting, "plan/planner", "planner")
    ]
    assert [s["id"] for s in listed[0]["output"]["steps"]] == STEPS


def test_approving_the_plan_runs_it_to_the_answer(cli: PodiumCli, waiting: str) -> None:
    done = cli("approve", waiting, "plan/planner", "--json")

    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["status"] == "succeeded"
    assert report["output"]["answer"] == ANSWER
    assert [report["tasks"][f"plan/{s}"]["status"] for s in STEPS] == ["succeeded"] * 3
    assert cli.json("approvals") == []


def test_approving_an_edited_plan_runs_the_edited_steps(cli: PodiumCli, waiting: str) -> None:
    edit = cli.write(
        "plan.yaml",
        "steps:\n  - {id: digest, agent: writer, instruction: Summarize the market.}\n",
    )

    done = cli("approve", waiting, "plan/planner", "--edit", str(edit), "--json")

    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["status"] == "succeeded"
    assert report["tasks"]["plan/digest"]["agent"] == "writer"
    assert not PLANNED & set(report["tasks"])


def test_denying_the_plan_plans_again_with_the_reason_and_nothing_runs(
    cli: PodiumCli, waiting: str
) -> None:
    done = cli("deny", waiting, "plan/planner", "--reason", "no", "--by", "tester", "--json")

    assert done.returncode == 3  # the new plan waits for a person in turn
    report = json.loads(done.stdout)
    assert report["status"] == "waiting"
    tasks = report["tasks"]
    assert tasks["plan/planner"]["status"] == "skipped"  # asked again: it fails nothing
    assert "denied by tester: no" in tasks["plan/planner"]["error"]
    assert tasks["plan/planner-2"]["status"] == "waiting"
    assert not PLANNED & {t for t, v in tasks.items() if v["status"] != "pending"}
    (pending,) = cli.json("approvals")
    assert pending["task_id"] == "plan/planner-2"


_EDITOR = """\
import pathlib, sys
plan = pathlib.Path(sys.argv[1])
plan.write_text(plan.read_text().replace("agent: researcher", "agent: writer"))
"""
"""An editor that gives the plan's research step to the writer."""


@pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")
def test_a_plan_edited_at_the_terminal_runs_as_edited(cli: PodiumCli) -> None:
    editor = cli.write("editor.py", f"#!{sys.executable}\n{_EDITOR}")
    editor.chmod(0o755)
    cli.env["EDITOR"] = str(editor)

    code, screen = converse(
        cli, {b"Run this plan?": b"e\n"}, "run", GOAL, "--model", "scripted", "--approve-plan"
    )

    assert code == 0, screen
    (run,) = cli.json("runs")
    state = cli.json("show", run["run_id"])
    assert state["status"] == "succeeded"
    assert state["tasks"]["plan/research"]["agent"] == "writer"
    assert [s["agent"] for s in state["plans"][-1]["steps"]] == ["writer", "analyst", "reviewer"]


@pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")
def test_a_plan_left_unchanged_in_the_editor_runs_as_proposed(cli: PodiumCli) -> None:
    cli.env["EDITOR"] = "true"  # exits without saving: no change

    code, screen = converse(
        cli, {b"Run this plan?": b"e\n"}, "run", GOAL, "--model", "scripted", "--approve-plan"
    )

    assert code == 0, screen
    (run,) = cli.json("runs")
    state = cli.json("show", run["run_id"])
    assert state["status"] == "succeeded"
    assert state["tasks"]["plan/research"]["agent"] == "researcher"


def test_podium_yaml_here_is_the_team(cli: PodiumCli) -> None:
    cli.write("podium.yaml", TEAM)

    report = cli.json("run", GOAL, "--model", "scripted")

    assert report["status"] == "succeeded"
    agents = {task: state["agent"] for task, state in report["tasks"].items()}
    assert agents == {
        "plan": None,
        "plan/planner": "chief",
        "plan/look": "scout",
        "plan/write_up": "scribe",
    }
    assert report["output"] == {
        "look": "Saw three e-bike shops.",
        "write_up": "Three shops sell e-bikes.",
    }
    assert cli.json("show", report["run_id"])["workflow"] == "tiny-team"


def test_team_option_wins_over_podium_yaml(cli: PodiumCli) -> None:
    cli.write("podium.yaml", TEAM)
    cli.write("other.yaml", TEAM.replace("chief", "boss").replace("tiny-team", "other-team"))

    report = cli.json("run", GOAL, "--model", "scripted", "--team", "other.yaml")

    assert report["tasks"]["plan/planner"]["agent"] == "boss"
    assert cli.json("show", report["run_id"])["workflow"] == "other-team"


def test_a_goal_run_that_failed_after_planning_resumes_with_its_plan(cli: PodiumCli) -> None:
    cli.write("podium.yaml", FLAKY_TEAM.replace("SCRIBE", '"not JSON"'))
    first = cli("run", GOAL, "--model", "scripted", "--json")
    assert first.returncode == 1, first.stderr
    run_id = json.loads(first.stdout)["run_id"]
    cli.write("podium.yaml", FLAKY_TEAM.replace("SCRIBE", "{title: Three shops}"))

    report = cli.json("resume", run_id)

    assert report["status"] == "succeeded"
    assert report["output"]["write_up"] == {"title": "Three shops"}
    state = cli.json("show", run_id)
    assert len(state["plans"]) == 1  # the recorded plan goes on: the planner is not asked again
    assert state["tasks"]["plan/planner"]["attempts"] == 1
    assert state["tasks"]["plan/look"]["attempts"] == 1  # done steps are not redone


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--docs", "notes.txt"], "--docs 'notes.txt' is not a directory"),
        (["--docs", "nowhere"], "--docs 'nowhere' is not a directory"),
        (["--team", "missing.yaml"], "no team file 'missing.yaml'"),
        (["--team", "no-goal.yaml"], "no-goal.yaml' has no `goal` input"),
        (["--team", "no-plan.yaml"], "no-plan.yaml' has no plan task"),
    ],
)
def test_bad_goal_options_exit_2_naming_the_problem(
    cli: PodiumCli, args: list[str], message: str
) -> None:
    cli.write("notes.txt", "not a directory")
    cli.write("no-goal.yaml", "name: t\nagents: {w: {}}\ntasks: [{id: a, agent: w}]\n")
    no_plan = "name: t\ninputs: {goal: {}}\nagents: {w: {}}\ntasks: [{id: a, agent: w}]\n"
    cli.write("no-plan.yaml", no_plan)

    result = cli("run", GOAL, "--model", "scripted", *args)

    assert result.returncode == 2
    assert message in result.stderr
    assert result.stdout == ""
    assert not cli.store.exists()  # nothing ran


def test_goal_options_with_a_workflow_file_exit_2(cli: PodiumCli, docs: Path) -> None:
    cli.write("podium.yaml", TEAM)

    result = cli("run", "podium.yaml", "--docs", str(docs), "--model", "scripted")

    assert result.returncode == 2
    said = _words(result.stderr)
    assert "--team, --docs, --plan-only and --approve-plan apply to a goal, not a file" in said
    assert "a workflow takes documents as an input: -i docs=DIR" in said
    assert not cli.store.exists()


def test_a_goal_too_long_for_a_file_name_runs_as_a_goal(cli: PodiumCli) -> None:
    goal = f"{GOAL}, covering {', '.join(f'city {n}' for n in range(40))}"
    assert len(goal.encode()) > 255  # over NAME_MAX: asking the OS about it as a file fails

    report = cli.json("run", goal, "--model", "scripted")

    assert report["status"] == "succeeded"
    assert cli.json("show", report["run_id"])["goal"] == goal


def test_a_workflow_file_name_too_long_for_the_os_is_not_found(cli: PodiumCli) -> None:
    result = cli("run", "x" * 300 + ".yaml", "--model", "scripted")

    assert result.returncode == 2
    assert "no workflow file" in result.stderr
    assert not cli.store.exists()


@pytest.mark.parametrize("goal", ["", "   "])
def test_an_empty_goal_exits_2(cli: PodiumCli, goal: str) -> None:
    result = cli("run", goal, "--model", "scripted")

    assert result.returncode == 2
    assert "the goal is empty" in result.stderr
    assert not cli.store.exists()


def test_run_help_explains_goals_and_their_options(cli: PodiumCli) -> None:
    result = cli("run", "--help")

    assert result.returncode == 0, result.stderr
    text = _words(result.stdout)
    assert "podium run [OPTIONS] {FILE|GOAL}" in text
    assert "A goal in plain words" in text
    for option in ("--team FILE", "--docs DIR", "--plan-only", "--approve-plan"):
        assert option in text


def test_unreadable_documents_are_listed_and_the_answer_is_not_called_verified(
    cli: PodiumCli, docs: Path
) -> None:
    (docs / "broken.pdf").write_bytes(b"%PDF-1.4 not really a pdf")

    result = cli("run", GOAL, "--model", "scripted", "--docs", "docs")

    assert result.returncode == 4, result.stderr  # succeeded, but not against every document
    said = _words(result.stderr)
    assert "skipped 1 unreadable document; the answer is not verified against them:" in said
    assert "broken.pdf" in said
    assert _run_id(result.stdout)  # the answer is still given
    shown = cli("show", _run_id(result.stdout))  # the run's log says so too
    assert "skipped broken.pdf (unreadable:" in _words(shown.stdout)


def test_an_empty_docs_folder_is_refused_before_anything_runs(cli: PodiumCli) -> None:
    (cli.dir / "empty").mkdir()

    result = cli("run", GOAL, "--model", "scripted", "--docs", "empty")

    assert result.returncode == 2
    assert "holds no documents to read" in _words(result.stderr)
    assert not cli.store.exists()
