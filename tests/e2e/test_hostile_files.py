"""Hostile files and arguments at the command line: a clear error, exit 2, nothing recorded.

Each command runs in a subprocess with the CLI's usual deadline; none may hang, crash with a
traceback, or be recorded as a podium bug.
"""

from __future__ import annotations

import json

import pytest
from podium_cli import PodiumCli

FLOW = """\
name: flow
inputs:
  price: {default: 1.5}
agents:
  a: {instructions: You answer.}
tasks:
  - {id: t, agent: a, instruction: "%s"}
"""


@pytest.fixture
def cli(tmp_path: PodiumCli) -> PodiumCli:
    return PodiumCli(tmp_path)  # type: ignore[arg-type]


def billion_laughs() -> str:
    text = FLOW % "go" + 'lol: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n'
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True):
        text += f"x{name}: &{name} [{', '.join([f'*{previous}'] * 9)}]\n"
    return text


def test_validate_refuses_a_billion_laughs_file(cli: PodiumCli) -> None:
    cli.write("bomb.yaml", billion_laughs())

    result = cli("validate", "bomb.yaml")

    assert result.returncode == 2
    assert "cannot load workflow bomb.yaml: over a limit" in result.stderr
    assert "aliases expand into too many nodes" in result.stderr
    assert "Traceback" not in result.stderr


def test_deeply_nested_brackets_are_refused_with_the_line(cli: PodiumCli) -> None:
    cli.write("deep.yaml", FLOW % "go" + "extra: " + "[" * 5000 + "]" * 5000 + "\n")

    result = cli("validate", "deep.yaml")

    assert result.returncode == 2
    assert "deep.yaml:8:" in result.stderr
    assert "too deeply nested" in result.stderr
    assert "RecursionError" not in result.stderr


def test_a_file_over_the_size_cap_is_refused(cli: PodiumCli) -> None:
    cli.write("big.yaml", FLOW % "go" + "# padding\n" * 500)
    cli.env["PODIUM_MAX_YAML_BYTES"] = "1000"

    result = cli("run", "big.yaml", "--model", "scripted")

    assert result.returncode == 2
    assert "is too large" in result.stderr
    assert "set PODIUM_MAX_YAML_BYTES to raise it" in result.stderr
    assert not cli.store.exists() or cli("runs", "--json").stdout.strip() == "[]"


def test_an_infinite_number_in_a_workflow_is_refused_with_its_line(cli: PodiumCli) -> None:
    cli.write("inf.yaml", (FLOW % "{{ price }}").replace("1.5", ".inf"))

    result = cli("validate", "inf.yaml")

    assert result.returncode == 2
    assert "inf.yaml:3:" in result.stderr
    assert "finite number" in result.stderr


def test_an_infinite_input_is_refused_before_the_run(cli: PodiumCli) -> None:
    cli.write("flow.yaml", FLOW % "{{ price }}")

    result = cli("run", "flow.yaml", "--model", "scripted", "-i", "price=.inf")

    assert result.returncode == 2
    assert "input 'price' holds a NaN or infinite number" in result.stderr
    assert cli("runs", "--json").stdout.strip() == "[]"


def test_a_template_over_its_limits_fails_its_task_not_podium(cli: PodiumCli) -> None:
    cli.write("range.yaml", FLOW % "{% for i in range(10**12) %}x{% endfor %}")

    result = cli("run", "range.yaml", "--model", "scripted", "--json")

    assert result.returncode == 1
    data = json.loads(result.stdout)
    assert data["status"] == "failed"
    assert data["error"].startswith("task 't' failed: TemplateLimitError: ")
    assert "podium bug" not in result.stdout + result.stderr


def test_run_on_a_directory_says_what_to_give_instead(cli: PodiumCli) -> None:
    (cli.dir / "docs").mkdir()

    result = cli("run", "docs", "--model", "scripted")

    assert result.returncode == 2
    assert "'docs' is a directory" in result.stderr
    assert "--docs docs" in result.stderr
    assert not cli.store.exists()
