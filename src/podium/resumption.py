"""``podium.resume``: continue a run from its log on the engine it ran on.

A run of one process is resumed here, by the local engine (``podium.entry``). A run on Temporal
(its ``run_started`` names its workflow) is resumed on Temporal, by a new execution of its
workflow that any worker carries (``podium.distributed``). This module chooses between the two
by the run's log, so that neither the local engine nor the facade below it imports Temporal.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from podium.budget import Budget
from podium.clock import Clock
from podium.distributed import resume_on_temporal
from podium.entry import resume_here
from podium.errors import ConfigError
from podium.event import Event
from podium.history import resolve_run_id
from podium.ids import TaskId
from podium.liveness import temporal_ref
from podium.run import RunResult
from podium.stores.argument import StoreArg, opened_store
from podium.workflow.model import Workflow

__all__ = ["resume"]


async def resume(
    run_id: str,
    workflow: Workflow | str | Path | None = None,
    *,
    store: StoreArg = None,
    budget: Budget | None = None,
    clock: Clock | None = None,
    on_event: Callable[[Event], None] | None = None,
    on_token: Callable[[TaskId, str], None] | None = None,
) -> RunResult:
    """Continue an interrupted, cancelled, failed or waiting run from its log.

    Tasks that succeeded are not run again; a task that was in flight replays the model and
    tool calls its log holds and makes only the rest; failed tasks are attempted again; a
    task whose approval was decided (``podium.approve``/``deny``) acts on the decision.

    A run on Temporal whose workflow ended without finishing it (it was terminated, or
    failed) goes on on Temporal: its workflow starts again under the same id, on the service,
    namespace and task queue it ran on, from the workflow file it started from, and this call
    waits for its end. One whose workflow still runs is refused (it waits for its approvals
    and signals itself).

    Args:
        run_id: the run's id, or enough of its first characters to name one run.
        workflow: the workflow (object or file); by default the file the run was started
            from, loaded again. A workflow changed since then is used as it is now. Not for a
            run on Temporal (its workers read its file).
        store: a ``Store``, a SQLite file path, or None for ``default_store_path()``.
        budget: new limits for the rest of the run: each replaces the one given when the run
            started (or was last resumed with limits); the others stay, and so do the
            workflow's own (the lower of each wins). Recorded, and kept by later resumes and
            replays.
        clock: time source (approval deadlines are judged by it); ``ManualClock`` in tests.
            Not for a run on Temporal (workflow time rules there).
        on_event: called with each event as it is recorded (not for a run on Temporal: its
            workers record them; read its log).
        on_token: called with ``(task id, text)`` as models stream (not on Temporal).

    Returns:
        The result, as ``arun`` returns it.

    Raises:
        ConfigError: no such run, it already succeeded, its workflow file is gone, or a
            workflow or clock is given for a run on Temporal.
        RunStateError: a live process, or a Temporal workflow that still runs, is executing
            it; or Temporal cannot be reached to tell.
    """
    async with opened_store(store) as opened:
        resolved = await resolve_run_id(opened, run_id)
        ref = await temporal_ref(opened, resolved)
        if ref is None:
            return await resume_here(
                resolved,
                workflow,
                store=opened,
                budget=budget,
                clock=clock,
                on_event=on_event,
                on_token=on_token,
            )
        if workflow is not None or clock is not None:
            msg = (
                f"run {resolved} runs on Temporal: it resumes with the workflow file it started "
                "from (every worker reads it) and workflow time; give no workflow or clock"
            )
            raise ConfigError(msg)
        return await resume_on_temporal(resolved, ref, store=opened, budget=budget)
