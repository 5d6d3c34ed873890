"""``/v1/runs``: list, start, show, cancel, resume and rate runs."""

from __future__ import annotations

from typing import Annotated, Final

from fastapi import APIRouter, Query, status

import podium
from podium.event import FeedbackRecorded
from podium.server.payload import (
    FeedbackIn,
    ResumeIn,
    RunDetail,
    RunOut,
    StartedOut,
    StartIn,
    run_detail,
    run_out,
)
from podium.server.services import ServicesDep

__all__ = ["router"]

router = APIRouter(prefix="/v1/runs", tags=["runs"])

_MAX_LIST: Final = 1000


@router.get("", response_model=list[RunOut], summary="List runs, newest first")
async def list_runs(
    services: ServicesDep,
    status_: Annotated[
        list[str] | None,
        Query(alias="status", description="Only runs in these statuses (repeat to give several)."),
    ] = None,
    q: Annotated[
        str | None, Query(description="Only runs whose goal, workflow or id has this.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=_MAX_LIST)] = 50,
) -> list[RunOut]:
    """The most recent runs with status, goal or workflow, duration, tasks, tokens and cost."""
    scan = limit if not (status_ or q) else _MAX_LIST
    recent = await services.runs.recent(scan)
    shown = await podium.shown_statuses(recent)
    lines = [run_out(s, shown.statuses[s.run_id]) for s in recent]
    if status_:
        lines = [line for line in lines if line.status in status_]
    if q:
        needle = q.casefold()
        lines = [line for line in lines if needle in _haystack(line)]
    return lines[:limit]


def _haystack(line: RunOut) -> str:
    return f"{line.run_id} {line.workflow} {line.goal or ''}".casefold()


@router.post(
    "", response_model=StartedOut, status_code=status.HTTP_202_ACCEPTED, summary="Start a run"
)
async def start_run(body: StartIn, services: ServicesDep) -> StartedOut:
    """Start a workflow, or a goal on a team; the server executes it.

    Answers once the run is recorded (202), with its id; follow it with
    ``GET /v1/runs/{run_id}/events/stream``. A workflow that does not load or validate is
    refused with 400 and the problems, as ``podium run`` reports them.
    """
    return _started(await services.start(body))


def _started(run_id: str) -> StartedOut:
    base = f"/v1/runs/{run_id}"
    return StartedOut(run_id=run_id, links={"self": base, "events": f"{base}/events/stream"})


@router.get("/{run_id}", response_model=RunDetail, summary="One run in full")
async def get_run(run_id: str, services: ServicesDep) -> RunDetail:
    """The run folded from its log: graph, tasks, context writes with provenance, model and
    tool calls, plans, claims with verdicts, approvals waiting, feedback and output.

    ``run_id`` may be the first characters of an id, as in the CLI."""
    state = await podium.get_run(run_id, store=services.store)
    shown = await podium.shown_statuses([state])
    return run_detail(state, shown.statuses[state.run_id])


@router.post("/{run_id}/cancel", status_code=status.HTTP_202_ACCEPTED, summary="Cancel a run")
async def cancel_run(run_id: str, services: ServicesDep) -> dict[str, str]:
    """Stop a run; it is recorded cancelled and stays resumable.

    A run this server executes is cancelled in place (answered at once; its ``run_completed``
    follows on its stream); another process's run is cancelled as ``podium cancel`` does.
    """
    state = await podium.get_run(run_id, store=services.store)
    if services.launcher.cancel(state.run_id):
        return {"run_id": state.run_id, "how": "stopping"}
    done = await podium.cancel(state.run_id, store=services.store)
    return {"run_id": done.run_id, "how": done.how}


@router.post(
    "/{run_id}/resume",
    response_model=StartedOut,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Resume a run",
)
async def resume_run(
    run_id: str, services: ServicesDep, body: ResumeIn | None = None
) -> StartedOut:
    """Continue an interrupted, cancelled, failed or waiting run in this server.

    Tasks that succeeded are kept; ``budget`` raises the limits that stopped it."""
    return _started(await services.resume(run_id, body.budget if body else None))


@router.post(
    "/{run_id}/feedback",
    status_code=status.HTTP_201_CREATED,
    summary="Rate a run or one of its tasks",
)
async def rate_run(run_id: str, body: FeedbackIn, services: ServicesDep) -> FeedbackRecorded:
    """Record a 1-5 rating; ``podium metrics`` averages them into user satisfaction."""
    return await podium.feedback(
        run_id,
        body.score,
        task_id=body.task_id,
        comment=body.comment,
        by=body.by or "dashboard",
        store=services.store,
    )
