"""The map node: one copy of a task per item of a list, in parallel, possibly stopping early.

``map.over`` is evaluated to a list; each item runs ``map.task`` as instance ``<id>[<index>]``
(the item under ``map.item`` in its templates), at most ``max_concurrency`` at once, and the
outputs are written to the map's key in item order. A map with ``at_least: n`` or ``until:``
stops as soon as n items succeeded, or the condition holds over ``results`` (the outputs of
the items that succeeded so far, in item order): the items still running or waiting are
cancelled (``task_cancelled``; ``engine.region``), and its output is ``results``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from functools import partial
from typing import cast

from jinja2 import TemplateError
from pydantic import JsonValue

from podium.engine.frame import Frame
from podium.engine.host import NodeHost
from podium.engine.outcome import Outcome
from podium.engine.region import Region, current_region, run_in_region
from podium.errors import ApprovalRequired, TaskError
from podium.event import MapExpanded, TaskCancelled
from podium.ids import TaskId
from podium.task import MapSpec, Task

__all__ = ["emit_cancelled", "raise_if_waiting", "run_map"]


async def run_map(run: NodeHost, task: Task, frame: Frame, qid: TaskId) -> JsonValue:
    """Run a map task and return its output (the items' outputs in item order).

    Raises:
        TaskError: the list could not be computed, an item failed (unless the map stopped
            early), too few succeeded for ``at_least``, or ``until`` could not be evaluated.
    """
    assert task.map is not None
    spec = task.map
    over = frame.evaluate(spec.over)
    if not isinstance(over, list | tuple):
        got = type(over).__name__
        msg = f"map over {spec.over!r} needs a list, got {got}: {str(over)[:80]!r}"
        raise TaskError(msg, task_id=qid)
    items = cast("Sequence[JsonValue]", over)
    await run.recorder.emit(partial(MapExpanded, task_id=qid, items=len(items)))
    mapping = _Mapping(run, spec, frame, qid)
    outcomes = await mapping.execute(items)
    raise_if_waiting(o for o in outcomes if o is not None)
    if mapping.error is not None:
        raise TaskError(mapping.error, task_id=qid)
    results = _results(outcomes)
    if mapping.stopped is not None:
        return results  # what the items still running would have added is not needed
    failed = [i for i, o in enumerate(outcomes) if o is None or o.status == "failed"]
    if failed:
        raise TaskError(f"{len(failed)} of {len(items)} items failed: {failed[:10]}", task_id=qid)
    if spec.at_least is not None and len(results) < spec.at_least:
        msg = f"only {len(results)} of {len(items)} items succeeded, at_least {spec.at_least}"
        raise TaskError(msg, task_id=qid)
    return results


class _Mapping:
    """One execution of a map: its items, and whether (and why) it stopped early."""

    def __init__(self, run: NodeHost, spec: MapSpec, frame: Frame, qid: TaskId) -> None:
        self._run = run
        self._spec = spec
        self._frame = frame
        self._qid = qid
        self._outcomes: list[Outcome | None] = []
        self._running: dict[int, tuple[Region, asyncio.Task[None]]] = {}
        self.stopped: str | None = None
        """Why the map stopped before every item ended, if it did."""
        self.error: str | None = None
        """Why ``until`` could not be evaluated, if it could not."""

    async def execute(self, items: Sequence[JsonValue]) -> list[Outcome | None]:
        self._outcomes = [None] * len(items)
        limit = asyncio.Semaphore(self._spec.max_concurrency or len(items) or 1)
        base = current_region()
        async with asyncio.TaskGroup() as group:
            for index, item in enumerate(items):
                region = Region(parent=base)
                handle = group.create_task(self._one(index, item, region, limit))
                self._running[index] = (region, handle)
        return self._outcomes

    async def _one(
        self, index: int, item: JsonValue, region: Region, limit: asyncio.Semaphore
    ) -> None:
        spec, frame = self._spec, self._frame
        item_id = TaskId(f"{self._qid}[{index}]")
        item_frame = frame.child(extra={**frame.extra, spec.item: item}, writes_output=False)

        async def work() -> Outcome:
            async with limit:
                return await self._run.run_node(spec.task, item_frame, item_id)

        record = partial(emit_cancelled, self._run, item_id, frame.iteration)
        interrupted = partial(emit_interrupted, self._run, item_id, frame.iteration)
        outcome = await run_in_region(region, work, record, interrupted)
        del self._running[index]
        self._outcomes[index] = outcome
        if self.stopped is None and outcome.ok:
            self._check_stop()

    def _check_stop(self) -> None:
        """Stop the map when ``at_least`` or ``until`` says it has enough."""
        spec = self._spec
        results = _results(self._outcomes)
        reason = None
        if spec.at_least is not None and len(results) >= spec.at_least:
            reason = f"{len(results)} items succeeded (at_least {spec.at_least})"
        elif spec.until is not None:
            values = {**self._frame.extra, "results": results}
            try:
                holds = bool(self._frame.child(extra=values).evaluate(spec.until))
            except TemplateError as exc:
                self.error = f"until {spec.until!r} failed: {exc}"
                holds = True
            reason = f"until {spec.until!r} holds" if holds else None
        if reason is not None:
            self.stopped = f"map {self._qid!r} stopped early: {reason}"
            for region, handle in list(self._running.values()):
                region.withdraw(self.stopped, handle)


def _results(outcomes: Iterable[Outcome | None]) -> list[JsonValue]:
    """The outputs of the items that succeeded, in item order (a skipped item is left out,
    as a filter would: it did not fail)."""
    return [o.output for o in outcomes if o is not None and o.ok]


async def emit_cancelled(run: NodeHost, qid: TaskId, iteration: int, reason: str) -> None:
    """Record that task instance ``qid`` was cancelled (``task_cancelled``)."""
    await run.recorder.emit(partial(TaskCancelled, task_id=qid, reason=reason, iteration=iteration))


async def emit_interrupted(run: NodeHost, qid: TaskId, iteration: int) -> None:
    """Record that the run's stop cut task instance ``qid`` off (a resume runs it again)."""
    interrupted = partial(
        TaskCancelled,
        task_id=qid,
        reason=run.stop_reason,
        iteration=iteration,
        is_interrupted=True,
    )
    await run.recorder.emit(interrupted)


def raise_if_waiting(outcomes: Iterable[Outcome]) -> None:
    """A composite whose child waits for approval waits too (it cannot finish yet)."""
    if any(o.status == "waiting" for o in outcomes):
        raise ApprovalRequired("a task inside waits for approval")
