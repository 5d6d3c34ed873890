"""A run's event log over HTTP: a page of it as JSON, or a live stream of server-sent events.

``GET /v1/runs/{run_id}/events/stream`` sends every event after ``after`` (or after the
``Last-Event-ID`` a reconnecting client sends), then each new one as it is committed. Each
message's ``id`` is the event's ``seq`` and its ``data`` the event as JSON (``podium.event``'s
format), so a client that reconnects with the last id it saw loses nothing and sees nothing
twice. ``GET /v1/updates`` streams one small message per change of any run (its id and
latest ``seq``), which the runs list uses to refresh.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Final

from fastapi import APIRouter, Header, Query
from sse_starlette import EventSourceResponse, ServerSentEvent

import podium
from podium.event import Event, EventAdapter
from podium.server.changes import wait_for_change
from podium.server.services import Services, ServicesDep

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["events"])

_PAGE: Final = 1000
_PING_S: Final = 15
_STREAM_DOC: Final[dict[int | str, dict[str, object]]] = {
    200: {
        "content": {"text/event-stream": {}},
        "description": "Server-sent events: `id` is the event's seq, `data` the event as JSON.",
    }
}


@router.get("/runs/{run_id}/events", summary="A run's events after an offset")
async def list_events(
    run_id: str,
    services: ServicesDep,
    after: Annotated[int, Query(ge=0, description="Only events with a greater seq.")] = 0,
    limit: Annotated[int, Query(ge=1, le=_PAGE)] = _PAGE,
) -> list[Event]:
    """The events of a run with ``seq > after``, oldest first, at most ``limit``."""
    state = await podium.get_run(run_id, store=services.store)
    events = await services.store.read(state.run_id, after_seq=after)
    return events[:limit]


@router.get(
    "/runs/{run_id}/events/stream",
    summary="A run's events, live (server-sent events)",
    response_class=EventSourceResponse,
    responses=_STREAM_DOC,  # type: ignore[arg-type]  # FastAPI's loose dict type
)
async def stream_events(
    run_id: str,
    services: ServicesDep,
    after: Annotated[int, Query(ge=0, description="Start after this seq.")] = 0,
    last_event_id: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> EventSourceResponse:
    """Every event with ``seq > after`` (or > ``Last-Event-ID``), then each new one live.

    The stream stays open while the client listens, also after the run ends (it may be
    resumed); a comment is sent every 15 s to keep proxies from closing it."""
    state = await podium.get_run(run_id, store=services.store)
    start = int(last_event_id) if last_event_id and last_event_id.isdigit() else after
    messages = _run_messages(services, state.run_id, start)
    return EventSourceResponse(messages, ping=_PING_S)


async def _run_messages(
    services: Services, run_id: podium.RunId, after: int
) -> AsyncIterator[ServerSentEvent]:
    while True:  # sse-starlette ends the generator when the client goes
        signal = services.changes.run_signal(run_id)  # before the read: no wake-up is lost
        for event in await services.store.read(run_id, after_seq=after):
            after = event.seq
            yield ServerSentEvent(data=_json(event), id=str(event.seq))
        await wait_for_change(signal, services.config.poll_interval)


def _json(event: Event) -> str:
    return EventAdapter.dump_json(event).decode()


@router.get(
    "/updates",
    summary="Which runs changed, live (server-sent events)",
    response_class=EventSourceResponse,
    responses=_STREAM_DOC,  # type: ignore[arg-type]  # FastAPI's loose dict type
)
async def stream_updates(services: ServicesDep) -> EventSourceResponse:
    """A message ``{"run_id": ..., "seq": ...}`` each time a run this server executes (or
    decides on) records events; runs recorded by other processes show up in ``GET /v1/runs``
    only, so a list should also refresh now and then."""
    return EventSourceResponse(_update_messages(services), ping=_PING_S)


async def _update_messages(services: Services) -> AsyncIterator[ServerSentEvent]:
    seen = services.changes.generation
    while True:  # sse-starlette ends the generator when the client goes
        await wait_for_change(services.changes.any_signal(), services.config.poll_interval)
        seen, latest = services.changes.updates_since(seen)
        for run_id, seq in latest.items():
            yield ServerSentEvent(data=json.dumps({"run_id": run_id, "seq": seq}), event="run")
