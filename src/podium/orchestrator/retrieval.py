"""Retrieval for plan steps: the passages of a knowledge base that best match each step.

Every retrieval is a ``sources_retrieved`` event, and what a log recorded is reused: a resumed
run or a replay is shown the passages the first execution was, even if the documents changed
or are gone. The knowledge base (``podium.knowledge``) is opened only when a step needs a
search the log does not hold; the documents it could not read are recorded with the first
retrieval after (``skipped``), so an answer drawn from part of them is not called verified.
The passages are also merged into the context key ``sources``, where synthesis and
verification find them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from functools import partial
from pathlib import Path

from pydantic import JsonValue

from podium.context import Context
from podium.engine.host import NodeHost
from podium.event import SourcesRetrieved
from podium.ids import TaskId
from podium.knowledge import KnowledgeBase, Passage

__all__ = ["SOURCES_KEY", "Retrieval"]

SOURCES_KEY = "sources"
"""The context key holding every retrieved passage by id."""

Passages = list[dict[str, JsonValue]]


class Retrieval:
    """Searches one directory of documents for the steps of one plan task.

    Args:
        run: the run (its recorder and journal).
        directory: the documents; None when the plan has none.
        limit: passages per step.
        goal_limit: passages for the plan task's own query (the goal).
    """

    def __init__(
        self, run: NodeHost, directory: str | None, *, limit: int, goal_limit: int = 0
    ) -> None:
        self._run = run
        self._directory = directory
        self._limit = limit
        self._goal_limit = goal_limit
        self._knowledge: KnowledgeBase | None = None
        self._unreported: tuple[dict[str, str], ...] = ()
        """Documents the knowledge base could not read that no event records yet."""

    @property
    def is_on(self) -> bool:
        """Whether the plan has documents to retrieve from."""
        return self._directory is not None and (self._limit > 0 or self._goal_limit > 0)

    async def titles(self) -> list[str]:
        """The documents' titles (for the planner), or none if the directory is gone."""
        if not self.is_on:
            return []
        knowledge = await self._open(required=False)
        return [title for _, title, _ in knowledge.documents()] if knowledge else []

    async def for_steps(
        self, context: Context, queries: Mapping[TaskId, str], *, by: TaskId
    ) -> dict[TaskId, Passages]:
        """The passages for each step (by its run-wide id), also merged into ``sources``.

        Raises:
            ConfigError: the directory is gone and the log holds no retrieval for a step.
        """
        found = {
            step: await self._retrieve(step, query, self._goal_limit if step == by else self._limit)
            for step, query in queries.items()
        }
        known = _as_mapping(context.get(SOURCES_KEY))
        merged: dict[str, JsonValue] = {
            **known,
            **{str(p["id"]): p for ps in found.values() for p in ps},
        }
        if merged != known:
            await self._run.recorder.write(context, SOURCES_KEY, merged, task_id=by, writer=None)
        return found

    def close(self) -> None:
        """Close the knowledge base if it was opened."""
        if self._knowledge is not None:
            self._knowledge.close()
            self._knowledge = None

    async def _retrieve(self, step: TaskId, query: str, limit: int) -> Passages:
        for event in self._run.recorder.events:  # this run's log (a resumed run's included)
            if isinstance(event, SourcesRetrieved) and event.task_id == step:
                return list(event.passages)
        journal = self._run.journal
        if journal is not None and step in journal.retrievals:  # a replay: the recorded run's
            recorded = journal.retrievals[step]
            query, passages, skipped = recorded.query, recorded.passages, recorded.skipped
        else:
            knowledge = await self._open(required=True)
            assert knowledge is not None
            hits = knowledge.search(query, limit=limit) if limit > 0 else []
            passages = tuple(_passage_json(p) for p in hits)
            skipped, self._unreported = self._unreported, ()
        await self._run.recorder.emit(
            partial(SourcesRetrieved, task_id=step, query=query, passages=passages, skipped=skipped)
        )
        return list(passages)

    async def _open(self, *, required: bool) -> KnowledgeBase | None:
        if self._knowledge is None and self._directory is not None:
            self._knowledge = await asyncio.to_thread(_open, self._directory, required)
            problems = self._knowledge.problems if self._knowledge else ()
            self._unreported = tuple({"document": d, "reason": r} for d, r in problems)
        return self._knowledge


def _open(directory: str, required: bool) -> KnowledgeBase | None:
    path = Path(directory).expanduser()
    if not required and not path.is_dir():
        return None
    return KnowledgeBase.open(path)


def _passage_json(passage: Passage) -> dict[str, JsonValue]:
    return {
        "id": passage.id,
        "document": passage.document,
        "title": passage.title,
        "text": passage.text,
        "score": round(passage.score, 4),
    }


def _as_mapping(value: JsonValue) -> dict[str, JsonValue]:
    return dict(value) if isinstance(value, dict) else {}
