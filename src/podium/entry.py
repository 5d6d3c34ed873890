"""The entry points: ``run()`` and ``await arun()`` a workflow (an object or a YAML file)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from contextlib import AsyncExitStack
from pathlib import Path

from pydantic import JsonValue

from podium.clock import Clock
from podium.engine.local import LocalEngine
from podium.event import Event
from podium.ids import IdFactory, TaskId
from podium.models.base import Model
from podium.run import RunResult
from podium.stores.base import Store
from podium.workflow.model import Workflow

__all__ = ["arun", "run"]


async def arun(
    workflow: Workflow | str | Path,
    inputs: Mapping[str, JsonValue] | None = None,
    *,
    model: str | Model | None = None,
    store: Store | None = None,
    clock: Clock | None = None,
    ids: IdFactory | None = None,
    on_event: Callable[[Event], None] | None = None,
    on_token: Callable[[TaskId, str], None] | None = None,
    max_concurrency: int | None = None,
) -> RunResult:
    """Run a workflow to the end and return its result.

    Args:
        workflow: a ``Workflow``, or the path of a workflow YAML file.
        inputs: the workflow's inputs (defaults fill the rest).
        model: a model or model name replacing every agent's model for this run
            (``"scripted"`` runs offline with canned answers).
        store: where the run is recorded; by default the SQLite file chosen by
            ``podium.stores.location.default_store_path`` (closed when the run ends).
        clock: time source; ``ManualClock`` in tests.
        ids: run id factory.
        on_event: called with each event as it is recorded (it is durable once the engine
            acts on it; see ``podium.engine.recorder``).
        on_token: called with ``(task id, text)`` as models stream their answers.
        max_concurrency: at most this many agent tasks at once (default: the workflow's).

    Returns:
        The result: status, final output, per-task states, the context and the events.

    Raises:
        ConfigError: the workflow file is malformed, invalid, or an input is wrong.
    """
    if not isinstance(workflow, Workflow):
        from podium.workflow.yaml import load_workflow

        workflow = load_workflow(workflow)
    async with AsyncExitStack() as stack:
        if store is None:
            from podium.stores.location import default_store_path
            from podium.stores.sqlite import SqliteStore

            store = SqliteStore(default_store_path())
            stack.push_async_callback(store.aclose)
        engine = LocalEngine(
            store=store,
            clock=clock,
            ids=ids,
            model=model,
            max_concurrency=max_concurrency,
            subscribers=(on_event,) if on_event else (),
            token_listener=on_token,
        )
        return await engine.execute(workflow, inputs)


def run(
    workflow: Workflow | str | Path,
    inputs: Mapping[str, JsonValue] | None = None,
    *,
    model: str | Model | None = None,
    store: Store | None = None,
    on_event: Callable[[Event], None] | None = None,
    max_concurrency: int | None = None,
) -> RunResult:
    """Run a workflow from synchronous code; see ``arun``."""
    return asyncio.run(
        arun(
            workflow,
            inputs,
            model=model,
            store=store,
            on_event=on_event,
            max_concurrency=max_concurrency,
        )
    )
