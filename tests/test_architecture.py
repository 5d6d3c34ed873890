"""The shape of the package: layering contracts, the public API, and a light ``import podium``."""

from __future__ import annotations

import ast
import inspect
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


def test_src_type_checks_strict() -> None:
    """basedpyright, strict (``[tool.basedpyright]`` in pyproject.toml), finds nothing in src/.

    Among what it guards: every event is constructed with checked fields, and every fold over
    the event union ends in ``assert_never``, so a new event kind must be handled everywhere.
    """
    checker = shutil.which("basedpyright", path=str(Path(sys.executable).parent))
    assert checker is not None, "basedpyright is part of the test extra"
    done = subprocess.run(
        [checker, "--pythonpath", sys.executable],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr
    assert "0 errors" in done.stdout


PUBLIC_API = [
    "Agent",
    "Answer",
    "AtLeast",
    "Budget",
    "Cancellation",
    "CaseScore",
    "CircuitPolicy",
    "Clock",
    "ConfigError",
    "Context",
    "ContextAccessError",
    "Duration",
    "EvalCase",
    "GroupMetrics",
    "InputSpec",
    "KeySpec",
    "KnowledgeBase",
    "LearningRouter",
    "LoopSpec",
    "MapSpec",
    "Metrics",
    "MetricsReport",
    "Model",
    "ModelError",
    "ModelRequest",
    "ModelResponse",
    "OutputValidationError",
    "Plan",
    "PlanSpec",
    "PlanState",
    "PodiumError",
    "Policy",
    "PostgresStore",
    "Preference",
    "RetryPolicy",
    "Review",
    "Router",
    "RunId",
    "RunNotFoundError",
    "RunResult",
    "RunState",
    "RunStateError",
    "RunSummary",
    "ScriptedModel",
    "Shown",
    "SignalSpec",
    "SqliteStore",
    "Store",
    "StoreArg",
    "StoreError",
    "Suite",
    "SuiteScore",
    "SystemClock",
    "Task",
    "TaskError",
    "TaskId",
    "TaskState",
    "TemporalTarget",
    "Tool",
    "ToolError",
    "Verification",
    "WaitSpec",
    "Workflow",
    "WorkflowState",
    "WorkflowValidationError",
    "approve",
    "arun",
    "cancel",
    "cancel_on_temporal",
    "check_team",
    "configure_logging",
    "configure_tracing",
    "default_store",
    "default_store_path",
    "deny",
    "evaluate",
    "feedback",
    "find_team",
    "get_run",
    "goal_inputs",
    "list_runs",
    "load_suite",
    "load_workflow",
    "load_yaml",
    "metrics",
    "metrics_series",
    "opened_store",
    "pending_approvals",
    "read_claim",
    "replay",
    "resume",
    "routing_preferences",
    "run",
    "run_on_temporal",
    "search_tool",
    "serve_worker",
    "shown_status",
    "shown_statuses",
    "signal",
    "store_exists",
    "tasks_in_graph_order",
    "tool",
    "validate_workflow",
    "workflow_states",
]
FACADE = [
    "approve",
    "cancel",
    "deny",
    "feedback",
    "get_run",
    "list_runs",
    "metrics",
    "metrics_series",
    "replay",
    "resume",
    "routing_preferences",
    "signal",
]
PUBLIC_MODULES = frozenset({"podium", "podium.event"})
"""What the CLI may import besides itself: the facade and the event types (the log format)."""
EDGES = frozenset({"podium.protocols.mcp.server", "podium.protocols.a2a.server"})
"""Other edges the CLI starts (``podium mcp``, ``podium a2a``); they too use only the public
API, as an import-linter contract checks."""


def test_public_api_is_pinned() -> None:
    assert podium.__all__ == sorted(podium.__all__)
    assert podium.__all__ == PUBLIC_API
    for name in podium.__all__:
        assert getattr(podium, name) is not None


def test_the_facade_is_async_without_suffix_and_takes_a_store() -> None:
    """Only run()/arun() is a sync/async pair; every other entry is a coroutine function."""
    assert not inspect.iscoroutinefunction(podium.run)
    assert inspect.iscoroutinefunction(podium.arun)
    assert inspect.signature(podium.run).parameters.keys() == (
        inspect.signature(podium.arun).parameters.keys()
    )
    for name in FACADE:
        function = getattr(podium, name)
        assert inspect.iscoroutinefunction(function), name
        store = inspect.signature(function).parameters["store"]
        assert store.kind is inspect.Parameter.KEYWORD_ONLY, name
        assert store.default is None, name
        doc = inspect.getdoc(function) or ""
        assert "Args:" in doc and "Returns:" in doc and "Raises:" in doc, name


def _internal_imports(package: str, allowed: frozenset[str]) -> list[tuple[str, str]]:
    """(file, module) for each podium module a package imports beyond ``allowed`` and itself."""
    reached: set[tuple[str, str]] = set()
    for path in sorted((ROOT / "src" / "podium" / package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            modules: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                modules = [node.module]
            elif isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            for module in modules:
                is_ours = module == "podium" or module.startswith("podium.")
                is_own = module.startswith(f"podium.{package}")
                if is_ours and module not in allowed and not is_own:
                    reached.add((path.name, module))
    return sorted(reached)


def test_the_cli_imports_only_the_public_api() -> None:
    """Besides the facade, the CLI may start the servers (``podium serve``, ``podium mcp``,
    ``podium a2a``), themselves edges."""
    assert _internal_imports("cli", PUBLIC_MODULES | {"podium.server"} | EDGES) == []


def test_the_server_imports_only_the_public_api() -> None:
    assert _internal_imports("server", PUBLIC_MODULES) == []


def test_import_podium_loads_no_model_runtime_or_ui() -> None:
    code = (
        "import sys, podium\n"
        "heavy = {'llama_cpp', 'rich', 'typer', 'numpy', 'fastapi', 'starlette', 'uvicorn',"
        " 'mcp', 'a2a', 'temporalio'}\n"
        "heavy &= set(sys.modules)\n"
        "print(sorted(heavy))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"
