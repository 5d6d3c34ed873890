"""Node kinds registered with the executor from outside it.

The engine runs agent, map, loop and sub-workflow tasks itself (``engine.host.NodeKind``).
What a ``plan:`` task does (plan a goal with a planner agent, run and revise the plan) and
what a ``verifies:`` task adds (ground the draft's citations before the verifier runs,
record its verdicts after) belong to the orchestrator (``podium.orchestrator.KINDS``), which
registers them here when it builds an engine; the engine never imports it. An engine given
no kinds fails such a task with a ``ConfigError`` saying so.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from pydantic import JsonValue

from podium.agent import Agent
from podium.engine.frame import Frame
from podium.engine.host import NodeHost
from podium.engine.recorder import Draft, Recorder
from podium.event import ClaimVerified
from podium.ids import TaskId
from podium.models.base import Model
from podium.task import Task
from podium.workflow.model import Workflow

__all__ = [
    "UNREGISTERED",
    "AgentHost",
    "AskQuestions",
    "GroundDraft",
    "NodeKinds",
    "RecordVerdicts",
    "RunPlan",
]

UNREGISTERED = (
    "{what} needs the orchestrator's node kinds: run it with podium.run, or give the engine "
    "kinds=podium.orchestrator.KINDS"
)
"""The error of a task whose kind the engine was not given (``{what}``: which task)."""


class AgentHost(Protocol):
    """What grounding and verdicts see of the agent node that runs a ``verifies:`` task."""

    @property
    def recorder(self) -> Recorder:
        """The single writer of the run's log."""
        ...

    def model_for(self, agent: Agent, workflow: Workflow) -> Model:
        """The model ``agent`` uses in this run."""
        ...


RunPlan = Callable[[NodeHost, Task, Frame, TaskId], Awaitable[JsonValue]]
"""Runs a ``plan:`` task to its output (each step's output by id)."""
GroundDraft = Callable[
    [AgentHost, Task, Frame, TaskId], Awaitable[tuple[JsonValue, list[Draft[ClaimVerified]]] | None]
]
"""Before a ``verifies:`` task's agent runs: ground the draft it checks; the verification and
its verdict events when that settles every claim without a model, else None."""
AskQuestions = Callable[[Task, Frame], tuple[tuple[int, str], ...]]
"""Then: the yes/no question to ask its agent about each claim still open, with the claim's
index in the draft (each is asked on its own; the answers come back by that index)."""
RecordVerdicts = Callable[
    [AgentHost, Task, Frame, TaskId, JsonValue], tuple[JsonValue, list[Draft[ClaimVerified]]]
]
"""After it answers: the output to write, and the verdict events to record with it."""


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeKinds:
    """The node kinds an engine runs besides its own (see the module docstring)."""

    plan: RunPlan | None = None
    ground: GroundDraft | None = None
    questions: AskQuestions | None = None
    verdicts: RecordVerdicts | None = None
