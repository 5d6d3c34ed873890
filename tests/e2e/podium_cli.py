"""``PodiumCli``: runs ``python -m podium`` in a subprocess against one store, as a user would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

DEADLINE = 60.0
"""Seconds any one CLI call may take before the test fails instead of hanging."""

_TERMINAL_ENV = frozenset({"FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "COLUMNS"})


class PodiumCli:
    """Runs ``python -m podium`` against one store, in a scratch directory, stdin closed."""

    def __init__(self, tmp_path: Path) -> None:
        self.dir = tmp_path
        self.store = tmp_path / "runs.db"
        self.env = {k: v for k, v in os.environ.items() if k not in _TERMINAL_ENV}
        self.env |= {"PODIUM_STORE": str(self.store), "PYTHONIOENCODING": "utf-8"}

    def write(self, name: str, text: str) -> Path:
        """Write a file (a workflow, a tool module) into the scratch directory."""
        path = self.dir / name
        path.write_text(text, encoding="utf-8")
        return path

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "podium", *args],
            cwd=self.dir,
            env=self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=DEADLINE,
            check=False,
        )

    def json(self, *args: str) -> Any:  # Any: parsed JSON
        """Run with ``--json`` and parse stdout; the command must succeed."""
        result = self(*args, "--json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)
