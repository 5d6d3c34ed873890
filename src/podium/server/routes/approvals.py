"""``/v1/approvals`` and ``/v1/runs/{run_id}/approvals/{task_id}``: what waits for a person,
and their decisions, one at a time or in a batch.

A decision is appended to the run's log (``podium.approve`` / ``podium.deny``), then the
server resumes the run so the approved output is written, or the denied task fails (a run on
Temporal is not resumed: its workflow records the decision and goes on). Two
decisions on one run are taken one after the other: the second reads the first's, so two
people approving one task at once get one 200 and one 409 saying it was decided.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Final

from fastapi import APIRouter
from fastapi.responses import JSONResponse

import podium
from podium import ConfigError, PodiumError, RunStateError
from podium.event import ApprovalDenied, ApprovalGranted, ApprovalRequested
from podium.server.payload import ApprovalOut, BatchDecision, DecisionIn, DecisionOut
from podium.server.problem import problem_response, status_of
from podium.server.services import Services, ServicesDep

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["approvals"])

_SCAN: Final = 1000
"""How many recent runs are looked through for waiting tasks (as ``podium approvals``)."""
_BY: Final = "dashboard"


@router.get("/approvals", response_model=list[ApprovalOut], summary="Tasks waiting for a person")
async def list_approvals(services: ServicesDep) -> list[ApprovalOut]:
    """Every task waiting for approval across runs, oldest request first."""
    waiting = await podium.pending_approvals(scan=_SCAN, store=services.store)
    return [_approval_out(state, request) for state, request in waiting]


def _approval_out(state: podium.RunState, request: ApprovalRequested) -> ApprovalOut:
    return ApprovalOut(
        run_id=request.run_id,
        task_id=request.task_id,
        agent=request.agent,
        reason=request.reason,
        asked_at=request.at,
        deadline=request.deadline,
        output=request.output,
        workflow=state.workflow,
        goal=state.goal,
    )


@router.post(
    "/runs/{run_id}/approvals/{task_id:path}",
    response_model=DecisionOut,
    summary="Approve or deny one waiting task",
)
async def decide_one(
    run_id: str, task_id: str, body: DecisionIn, services: ServicesDep
) -> DecisionOut | JSONResponse:
    """Approve (optionally with an edited ``output``) or deny (with a ``reason``) a waiting
    task, then resume its run here (unless ``resume`` is false).

    409 when the task is not waiting (someone decided first) or the run is executing."""
    outcome = await _decide(services, run_id, task_id, body)
    if outcome.status == 200 and body.resume:
        outcome = await _resume(services, outcome)
    if outcome.status != 200:
        return problem_response(outcome.status, outcome.detail, instance=f"/v1/runs/{run_id}")
    return outcome


@router.post("/approvals", response_model=list[DecisionOut], summary="Decide on several tasks")
async def decide_batch(body: BatchDecision, services: ServicesDep) -> list[DecisionOut]:
    """Record each decision on its own (one refused does not stop the others), then resume
    each run that got one, once. Each item says what became of it."""
    outcomes = [await _decide(services, d.run_id, d.task_id, d) for d in body.decisions]
    to_resume: defaultdict[str, list[int]] = defaultdict(list)
    for index, (item, outcome) in enumerate(zip(body.decisions, outcomes, strict=True)):
        if outcome.status == 200 and item.resume:
            to_resume[outcome.run_id].append(index)
    for indexes in to_resume.values():
        resumed = await _resume(services, outcomes[indexes[0]])
        for index in indexes:
            outcomes[index] = outcomes[index].model_copy(
                update={"resumed": resumed.resumed, "detail": resumed.detail}
            )
    return outcomes


async def _decide(services: Services, run_id: str, task_id: str, body: DecisionIn) -> DecisionOut:
    """Record one decision; a refusal is an outcome with its status, not an exception."""
    try:
        state = await podium.get_run(run_id, store=services.store)
        async with services.decision_locks[state.run_id]:
            if services.launcher.is_executing(state.run_id):
                raise RunStateError(
                    f"run {state.run_id} is executing: decide on its waiting tasks once it stops"
                )
            event = await _record(services, state.run_id, task_id, body)
    except PodiumError as error:
        return DecisionOut(
            run_id=run_id, task_id=task_id, status=status_of(error), detail=str(error)
        )
    verb = "approved" if body.approve else "denied"
    return DecisionOut(run_id=state.run_id, task_id=task_id, status=200, detail=verb, seq=event.seq)


async def _record(
    services: Services, run_id: str, task_id: str, body: DecisionIn
) -> ApprovalGranted | ApprovalDenied:
    by = body.by or _BY
    if body.approve:
        return await podium.approve(
            run_id, task_id, output=body.output, comment=body.comment, by=by, store=services.store
        )
    if not body.reason.strip():
        raise ConfigError("a denial needs a reason: say why, so the agent (or a planner) can act")
    return await podium.deny(run_id, task_id, reason=body.reason, by=by, store=services.store)


async def _resume(services: Services, outcome: DecisionOut) -> DecisionOut:
    """Resume the decided run here; a resume that fails leaves the decision recorded."""
    try:
        state = await podium.get_run(outcome.run_id, store=services.store)
        if state.temporal is not None:  # its workflow took the decision and goes on
            detail = f"{outcome.detail} by its workflow on Temporal"
            return outcome.model_copy(update={"detail": detail})
        async with services.decision_locks[outcome.run_id]:
            await services.resume(outcome.run_id)
    except PodiumError as error:
        detail = f"{outcome.detail}; not resumed: {error}"
        return outcome.model_copy(update={"detail": detail})
    return outcome.model_copy(update={"detail": f"{outcome.detail} and resumed", "resumed": True})
