"""The ``podium`` command group: every command listed without importing it, and imported to run."""

from __future__ import annotations

import inspect
import subprocess
import sys

import pytest

from podium.cli.commands import COMMANDS, load_command


@pytest.mark.parametrize("name", list(COMMANDS))
def test_the_help_line_of_each_command_is_the_first_paragraph_of_its_docstring(
    name: str,
) -> None:
    command = load_command(name)
    assert command.callback is not None
    paragraph = inspect.getdoc(command.callback).split("\n\n")[0]  # type: ignore[union-attr]
    assert COMMANDS[name][2] == " ".join(paragraph.split())


def test_podium_help_lists_every_command_and_imports_none() -> None:
    script = (
        "import sys\n"
        "from podium.cli.app import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('podium.cli.') or m in\n"
        "    ('pydantic', 'jinja2', 'podium.engine', 'podium.event', 'sqlite3'))\n"
        "print('LOADED', loaded)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    for name in COMMANDS:
        assert f" {name} " in done.stdout
    assert "LOADED ['podium.cli.app', 'podium.cli.commands']" in done.stdout
