"""The agent node: how an agent task runs, from picking its agent to recording its answer.

A capability task is routed first (``Router``; a resumed run keeps the recorded choice). A
``verifies:`` task's draft is grounded, and settled without a model when it can be (the
orchestrator's kinds, ``engine.kinds``). Then the task is attempted through its attempt chain
(``engine.wrappers.compose_attempt``: approvals, fallbacks, retries, slots, circuits, the
deadline, the caller) and its answer is written, with a route or the verifier's verdicts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import partial

from pydantic import JsonValue

from podium.agent import Agent
from podium.engine.attempt import AgentAnswer, AgentCall
from podium.engine.fallback import Targets
from podium.engine.frame import Frame
from podium.engine.host import NodeHost
from podium.engine.journal import Journal, Replay
from podium.engine.kinds import UNREGISTERED, NodeKinds
from podium.engine.outcome import Outcome
from podium.engine.recorder import Draft, Recorder
from podium.engine.run_models import RunModels
from podium.engine.wrappers import AttemptParts, compose_attempt
from podium.errors import ApprovalRequired, ConfigError, RoutingError, TaskError
from podium.event import (
    AgentChosen,
    ClaimVerified,
    RouteChosen,
    TaskSkipped,
    TaskStarted,
    TaskSucceeded,
)
from podium.ids import TaskId
from podium.models.base import Model
from podium.router import Router
from podium.task import Task
from podium.template import Templates
from podium.workflow.model import Workflow

__all__ = ["AgentNode", "TokenListener"]

TokenListener = Callable[[TaskId, str], None]
"""Receives ``(task id, text)`` as a task's model streams its answer."""


class AgentNode:
    """Runs the agent tasks of one run (a ``NodeKind``).

    Args:
        parts: what the run's attempt wrappers are made of (its recorder among them).
        journal: what the log held when this execution started; None for a new run.
        models: the run's models.
        targets: each agent's targets (the agent, then its fallbacks).
        router: picks the agent of a capability task.
        kinds: the orchestrator's kinds for ``verifies:`` tasks.
        token_listener: receives a task's text as its model streams it.
    """

    def __init__(
        self,
        parts: AttemptParts,
        *,
        journal: Journal | None,
        models: RunModels,
        targets: Targets,
        router: Router,
        kinds: NodeKinds,
        token_listener: TokenListener | None = None,
    ) -> None:
        self._parts = parts
        self._journal = journal
        self._models = models
        self._targets = targets
        self._router = router
        self._kinds = kinds
        self._listener = token_listener

    @property
    def recorder(self) -> Recorder:
        """The single writer of the run's log."""
        return self._parts.recorder

    def model_for(self, agent: Agent, workflow: Workflow) -> Model:
        """The model ``agent`` uses in this run."""
        return self._models.model_for(agent, workflow)

    async def run(self, host: NodeHost, task: Task, frame: Frame, qid: TaskId) -> Outcome:
        """Route, attempt and record an agent task."""
        agent = await self._route(task, frame, qid) if task.capability else frame.agent(task)
        if agent is None:
            error = RoutingError(f"no agent has capability {task.capability!r}")
            return await host.fail(qid, None, error, frame)
        if task.verifies is not None:
            settled = await self._settled(host, task, frame, qid, agent)
            if settled is not None:
                return settled
        call = self._call(task, frame, qid, agent)
        targets = self._targets.of(task, agent, frame.workflow)
        move = partial(self._moved, frame=frame)
        attempt = compose_attempt(task, targets, self._parts, slots=frame.slots, move=move)
        try:
            answer = await attempt(call)
        except ApprovalRequired:  # a tool call waits for a human; the request is logged
            return Outcome(status="waiting", reason="a tool call waits for approval")
        if isinstance(answer, Exception):
            attempt_no = answer.attempt if isinstance(answer, TaskError) else 1
            by = answer.agent if isinstance(answer, TaskError) else None
            return await host.fail(qid, by or agent.name, answer, frame, attempt=attempt_no)
        if answer.is_waiting:
            return Outcome(status="waiting", reason="waiting for approval")
        return await self._answered(host, task, frame, qid, answer.agent or agent, answer)

    async def _answered(
        self,
        host: NodeHost,
        task: Task,
        frame: Frame,
        qid: TaskId,
        agent: Agent,
        answer: AgentAnswer,
    ) -> Outcome:
        """Record ``agent``'s answer: its output, with the verifier's verdicts or the route."""
        output, journal = answer.output, answer.journal
        if task.verifies is not None:
            try:
                output, claims = self._verdicts(task, frame, qid, output)
            except TaskError as exc:
                await self.recorder.emit_all(journal)
                return await host.fail(qid, agent.name, exc, frame)
            journal = (*journal, *claims)
        outcome = Outcome(status="succeeded", output=output, chosen=answer.chosen)
        if answer.chosen is not None:
            said = answer.output.get("reason") if isinstance(answer.output, dict) else None
            reason = said if isinstance(said, str) else ""
            choice = frame.qualify(answer.chosen)
            route = partial(RouteChosen, task_id=qid, choice=choice, reason=reason)
            journal = (*journal, route)
        return await host.succeed(task, frame, qid, outcome, writer=agent, journal=journal)

    def _call(self, task: Task, frame: Frame, qid: TaskId, agent: Agent) -> AgentCall:
        """The first attempt's call of ``agent`` at ``task``."""
        listener = self._listener
        return AgentCall(
            task=task,
            task_id=qid,
            agent=agent,
            model=self._models.model_for(agent, frame.workflow),
            values=frame.values(_names(frame.workflow.templates, agent, task), agent),
            templates=frame.workflow.templates,
            run_id=self.recorder.run_id,
            on_token=partial(listener, qid) if listener else None,
            replay=self._replay(qid, frame.iteration, agent),
            iteration=frame.iteration,
            questions=self._questions(task, frame),
        )

    def _moved(self, call: AgentCall, agent: Agent, *, frame: Frame) -> AgentCall:
        """``call`` made by ``agent`` instead (a fallback agent, or the agent on another model)."""
        values = frame.values(_names(frame.workflow.templates, agent, call.task), agent)
        model = self._models.model_for(agent, frame.workflow)
        moved = replace(call, agent=agent, model=model, values=values)
        if agent.name != call.agent.name:  # the fallback's own recorded calls, if any
            moved = replace(moved, replay=self._replay(call.task_id, call.iteration, agent))
        return moved

    def _questions(self, task: Task, frame: Frame) -> tuple[tuple[int, str], ...]:
        """A verifying task's yes/no questions, one per claim still open (none otherwise)."""
        ask = self._kinds.questions
        return ask(task, frame) if task.verifies is not None and ask is not None else ()

    async def _settled(
        self, host: NodeHost, task: Task, frame: Frame, qid: TaskId, agent: Agent
    ) -> Outcome | None:
        """Ground a verifying task's draft; when every claim's verdict is then known without
        a model (``podium.verifier.first_pass``), record them and succeed; else None."""
        ground = self._kinds.ground
        if ground is None:
            error = ConfigError(UNREGISTERED.format(what="a verifies: task"))
            return await host.fail(qid, agent.name, error, frame)
        settled = await ground(self, task, frame, qid)
        if settled is None:
            return None
        started = partial(TaskStarted, task_id=qid, agent=agent.name, iteration=frame.iteration)
        self.recorder.note(started)
        output, claims = settled
        outcome = Outcome(status="succeeded", output=output)
        return await host.succeed(task, frame, qid, outcome, writer=agent, journal=claims)

    def _verdicts(
        self, task: Task, frame: Frame, qid: TaskId, output: JsonValue
    ) -> tuple[JsonValue, list[Draft[ClaimVerified]]]:
        verdicts = self._kinds.verdicts
        if verdicts is None:
            raise TaskError(UNREGISTERED.format(what="a verifies: task"), task_id=qid)
        return verdicts(self, task, frame, qid, output)

    async def _route(self, task: Task, frame: Frame, qid: TaskId) -> Agent | None:
        """The agent the router picks for a capability task, noted as ``agent_chosen``.

        A resumed run keeps the choice its log recorded for this task instance.
        """
        assert task.capability is not None
        candidates = frame.candidates(task)
        by_name = {a.name: a for a in candidates}
        journal = self._journal
        recorded = None
        if journal is not None:
            recorded = journal.recorded_choice(qid) or self._recorded_choice(qid)
        if recorded is not None and recorded in by_name:
            if journal is not None and journal.is_replay:  # a new run: log it
                reason = "the agent the recorded run chose"
                self._chosen(qid, task.capability, recorded, reason)
            return by_name[recorded]
        if not candidates:
            return None
        choice = await self._router.choose(qid, task.capability, candidates)
        self._chosen(qid, task.capability, choice.agent, choice.reason, choice.scores)
        return by_name[choice.agent]

    def _chosen(
        self,
        qid: TaskId,
        capability: str,
        agent: str,
        reason: str,
        scores: dict[str, float] | None = None,
    ) -> None:
        """Note an ``agent_chosen`` event."""
        self.recorder.note(
            partial(
                AgentChosen,
                task_id=qid,
                capability=capability,
                agent=agent,
                reason=reason,
                scores=scores or {},
            )
        )

    def _recorded_choice(self, qid: TaskId) -> str | None:
        """The agent chosen for the unfinished instance of ``qid`` in the log, if any."""
        for event in reversed(self.recorder.events):
            if isinstance(event, AgentChosen) and event.task_id == qid:
                return event.agent
            if isinstance(event, TaskSucceeded | TaskSkipped) and event.task_id == qid:
                return None  # that instance ended; this is a new one (a loop's next iteration)
        return None

    def _replay(self, qid: TaskId, iteration: int, agent: Agent) -> Replay | None:
        journal = self._journal
        return journal.replay(qid, iteration, agent=agent.name) if journal else None


def _names(templates: Templates, agent: Agent, task: Task) -> frozenset[str]:
    names = templates.variables(agent.instructions) | templates.variables(task.instruction)
    if task.grounding is not None:  # the question, and the passages claims are chosen from
        names |= templates.variables(task.grounding.question) | {task.grounding.sources}
    return names
