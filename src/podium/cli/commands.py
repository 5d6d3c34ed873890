"""The commands of ``podium``, each imported only when it runs.

A command's module imports what the command needs (the engine, the store, rich tables), which
takes far longer than the command line itself. ``CommandGroup`` lists the commands from
``COMMANDS``, so ``podium --help`` imports none of them; a command's module is imported when
the command is invoked or asked for its own help.
"""

from __future__ import annotations

import importlib
from typing import Any, Final

import typer
from typer.core import TyperCommand, TyperGroup

__all__ = ["COMMANDS", "CommandGroup", "load_command"]

COMMANDS: Final[dict[str, tuple[str, str, str]]] = {
    "run": (
        "podium.cli.run",
        "run_command",
        "Run a workflow file, or plan and run a goal; show the tasks live; print the output.",
    ),
    "worker": (
        "podium.cli.worker",
        "worker_command",
        "Serve a Temporal task queue: run podium workflows and their agent tasks until stopped.",
    ),
    "runs": (
        "podium.cli.runs",
        "runs_command",
        "List recorded runs, newest first: status, start time, duration, tasks, tokens, cost.",
    ),
    "show": (
        "podium.cli.runs",
        "show_command",
        "Show one run in full: graph, tasks, context with provenance, notes and output.",
    ),
    "validate": (
        "podium.cli.validate",
        "validate_command",
        "Check a workflow file without running it: YAML syntax, fields, agents, the task graph.",
    ),
    "resume": (
        "podium.cli.resume",
        "resume_command",
        "Continue an interrupted, cancelled or failed run from its log.",
    ),
    "replay": (
        "podium.cli.resume",
        "replay_command",
        "Re-execute a recorded run from its log, as a new run, without calling any model or tool.",
    ),
    "approvals": (
        "podium.cli.approvals",
        "approvals_command",
        "List the tasks waiting for a human decision, across runs.",
    ),
    "approve": (
        "podium.cli.approvals",
        "approve_command",
        "Approve waiting tasks of a run (optionally with an edited output) and resume it.",
    ),
    "deny": (
        "podium.cli.approvals",
        "deny_command",
        "Deny waiting tasks of a run and resume it: each fails like any failure would.",
    ),
    "signal": (
        "podium.cli.signals",
        "signal_command",
        "Send a signal to a run (its `wait:` tasks take it, --data their output) and resume it.",
    ),
    "cancel": (
        "podium.cli.cancel",
        "cancel_command",
        "Cancel a running, interrupted or waiting run; `podium resume RUN` continues it later.",
    ),
    "gc": (
        "podium.cli.gc",
        "gc_command",
        "Remove runs that started before a cutoff, with their whole event log.",
    ),
    "feedback": (
        "podium.cli.feedback",
        "feedback_command",
        "Rate a run (or one task of it) from 1 to 5; `podium metrics` shows the mean.",
    ),
    "metrics": (
        "podium.cli.metrics",
        "metrics_command",
        "Metrics of the runs that started in the window, per workflow, agent or model.",
    ),
    "eval": (
        "podium.cli.evaluation",
        "eval_command",
        "Ask a suite's questions about its documents and score the answers.",
    ),
    "serve": (
        "podium.cli.serve",
        "serve_command",
        "Serve the REST API (/v1, described at /v1/openapi.json) and the dashboard until Ctrl-C.",
    ),
    "mcp": (
        "podium.cli.mcp",
        "mcp_command",
        "Serve podium to MCP hosts: run workflows and goals, read runs, decide approvals.",
    ),
    "a2a": (
        "podium.cli.a2a",
        "a2a_command",
        "Serve the team (agent `team`, for goals) and each workflow as A2A agents.",
    ),
}
"""Each command: its module, its function there, and the line ``podium --help`` shows (the
first paragraph of the function's docstring; a test keeps the two the same)."""


def load_command(name: str) -> TyperCommand:
    """Import command ``name`` and build it as Typer does."""
    module, function, _ = COMMANDS[name]
    single = typer.Typer(add_completion=False, rich_markup_mode="markdown")
    single.command(name)(getattr(importlib.import_module(module), function))
    command = typer.main.get_command(single)
    assert isinstance(command, TyperCommand)
    return command


class CommandGroup(TyperGroup):
    """The ``podium`` group: every command of ``COMMANDS``, imported when used."""

    def __init__(self, **settings: Any) -> None:  # Any: Typer's group settings
        super().__init__(**settings)
        for name in COMMANDS:
            self.add_command(_Deferred(name))


class _Deferred(TyperCommand):
    """Stands for a command in the group's help; imports it once it is invoked."""

    def __init__(self, name: str) -> None:
        summary = COMMANDS[name][2]
        super().__init__(name=name, help=summary, short_help=summary)

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: Any = None,  # Any: the parent click context
        **extra: Any,  # Any: click's context settings
    ) -> Any:  # Any: the command's click context
        assert self.name is not None
        return load_command(self.name).make_context(info_name, args, parent=parent, **extra)
