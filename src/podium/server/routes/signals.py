"""``POST /v1/runs/{run_id}/signals/{name}``: send a signal to a run, then resume it.

The signal is appended to the run's log (``podium.signal``): its ``wait: {signal: name}``
tasks take it, even one that begins to wait later. Then the server resumes the run (unless
``resume`` is false; a run on Temporal is not resumed: its workflow records the signal and
goes on). A run that is executing is refused (409), as decisions are: its
process numbers its own events.
"""

from __future__ import annotations

from typing import Final

from fastapi import APIRouter
from fastapi.responses import JSONResponse

import podium
from podium import PodiumError, RunStateError
from podium.server.payload import SignalIn, SignalOut
from podium.server.problem import problem_response, status_of
from podium.server.services import ServicesDep

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["signals"])

_BY: Final = "api"


@router.post(
    "/runs/{run_id}/signals/{name}", response_model=SignalOut, summary="Send a signal to a run"
)
async def send_signal(
    run_id: str, name: str, body: SignalIn, services: ServicesDep
) -> SignalOut | JSONResponse:
    """Record the signal ``name`` with ``data``, then resume the run here.

    404 when there is no such run; 409 when it is executing or already succeeded."""
    try:
        state = await podium.get_run(run_id, store=services.store)
        async with services.decision_locks[state.run_id]:
            if services.launcher.is_executing(state.run_id):
                msg = f"run {state.run_id} is executing: send the signal once it stops"
                raise RunStateError(msg)
            event = await podium.signal(
                state.run_id, name, data=body.data, by=body.by or _BY, store=services.store
            )
    except PodiumError as error:
        return problem_response(status_of(error), str(error), instance=f"/v1/runs/{run_id}")
    sent = SignalOut(run_id=state.run_id, name=name, seq=event.seq, detail="received")
    if state.temporal is not None:  # its workflow took the signal and goes on
        return sent.model_copy(update={"detail": "received by its workflow on Temporal"})
    if not body.resume:
        return sent
    try:
        async with services.decision_locks[state.run_id]:
            await services.resume(state.run_id)
    except PodiumError as error:
        return sent.model_copy(update={"detail": f"received; not resumed: {error}"})
    return sent.model_copy(update={"detail": "received and resumed", "resumed": True})
