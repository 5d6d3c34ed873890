"""``Held``: a scripted model whose answers the test holds, for runs cut off mid-flight."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Collection, Mapping

from podium import ModelRequest, ScriptedModel


class Held:
    """Answers each task's call with ``"<task> done"``; the tasks in ``held`` wait until
    cancelled, and a task in ``after`` answers only once the tasks it names have begun (so
    that they are running when it ends). Counts the calls made for each task.
    """

    def __init__(self, *held: str, after: Mapping[str, Collection[str]] | None = None) -> None:
        self.held = set(held)
        self.after = dict(after or {})
        self.calls: Counter[str] = Counter()
        self.began: dict[str, asyncio.Event] = {}

    def started(self, task: str) -> asyncio.Event:
        """Set once a call for ``task`` has begun."""
        return self.began.setdefault(task, asyncio.Event())

    async def answer(self, request: ModelRequest) -> str:
        assert request.caller is not None
        task = request.caller.task_id
        self.calls[task] += 1
        self.started(task).set()
        for other in self.after.get(task, ()):
            await self.started(other).wait()
        if task in self.held:
            await asyncio.Event().wait()
        return f"{task} done"

    def model(self) -> ScriptedModel:
        return ScriptedModel(self.answer)
