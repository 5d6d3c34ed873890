"""Workflow: a team of agents and a graph of tasks over a shared context.

Built in Python or loaded from YAML by ``podium.workflow.yaml``; checked as a whole by
``podium.workflow.validate`` before a run starts.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, JsonValue, PrivateAttr, field_validator

from podium.agent import Agent
from podium.budget import Budget
from podium.errors import Location
from podium.ids import TaskId
from podium.models.spec import ModelSpec
from podium.policy import Policy
from podium.task import LoopSpec, MapSpec, Task
from podium.template import Templates
from podium.toolserver import McpServerSpec

__all__ = ["InputSpec", "KeySpec", "SignalSpec", "Workflow"]


class InputSpec(BaseModel):
    """An input of a workflow, with its default."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    description: str = ""
    default: JsonValue = None
    required: bool = False
    env: str | None = None
    """The environment variable the value is read from when it is not given (an API token);
    its value is a secret, and a resumed run reads it again from there."""
    secret: bool = False
    """The value is masked (``[redacted]``) in every event, trace and log; true with ``env``."""

    @property
    def is_secret(self) -> bool:
        """Whether the value is kept out of the log."""
        return self.secret or self.env is not None


class SignalSpec(BaseModel):
    """A signal the workflow's ``wait:`` tasks may wait for, sent from outside the run."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    description: str = ""
    """What the signal means and who sends it (shown to whoever must send it)."""


class KeySpec(BaseModel):
    """How a context key behaves when several tasks may write it at the same time.

    ``single`` (default): one writer at a time, checked before the run. ``append``: the key
    holds a list and each write appends. ``last_writer_wins``: concurrent writes are allowed
    and the latest stays. ``reducer``: ``reducer`` (``module:function``) combines old and new.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    description: str = ""
    merge: Literal["single", "append", "last_writer_wins", "reducer"] = "single"
    reducer: str | None = None


class _AgentIndex:
    """A workflow's agents by name, built on first use and again when the agents differ (a
    ``model_copy`` shares it). It is no part of what a workflow is: any two compare equal."""

    __slots__ = ("_agents", "_by_name")

    def __init__(self) -> None:
        self._agents: tuple[Agent, ...] | None = None
        self._by_name: dict[str, Agent] = {}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _AgentIndex)

    __hash__ = None  # type: ignore[assignment]  # mutable

    def get(self, agents: tuple[Agent, ...], name: str) -> Agent | None:
        if self._agents is not agents:
            self._by_name = {a.name: a for a in reversed(agents)}  # the first of a name wins
            self._agents = agents
        return self._by_name.get(name)


class _Walk:
    """A workflow's tasks, nested ones included, with their paths (``walk``), listed on first
    use and again when the tasks differ (a ``model_copy`` shares it): validation goes over
    them in some twenty checks. Any two compare equal."""

    __slots__ = ("_tasks", "_walked")

    def __init__(self) -> None:
        self._tasks: tuple[Task, ...] | None = None
        self._walked: tuple[tuple[str, Task], ...] = ()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Walk)

    __hash__ = None  # type: ignore[assignment]  # mutable

    def of(self, tasks: tuple[Task, ...]) -> tuple[tuple[str, Task], ...]:
        if self._tasks is not tasks:
            self._walked = tuple(walk(tasks))
            self._tasks = tasks
        return self._walked


class Workflow(BaseModel):
    """A team of agents and the graph of tasks they carry out."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    name: str
    description: str = ""
    model: str | ModelSpec | None = None
    """Default model for agents that name none (``local`` when unset)."""
    models: dict[str, ModelSpec] = Field(default_factory=dict)
    """Named model specs that agents (and ``model``) may refer to by name."""
    inputs: dict[str, InputSpec] = Field(default_factory=dict)
    context: dict[str, KeySpec] = Field(default_factory=dict)
    signals: dict[str, SignalSpec] = Field(default_factory=dict)
    """The signals this workflow's ``wait:`` tasks wait for (``podium signal RUN NAME``)."""
    mcp_servers: dict[str, McpServerSpec] = Field(default_factory=dict)
    """MCP servers whose tools agents may call (``mcp:NAME/TOOL``), started with each run
    and stopped after it (``podium.toolserver``)."""
    agents: tuple[Agent, ...] = ()
    tasks: tuple[Task, ...] = Field(min_length=1)
    output: str | None = None
    """Context key holding the final output; defaults to the last task's output."""
    max_concurrency: int | None = Field(default=None, ge=1)
    """At most this many agent tasks at once; None: no limit. A limit that holds tasks back
    shows in the live view and in ``podium show``."""
    defaults: Policy = Field(default_factory=Policy)
    """The team's reliability policy (retries, timeout, fallbacks, circuit breaking); an
    agent's ``policy`` overrides it field by field."""
    budget: Budget | None = None
    """Limits on the whole run; a sub-workflow's apply to the task that runs it."""
    scripted: dict[str, list[JsonValue]] = Field(default_factory=dict)
    """Canned answers per task id, used when the run's model is ``scripted``."""

    _locations: dict[str, Location] = PrivateAttr(default_factory=dict)
    _templates: Templates = PrivateAttr(default_factory=Templates)
    _agent_index: _AgentIndex = PrivateAttr(default_factory=_AgentIndex)
    _walk: _Walk = PrivateAttr(default_factory=_Walk)

    @field_validator("agents", mode="before")
    @classmethod
    def _agents_from_mapping(cls, value: Any) -> Any:  # Any: raw input before validation
        if isinstance(value, dict):
            by_name = cast("dict[str, object]", value)
            return tuple(
                {"name": name, **cast("dict[str, object]", spec or {})}
                if isinstance(spec, dict | None)
                else spec
                for name, spec in by_name.items()
            )
        return value

    @property
    def output_key(self) -> str:
        """The context key whose value is the run's final output."""
        return self.output or self.tasks[-1].output_key

    @property
    def templates(self) -> Templates:
        """This workflow's templates and expressions, compiled once (by validation)."""
        templates = self._private("_templates")
        assert isinstance(templates, Templates)
        return templates

    def agent(self, name: str) -> Agent | None:
        """The agent called ``name``, if the team has one."""
        index = self._private("_agent_index")
        assert isinstance(index, _AgentIndex)
        return index.get(self.agents, name)

    def task(self, task_id: str) -> Task | None:
        """The top-level task ``task_id``, if there is one."""
        return next((t for t in self.tasks if t.id == task_id), None)

    def all_tasks(self) -> Iterator[Task]:
        """Every task, nested ones (loop, map, sub-workflow bodies) included."""
        return (task for _, task in self.walked())

    def walked(self) -> tuple[tuple[str, Task], ...]:
        """``walk(self.tasks)``, listed once: every task, nested ones included (not those of
        sub-workflows), with its dotted path in the document."""
        cache = self._private("_walk")
        assert isinstance(cache, _Walk)
        return cache.of(self.tasks)

    def location(self, path: str) -> Location | None:
        """Where in its source file the element at dotted ``path`` was written, if known."""
        while path:
            if path in self._locations:
                return self._locations[path]
            path = path.rpartition(".")[0]
        return self._locations.get("")

    def fingerprint(self) -> str:
        """A hash of the whole definition: the same workflow always gives the same one.

        Functions count by their qualified name and schemas by their JSON schema, so editing
        an instruction, a schema or the graph changes it.
        """
        text = self.model_dump_json(fallback=_describe_for_hash, exclude={"scripted"})
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def _private(self, name: str) -> object:
        """A private attribute, read straight from pydantic's store of them: ``self._name``
        goes through ``BaseModel.__getattr__``, which costs a microsecond or two, and the
        engine reads the templates and agents for every task."""
        private = self.__pydantic_private__
        assert private is not None  # a Workflow always has private attributes
        return private[name]

    def with_locations(self, locations: dict[str, Location]) -> Workflow:
        """Attach source locations (done by the YAML loader)."""
        self._locations.update(locations)
        return self


def _describe_for_hash(value: object) -> object:
    """What stands for a value pydantic cannot serialize (a schema class, a function)."""
    if isinstance(value, type):
        kind: type[object] = value
        if issubclass(kind, BaseModel):
            return kind.model_json_schema()
    if callable(value):
        module: object = getattr(value, "__module__", "")
        name: object = getattr(value, "__qualname__", "")
        return f"{module}.{name}"
    return repr(value)


def walk(tasks: tuple[Task, ...], prefix: str = "tasks") -> Iterator[tuple[str, Task]]:
    """Yield every task, nested ones included, with its dotted path in the document."""
    for index, task in enumerate(tasks):
        path = f"{prefix}.{index}"
        yield path, task
        if task.map is not None or task.loop is not None:  # most tasks have no children
            yield from _walk_children(task, path)


def _walk_children(task: Task, path: str) -> Iterator[tuple[str, Task]]:
    if task.map is not None:
        yield f"{path}.map.task", task.map.task
        yield from _walk_children(task.map.task, f"{path}.map.task")
    if task.loop is not None:
        yield from walk(task.loop.tasks, f"{path}.loop.tasks")


def task_ids(tasks: tuple[Task, ...]) -> list[TaskId]:
    """Ids of the given tasks, in order."""
    return [t.id for t in tasks]


Task.model_rebuild(_types_namespace={"Workflow": Workflow})
MapSpec.model_rebuild(_types_namespace={"Task": Task, "Workflow": Workflow})
LoopSpec.model_rebuild(_types_namespace={"Task": Task, "Workflow": Workflow})
