"""The ``podium`` command: the Typer app that gathers the commands, and ``main()``.

``main`` is the console script (``podium = "podium.cli.app:main"``) and what
``python -m podium`` calls.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated

import typer

from podium import configure_logging, configure_tracing
from podium.cli.a2a import a2a_command
from podium.cli.approvals import approvals_command, approve_command, deny_command
from podium.cli.cancel import cancel_command
from podium.cli.evaluation import eval_command
from podium.cli.feedback import feedback_command
from podium.cli.gc import gc_command
from podium.cli.mcp import mcp_command
from podium.cli.metrics import metrics_command
from podium.cli.resume import replay_command, resume_command
from podium.cli.run import run_command
from podium.cli.runs import runs_command, show_command
from podium.cli.serve import serve_command
from podium.cli.validate import validate_command

__all__ = ["app", "main"]

app = typer.Typer(
    name="podium",
    help="podium runs a team of AI agents over a task graph, in parallel, with every step "
    "recorded.\n\nRun a workflow file with a live view (podium run), list past runs "
    "(podium runs), and see which agent did what, when, and at what cost (podium show).",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="markdown",
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.command("run")(run_command)
app.command("runs")(runs_command)
app.command("show")(show_command)
app.command("validate")(validate_command)
app.command("resume")(resume_command)
app.command("replay")(replay_command)
app.command("approvals")(approvals_command)
app.command("approve")(approve_command)
app.command("deny")(deny_command)
app.command("cancel")(cancel_command)
app.command("gc")(gc_command)
app.command("feedback")(feedback_command)
app.command("metrics")(metrics_command)
app.command("eval")(eval_command)
app.command("serve")(serve_command)
app.command("mcp")(mcp_command)
app.command("a2a")(a2a_command)


def _package_version() -> str:
    try:
        return version("podium")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "unknown"


def _print_version(is_asked: bool) -> None:
    if is_asked:
        typer.echo(f"podium {_package_version()}")
        raise typer.Exit


@app.callback()
def _root(
    show_version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print podium's version and exit.",
        ),
    ] = False,
) -> None:
    """Run and inspect podium workflows."""


def main(argv: Sequence[str] | None = None) -> None:
    """Run the ``podium`` command line with ``argv`` (default: ``sys.argv[1:]``); exits."""
    # The library only logs; the CLI decides where warnings go ($PODIUM_LOG_LEVEL for more).
    level = os.environ.get("PODIUM_LOG_LEVEL", "WARNING").upper()
    if level not in logging.getLevelNamesMapping():
        sys.stderr.write(f"PODIUM_LOG_LEVEL={level!r} is not a log level; using WARNING\n")
        level = "WARNING"
    configure_logging(level)  # JSON lines off a terminal; every line has run and task ids
    configure_tracing()  # an OTLP exporter when OTEL_EXPORTER_OTLP_*ENDPOINT is set
    app(args=list(argv) if argv is not None else None, prog_name="podium")
