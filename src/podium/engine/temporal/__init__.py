"""The Temporal engine (extra ``temporal``): a run is a Temporal workflow, an attempt an activity.

The workflow runs the local engine's executor and node kinds deterministically
(``workflow``); workers run the attempts and the store calls (``activities``); ``worker``
serves a task queue and starts runs on it. The run's event log in the shared store (PostgreSQL)
stays the single source of truth. This package is an adapter: the core never imports it.
"""

from __future__ import annotations

try:
    import temporalio  # noqa: F401  # pyright: ignore[reportUnusedImport]  # the extra's presence
except ImportError as exc:  # pragma: no cover - the extra is installed where tests run
    raise ImportError(
        'the Temporal engine needs the "temporal" extra: pip install "podium[temporal]"'
    ) from exc

from podium.engine.temporal.wire import DecisionRequest, RunRequest, RunResponse, SignalRequest
from podium.engine.temporal.worker import (
    TemporalTarget,
    cancel,
    cancel_workflow,
    decide,
    execute,
    serve,
    signal,
    workflow_id,
    workflow_states,
)

__all__ = [
    "DecisionRequest",
    "RunRequest",
    "RunResponse",
    "SignalRequest",
    "TemporalTarget",
    "cancel",
    "cancel_workflow",
    "decide",
    "execute",
    "serve",
    "signal",
    "workflow_id",
    "workflow_states",
]
