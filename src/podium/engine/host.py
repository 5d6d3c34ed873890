"""The seam between the executor and the node kinds it runs.

The executor (``engine.executor``) runs each task through the ``NodeKind`` registered for
the task's kind: the agent node (``engine.agent_node``) for agent tasks, the composite node
for map, loop, sub-workflow and plan tasks. A kind sees the run only as a ``NodeHost``:
record, read the journal, run nodes and graphs, end a task. Neither side imports the other's
module, and nothing passes a run object around.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import Protocol

from pydantic import JsonValue

from podium.agent import Agent
from podium.clock import Clock
from podium.context import Context
from podium.engine.frame import Frame
from podium.engine.journal import Journal
from podium.engine.outcome import Outcome
from podium.engine.recorder import Draft, Recorder
from podium.engine.waiter import Waiter
from podium.event import Event
from podium.ids import RunId, TaskId
from podium.task import Task
from podium.workflow.model import Workflow

__all__ = ["NodeHost", "NodeKind"]


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

    @property
    def waiter(self) -> Waiter | None:
        """How the run waits for answers while it stays alive; None: it ends ``waiting``."""
        ...

    @property
    def stop_reason(self) -> str:
        """Why the run is stopping, as the tasks it cuts off record it (a budget, a cancel)."""
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

    def plan(self, task: Task, frame: Frame, qid: TaskId) -> Awaitable[JsonValue]:
        """Run a ``plan:`` task with the plan kind registered with the engine.

        Raises:
            ConfigError: no plan kind is registered.
        """
        ...


class NodeKind(Protocol):
    """How the executor runs the tasks of one kind (``Task.kind``).

    The executor has already checked the journal (a task that ended is not run again) and
    the task's ``when:``; the kind runs the task and records how it ended, through ``host``
    (``succeed``, ``fail``), and returns that outcome. An expected failure is an outcome,
    never an exception; ``ApprovalRequired`` ends as a ``waiting`` outcome.
    """

    async def run(self, host: NodeHost, task: Task, frame: Frame, qid: TaskId) -> Outcome:
        """Run ``task`` (instance ``qid``) in ``frame`` and record how it ended."""
        ...
