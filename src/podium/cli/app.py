"""The ``podium`` command: the Typer app that gathers the commands, and ``main()``.

``main`` is the console script (``podium = "podium.cli.app:main"``) and what
``python -m podium`` calls.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from typing import Annotated

import typer

from podium.cli.commands import CommandGroup

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
    cls=CommandGroup,  # each command's module is imported when the command runs
)


def _package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version  # slow to import: only here

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
    from podium import configure_logging, configure_tracing

    configure_logging(level)  # JSON lines off a terminal; every line has run and task ids
    configure_tracing()  # an OTLP exporter when OTEL_EXPORTER_OTLP_*ENDPOINT is set
    try:
        app(args=list(argv) if argv is not None else None, prog_name="podium")
    except SystemExit as done:
        if "temporalio.client" in sys.modules:
            _exit_before_temporal_threads_can_abort(done.code)
        raise


def _exit_before_temporal_threads_can_abort(code: object) -> None:
    """End a command that used a Temporal client without finalizing the interpreter.

    The Temporal SDK's Rust threads may take the GIL while the interpreter finalizes, which
    aborts the process after its work is done ("PyGILState_Release ... finalizing", exit -6;
    temporalio/sdk-python#300). Run the exit handlers (tracing's flush), flush the streams,
    and leave with the command's own code.
    """
    import atexit

    if isinstance(code, str):
        sys.stderr.write(code + "\n")
    atexit._run_exitfuncs()  # pyright: ignore[reportPrivateUsage]
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code if isinstance(code, int) else 0 if code is None else 1)
