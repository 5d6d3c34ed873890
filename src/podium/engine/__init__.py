"""Engines: what executes a workflow. ``LocalEngine`` (asyncio, in-process) is the default.

The scheduler, recorder, limits and composite tasks live here and import no LLM, HTTP or UI
library. A distributed engine (Temporal) will implement the same ``Engine`` protocol.
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
