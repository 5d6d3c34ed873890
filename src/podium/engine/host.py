"""What node kinds and attempt wrappers may use of the run that executes them.

``engine.local`` implements both protocols with its run object; the node kinds (composite
tasks here, planning, retrieval and verification in ``podium.orchestrator``) and the attempt
wrappers (approval, fallback) are typed against these protocols, never against that object,
so none of them imports ``engine.local``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from pydantic import JsonValue

from podium.agent import Agent
from podium.clock import Clock
from podium.context import Context
from podium.engine.attempt import AgentAnswer, AgentCall
from podium.engine.breaker import CircuitBreaker, Circuits
from podium.engine.frame import Frame
from podium.engine.journal import Journal
from podium.engine.outcome import Outcome
from podium.engine.recorder import Draft, Recorder
from podium.event import Event
from podium.ids import RunId, TaskId
from podium.models.base import Model
from podium.models.spec import ModelSpec
from podium.policy import Policy, RetryPolicy
from podium.task import Task
from podium.workflow.model import Workflow

__all__ = ["AttemptHost", "NodeHost", "Target"]


class NodeHost(Protocol):
    """The run, as a node kind sees it: record, read the journal, run nodes, end a task."""

    @property
    def run_id(self) -> RunId:
        """The run's id."""
        ...

    @property
    def recorder(self) -> Recorder:
        """The single writer of the run's log."""
        ...

    @property
    def journal(self) -> Journal | None:
        """What the log held when this execution started (resume, replay); None for a new run."""
        ...

    @property
    def clock(self) -> Clock:
        """The run's time source."""
        ...

    def context(self, namespace: str, workflow: Workflow) -> Context:
        """A context for ``workflow``'s keys under ``namespace``, holding what was written."""
        ...

    async def run_graph(self, tasks: Sequence[Task], frame: Frame) -> dict[TaskId, Outcome]:
        """Run one level of tasks in ``frame``."""
        ...

    async def run_node(self, task: Task, frame: Frame, task_id: TaskId | None = None) -> Outcome:
        """Run one task of any kind and record how it ended."""
        ...

    async def succeed(
        self,
        task: Task,
        frame: Frame,
        qid: TaskId,
        outcome: Outcome,
        *,
        writer: Agent | None,
        journal: Sequence[Draft[Event]] = (),
    ) -> Outcome:
        """Write a task's output and record its success."""
        ...

    async def fail(
        self, qid: TaskId, agent: str | None, exc: Exception, frame: Frame, *, attempt: int = 1
    ) -> Outcome:
        """Record a failed task and return its outcome."""
        ...

    def model_for(self, agent: Agent, workflow: Workflow) -> Model:
        """The model ``agent`` uses in this run."""
        ...

    def plan(self, task: Task, frame: Frame, qid: TaskId) -> Awaitable[JsonValue]:
        """Run a ``plan:`` task with the plan kind registered with the engine.

        Raises:
            ConfigError: no plan kind is registered.
        """
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """One way to run a task: an agent on its model, with retries, a deadline and circuits."""

    name: str
    """``agent:NAME`` or ``model:NAME``, as ``task_rerouted`` events name it."""
    agent: Agent
    """The agent that runs the task (for ``model:NAME``, the task's agent on that model)."""
    retry: RetryPolicy
    timeout: timedelta
    """Deadline of one attempt."""
    circuits: tuple[CircuitBreaker, ...]
    """The model's and the agent's: a call goes through only if both let it."""


class AttemptHost(NodeHost, Protocol):
    """The run, as an attempt wrapper sees it: retries, circuits, fallback plans, approvals."""

    @property
    def retry(self) -> RetryPolicy:
        """How failures are retried where the workflow and the agents do not say."""
        ...

    @property
    def circuits(self) -> Circuits:
        """The run's circuit breakers, by model and agent."""
        ...

    @property
    def plans(self) -> dict[tuple[int, str], list[tuple[str, Agent, Policy]]]:
        """Each agent's fallback plan, by workflow and agent."""
        ...

    @property
    def approvals_checked(self) -> dict[tuple[TaskId, int], int]:
        """How many approval checks each task instance made in this execution."""
        ...

    async def attempts(
        self, call: AgentCall, frame: Frame, target: Target
    ) -> AgentAnswer | Exception:
        """Attempt the task on ``target``, retrying as its policy says."""
        ...

    def call_with(self, call: AgentCall, frame: Frame, agent: Agent) -> AgentCall:
        """``call`` made by ``agent`` instead."""
        ...

    def model_choice(self, agent: Agent, workflow: Workflow) -> str | ModelSpec | Model:
        """What names the model ``agent`` uses in this run."""
        ...
