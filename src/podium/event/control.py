"""Events of the workflow's control flow: signals, waits, routes, maps and loops."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import JsonValue

from podium.frozen import fast_init
from podium.ids import RunId, TaskId

__all__ = ["LoopIterated", "MapExpanded", "RouteChosen", "SignalAwaited", "SignalReceived"]


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class SignalReceived:
    """A named signal was sent to the run (``podium signal``), with its payload.

    A ``wait: {signal: NAME}`` task takes the first signal of that name it has not taken
    yet, whether it was sent before or after the task began to wait (a persistent trigger).
    """

    kind: Literal["signal_received"] = "signal_received"
    seq: int
    run_id: RunId
    at: datetime
    name: str
    data: JsonValue = None
    by: str = ""


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class SignalAwaited:
    """A ``wait:`` task found no signal of its name: the run waits for one (``podium signal``).

    ``deadline`` is when its ``on_timeout`` applies, on the next resume after it.
    """

    kind: Literal["signal_awaited"] = "signal_awaited"
    seq: int
    run_id: RunId
    at: datetime
    task_id: TaskId
    name: str
    deadline: datetime | None = None
    iteration: int = 0


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class RouteChosen:
    """A router task chose one of its routes."""

    kind: Literal["route_chosen"] = "route_chosen"
    seq: int
    run_id: RunId
    at: datetime
    task_id: TaskId
    choice: TaskId
    reason: str = ""


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class MapExpanded:
    """A map task learned its items and starts one task per item."""

    kind: Literal["map_expanded"] = "map_expanded"
    seq: int
    run_id: RunId
    at: datetime
    task_id: TaskId
    items: int


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class LoopIterated:
    """A loop finished an iteration and decided whether to go round again."""

    kind: Literal["loop_iterated"] = "loop_iterated"
    seq: int
    run_id: RunId
    at: datetime
    task_id: TaskId
    iteration: int
    is_done: bool
    reason: str
    rank: JsonValue = None
    """The loop's ``best`` expression after this iteration (None without one)."""
    kept: int | None = None
    """On the last iteration of a loop with ``best``: the iteration whose results it ends
    with (its keys hold them again)."""
