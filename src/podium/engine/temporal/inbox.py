"""A run's answers from outside, on Temporal: approval decisions and signals are workflow
updates, and waiting for them is a durable ``workflow.wait_condition``.

``Inbox`` is the run's ``Waiter`` (``podium.engine.waiter``): the approval gate, the tool
approvals and the ``wait:`` node record their request, then wait on it until the answer is
in the log or the request's deadline passes (a durable workflow timer). The update handlers
record the answer through the run's recorder, the log's one writer, so it is written once:
an update for a task that is no longer waiting is rejected, with the reason, and the caller
(``podium approve``, ``podium signal``) sees it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from functools import partial

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from podium.engine.approval import decision_draft, pending_request
from podium.engine.recorder import Recorder
from podium.engine.temporal.wire import DecisionRequest, SignalRequest
from podium.errors import RunStateError
from podium.event import SignalReceived, dump_event
from podium.ids import TaskId

__all__ = ["Inbox"]


class Inbox:
    """The durable waits of one run on Temporal, and the updates that end them."""

    def __init__(self) -> None:
        self._recorder: Recorder | None = None

    def watch(self, recorder: Recorder) -> None:
        """Take the run's recorder: the updates record answers through it."""
        self._recorder = recorder

    async def wait_until(self, condition: Callable[[], bool], deadline: datetime | None) -> bool:
        """Wait (durably) until ``condition()`` holds, or ``deadline`` passes: False."""
        timeout = None
        if deadline is not None:
            timeout = (deadline - workflow.now()).total_seconds()
            if timeout <= 0:
                return condition()
        try:
            await workflow.wait_condition(condition, timeout=timeout)
        except TimeoutError:
            return condition()
        return True

    def check_decision(self, request: DecisionRequest) -> None:
        """Reject a decision on a task that is not waiting for approval (``podium.decide``'s
        validator).

        Raises:
            ApplicationError: the task is not waiting (with what is), or the run is over.
        """
        recorder = self._running()
        try:
            pending_request(recorder.state, TaskId(request.task_id))
        except RunStateError as exc:
            raise ApplicationError(str(exc), "RunStateError", non_retryable=True) from exc

    async def decide(self, request: DecisionRequest) -> str:
        """Record the decision in the run's log (the waiting task takes it from there).

        Returns:
            The recorded ``approval_granted`` or ``approval_denied`` event, as JSON.
        """
        self.check_decision(request)  # again: an earlier update of this batch may have decided
        recorder = self._running()
        asked = pending_request(recorder.state, TaskId(request.task_id))
        event = await recorder.emit(decision_draft(request.decision(), asked))
        return dump_event(event).decode()

    def check_signal(self, request: SignalRequest) -> None:
        """Reject a signal to a run that is over (``podium.signal``'s validator).

        Raises:
            ApplicationError: the run is over.
        """
        self._running()

    async def signal(self, request: SignalRequest) -> str:
        """Record the signal in the run's log, where its ``wait:`` tasks take it.

        Returns:
            The recorded ``signal_received`` event, as JSON.
        """
        recorder = self._running()
        received = partial(
            SignalReceived, name=request.name, data=json.loads(request.data), by=request.by
        )
        event = await recorder.emit(received)
        return dump_event(event).decode()

    def _running(self) -> Recorder:
        """The recorder of the run, while it runs.

        Raises:
            ApplicationError: the run has not started yet, or has ended.
        """
        recorder = self._recorder
        if recorder is None:
            msg = "the run has not started on Temporal yet: send it again in a moment"
            raise ApplicationError(msg, "RunStateError", non_retryable=True)
        if recorder.state.status not in ("running", "waiting"):  # waiting: on an approval
            msg = f"run {recorder.run_id} has ended {recorder.state.status}"
            raise ApplicationError(msg, "RunStateError", non_retryable=True)
        return recorder
