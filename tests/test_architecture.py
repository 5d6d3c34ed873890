"""The shape of the package: layering contracts, the public API, and a light ``import podium``."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import podium

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_are_kept() -> None:
    """The graph core imports no LLM/UI library and layers only import downwards."""
    lint_imports = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert lint_imports is not None, "import-linter is part of the test extra"
    done = subprocess.run(
        [lint_imports], cwd=ROOT, capture_output=True, text=True, check=False, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def test_public_api_is_pinned() -> None:
    assert podium.__all__ == sorted(podium.__all__)
    assert podium.__all__ == [
        "Agent",
        "Answer",
        "AtLeast",
        "CircuitPolicy",
        "ConfigError",
        "Context",
        "ContextAccessError",
        "InputSpec",
        "KeySpec",
        "KnowledgeBase",
        "LearningRouter",
        "LoopSpec",
        "MapSpec",
        "Model",
        "ModelError",
        "ModelRequest",
        "ModelResponse",
        "OutputValidationError",
        "Plan",
        "PlanSpec",
        "PodiumError",
        "Policy",
        "RetryPolicy",
        "Review",
        "Router",
        "RunResult",
        "ScriptedModel",
        "SqliteStore",
        "StoreError",
        "Task",
        "TaskError",
        "Tool",
        "ToolError",
        "Verification",
        "Workflow",
        "WorkflowValidationError",
        "aresume",
        "arun",
        "run",
        "search_tool",
        "tool",
    ]
    for name in podium.__all__:
        assert getattr(podium, name) is not None


def test_import_podium_loads_no_model_runtime_or_ui() -> None:
    code = (
        "import sys, podium\n"
        "heavy = {'llama_cpp', 'rich', 'typer', 'numpy'} & set(sys.modules)\n"
        "print(sorted(heavy))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"
