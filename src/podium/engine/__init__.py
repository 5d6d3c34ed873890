"""Engines: what executes a workflow. ``LocalEngine`` (asyncio, in-process) is the default.

The graph executor (``executor``: a run's lifecycle, the scheduler, recorder, journal and
composite tasks) imports no model, router or attempt wrapper; it runs each task through a
registered ``NodeKind`` (``host``). The agent node (``agent_node``) attempts agent tasks
through a chain of wrappers (``wrappers.compose_attempt``) around one injectable caller
(``attempt.Caller``). ``local`` assembles them. A distributed engine (Temporal) implements the
same ``Engine`` protocol with the same executor, kinds and wrappers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from pydantic import JsonValue

from podium.engine.local import LocalEngine
from podium.run import RunResult
from podium.workflow.model import Workflow

__all__ = ["Engine", "LocalEngine"]


class Engine(Protocol):
    """Executes a workflow to the end, recording every step in the store's event log."""

    async def execute(
        self,
        workflow: Workflow,
        inputs: Mapping[str, JsonValue] | None = None,
        *,
        goal: str | None = None,
    ) -> RunResult:
        """Run ``workflow`` with ``inputs`` and return the result."""
        ...
