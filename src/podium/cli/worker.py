"""``podium worker --engine temporal``: serve a Temporal task queue; and the options with which
``podium run --engine temporal`` starts a run there."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

import podium
from podium.cli.live import RunView

if TYPE_CHECKING:
    from podium.cli.run import RunOptions, Start

__all__ = [
    "AddressOption",
    "EngineOption",
    "QueueOption",
    "engine_of",
    "temporal_starter",
    "worker_command",
]

Engine = Literal["local", "temporal"]

EngineOption = Annotated[
    str,
    typer.Option(
        metavar="ENGINE",
        help="Where tasks run: local (this process) or temporal (a Temporal workflow whose "
        "attempts run on `podium worker --engine temporal` processes; give --store a "
        "PostgreSQL URL they share).",
    ),
]
AddressOption = Annotated[
    str,
    typer.Option("--temporal-address", metavar="HOST:PORT", help="The Temporal service."),
]
QueueOption = Annotated[
    str,
    typer.Option("--task-queue", metavar="NAME", help="The Temporal task queue of the workers."),
]
StoreOption = Annotated[
    str,
    typer.Option(
        metavar="URL",
        help="The store every worker shares: a PostgreSQL URL (postgresql://...).",
        show_default=False,
    ),
]


def engine_of(engine: str) -> Engine:
    """The engine ``--engine`` names.

    Raises:
        typer.BadParameter: no such engine.
    """
    if engine not in ("local", "temporal"):
        raise typer.BadParameter(f"{engine!r}: use local or temporal", param_hint="'--engine'")
    return "temporal" if engine == "temporal" else "local"


def worker_command(
    *,
    store: StoreOption,
    engine: EngineOption = "temporal",
    temporal_address: AddressOption = "127.0.0.1:7233",
    task_queue: QueueOption = "podium",
    max_concurrent: Annotated[
        int | None,
        typer.Option(min=1, metavar="N", help="At most N attempts at once.", show_default=False),
    ] = None,
) -> None:
    """Serve a Temporal task queue: run podium workflows and their agent tasks until stopped.

    Start as many workers as you like, on any machines that share --store and can read the
    workflow files at the paths runs give; a run whose worker dies goes on on another.
    """
    if engine_of(engine) != "temporal":
        raise typer.BadParameter("workers serve the temporal engine", param_hint="'--engine'")
    target = podium.TemporalTarget(address=temporal_address, task_queue=task_queue)
    try:
        asyncio.run(
            podium.serve_worker(target, store=store, max_concurrent_activities=max_concurrent)
        )
    except KeyboardInterrupt:
        raise typer.Exit(0) from None


def temporal_starter(path: Path, options: RunOptions, target: podium.TemporalTarget) -> Start:
    """Starts the workflow file at ``path`` as a Temporal workflow; its events reach the view
    once the run has ended (they are read from the shared store)."""

    async def start(store: podium.Store, view: RunView) -> object:
        model = options.model if isinstance(options.model, str) else None
        result = await podium.run_on_temporal(
            path,
            options.inputs,
            temporal=target,
            store=store,
            model=model,
            budget=options.budget,
            max_concurrency=options.max_concurrency,
        )
        for event in result.events:
            view.apply(event)
        return result

    return start
