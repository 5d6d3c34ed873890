"""Every event a run's log can hold, and ``EventAdapter`` to store and load them.

The append-only event log is the single source of truth of a run: its state, ``podium runs``,
``podium show`` and the live view are all folds over it (see ``podium.run``).

Events are frozen dataclasses discriminated by ``kind``. Persisted logs carry
``SCHEMA_VERSION``; a log written by an older version stays readable, a newer one fails fast.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Annotated, Final, Literal, cast

from pydantic import ConfigDict, Field, JsonValue, TypeAdapter
from pydantic_core import CoreConfig, CoreSchema, SchemaSerializer
from pydantic_core.core_schema import TaggedUnionSchema

from podium.errors import StoreError
from podium.ids import RunId, TaskId

__all__ = [
    "SCHEMA_VERSION",
    "FeedbackRecorded",
    "AgentChosen",
    "TaskRerouted",
    "CircuitChanged",
    "BudgetExceeded",
    "ApprovalRequested",
    "ApprovalGranted",
    "ApprovalDenied",
    "ClaimVerified",
    "ContextWritten",
    "Event",
    "EventAdapter",
    "GraphNode",
    "LoopIterated",
    "MapExpanded",
    "ModelCalled",
    "OutputRejected",
    "PlanCreated",
    "PlanRejected",
    "PlanRepaired",
    "RouteChosen",
    "RunCompleted",
    "RunResumed",
    "RunStarted",
    "RunStatus",
    "EndStatus",
    "SignalAwaited",
    "SignalReceived",
    "SourcesRetrieved",
    "Verdict",
    "TaskFailed",
    "TaskCancelled",
    "TaskKind",
    "TaskRetried",
    "TaskSkipped",
    "TaskStarted",
    "TaskSucceeded",
    "ToolCalled",
    "ToolDenied",
    "check_schema_version",
    "dump_event",
    "load_event",
]

SCHEMA_VERSION: Final = 9
"""Version of the persisted event format.

1: first release (run, task, model, tool, context, route, map and loop events).
2: ``run_started`` records the workflow's source, fingerprint, model override and process;
   ``run_resumed``; ``task_skipped`` carries its loop iteration; reliability events
   (``task_rerouted``, ``circuit_changed``, ``budget_exceeded``) and approvals
   (``approval_requested``, ``approval_granted``, ``approval_denied``); a run may end
   ``waiting`` for approvals; ``agent_chosen`` (capability routing); ``feedback_recorded``.
3: planning (``plan_created``, ``plan_repaired``, ``plan_rejected``), retrieval
   (``sources_retrieved``) and verification (``claim_verified``); the ``plan`` task kind;
   ``run_started`` records the run's own budget.
4: ``run_started`` and ``run_resumed`` record the host as well as the process, for stores
   that processes on several machines share; ``task_started`` records how long the attempt
   waited on a concurrency limit, and which.
5: ``loop_iterated`` records a loop's ``rank`` of the iteration (with ``best``) and, on its
   last, the iteration it ``kept``.
6: ``sources_retrieved`` records the documents that could not be read (``skipped``).
7: ``tool_denied``: a model asked for a tool its agent was not given, and the call was
   not made.
8: ``task_cancelled`` (the workflow withdrew a task: a cancelling join, an early-stopping
   map, an end, a cancel region) and ``signal_received`` (a named signal sent to the run).
9: the ``wait`` task kind and ``signal_awaited`` (a task waits for a named signal).
"""

RunStatus = Literal["running", "waiting", "succeeded", "failed", "cancelled"]
"""``waiting``: paused until a human approves or denies a task (``podium approvals``)."""
EndStatus = Literal["succeeded", "failed", "cancelled", "waiting"]
"""How a run (or one execution of it, for ``waiting``) ended."""
Verdict = Literal["supported", "unsupported", "contradicted"]
"""What a verifier found for one claim against the sources in the context."""
TaskKind = Literal["agent", "map", "loop", "workflow", "plan", "wait"]


@dataclass(frozen=True, slots=True, kw_only=True)
class GraphNode:
    """One task of the run's graph as recorded when the run starts (for ``podium show``)."""

    id: TaskId
    kind: TaskKind
    agent: str | None
    needs: tuple[TaskId, ...]
    output: str
    parent: TaskId | None = None
    """The composite task (map, loop, sub-workflow) this node belongs to, if any."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RunStarted:
    """A run began: what it runs and with which inputs."""

    kind: Literal["run_started"] = "run_started"
    seq: int
    run_id: RunId
    at: datetime
    workflow: str
    goal: str | None = None
    inputs: dict[str, JsonValue]
    graph: tuple[GraphNode, ...]
    output_key: str | None = None
    source: str | None = None
    """The workflow file the run came from, if any (``podium resume`` loads it again)."""
    fingerprint: str = ""
    """A hash of the workflow's definition, to notice a resume with a changed workflow."""
    pid: int | None = None
    """The process running it, so a dead one's run shows as interrupted."""
    host: str | None = None
    """The machine ``pid`` runs on (None in logs before version 4: this machine)."""
    model: str | None = None
    """The model that replaced every agent's for this run (``--model``), if one did."""
    replay_of: RunId | None = None
    """For ``podium replay``: the recorded run this one re-executes (metrics and the router
    do not learn from replays)."""
    budget: dict[str, JsonValue] | None = None
    """Limits given for this run on top of the workflow's (``--max-cost``...); a resumed or
    replayed run keeps them."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RunResumed:
    """An interrupted, cancelled or failed run continues from its log in a new process."""

    kind: Literal["run_resumed"] = "run_resumed"
    seq: int
    run_id: RunId
    at: datetime
    pid: int | None = None
    host: str | None = None
    """The machine ``pid`` runs on."""
    fingerprint: str = ""
    is_replay: bool = False
    """True for ``podium replay``: model and tool results come from the log only."""
    budget: dict[str, JsonValue] | None = None
    """Limits given for this run on top of the workflow's from here on (``podium resume
    --max-calls``...), in place of those its start or an earlier resume recorded; None: those
    stay. A later resume and a replay keep the latest."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskStarted:
    """An attempt at a task began."""

    kind: Literal["task_started"] = "task_started"
    seq: int
    run_id: RunId
    at: datetime
    task_id: TaskId
    agent: str | None
    attempt: int = 1
    iteration: int = 0
    waited_s: float = 0.0
    """How long the attempt waited for a concurrency slot before it began."""
    limit: str | None = None
    """The concurrency limit it waited on (``max_concurrency 16``), if it waited."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelCalled:
    """A model call completed (journaled so a resumed task need not pay for it again)."""

    kind: Literal["model_called"] = "model_called"
    seq: int
    run_id: RunId
    at: datetime
    task_id: TaskId
    agent: str
    model: str
    input_tokens: int
    output_tokens: int
    latency_s: float
    cost: float = 0.0
    response: JsonValue = None
    """The response as the model gave it: text, tool calls."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolCalled:
    """A tool call completed or failed."""

    kind: Literal["tool_called"] = "tool_called"
    seq: int
    run_id: RunId
    at: datetime
    task_id: TaskId
    agent: str
    tool: str
    arguments: dict[str, JsonValue]
    result: JsonValue = None
    error: str | None = None
    latency_s: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolDenied:
    """A model asked for a tool its agent may not call; the call was not made."""

    kind: Literal["tool_denied"] = "tool_denied"
    seq: int
    run_id: RunId
    at: datetime
    task_id: TaskId
    agent: str
    tool: str
    arguments: dict[str, JsonValue]
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class OutputRejected:
    """A model's output failed the agent's output schema; a repair was asked for."""

    kind: Literal["output_rejected"] = "output_rejected"
    seq: int
    run_id: RunId
    at: datetime
    task_id: TaskId
    agent: str
    repair: int
    errors: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ContextWritten:
    """A context key got a new version, with its provenance."""

    kind: Literal["context_written"] = "context_written"
    seq: int
    run_id: RunId
    at: datetime
    key: str
    version: int
    value: JsonValue
    task_id: TaskId | None
    agent: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskSucceeded:
    """A task finished with an output."""

    kind: Literal["task_succeeded"] = "task_succeeded"
    seq: int
    run_id: RunId
    at: datetime
    task_id: TaskId
    agent: str | None
    output: JsonValue = None
    attempt: int = 1
    iteration: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskFailed:
    """A task attempt failed; ``retryable`` tells whether a retry could help."""

    kind: Literal["task_failed"] = "task_failed"
    seq: int
    run_id: RunId
    at: datetime
    task_id: TaskId
    agent: str | None
    error_type: str
    message: str
    retryable: bool = False
    attempt: int = 1
    iteration: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskRetried:
    """A failed attempt will be tried again after ``delay_s``."""

    kind: Literal["task_retried"] = "task_retried"
    seq: int
    run_id: RunId
    at: datetime
    task_id: TaskId
    attempt: int
    delay_s: float


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskSkipped:
    """A task did not run: a condition was false, a route was not taken, or a need failed."""

    kind: Literal["task_skipped"] = "task_skipped"
    seq: int
    run_id: RunId
    at: datetime
    task_id: TaskId
    reason: str
    iteration: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskCancelled:
    """The workflow withdrew a task: a join had what it waited for (``cancel_rest``), a map
    stopped early, a task ended the workflow, or a task cancelled a region. Its in-flight
    calls were cancelled; it did not fail, and a resumed run keeps it cancelled."""

    kind: Literal["task_cancelled"] = "task_cancelled"
    seq: int
    run_id: RunId
    at: datetime
    task_id: TaskId
    reason: str
    iteration: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class SignalReceived:
    """A named signal was sent to the run (``podium signal``), with its payload.

    A ``wait: {signal: NAME}`` task takes the first signal of that name it has not taken
    yet, whether it was sent before or after the task began to wait (a persistent trigger).
    """

    kind: Literal["signal_received"] = "signal_received"
    seq: int
    run_id: RunId
    at: datetime
    name: str
    data: JsonValue = None
    by: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class SignalAwaited:
    """A ``wait:`` task found no signal of its name: the run waits for one (``podium signal``).

    ``deadline`` is when its ``on_timeout`` applies, on the next resume after it.
    """

    kind: Literal["signal_awaited"] = "signal_awaited"
    seq: int
    run_id: RunId
    at: datetime
    task_id: TaskId
    name: str
    deadline: datetime | None = None
    iteration: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class RouteChosen:
    """A router task chose one of its routes."""

    kind: Literal["route_chosen"] = "route_chosen"
    seq: int
    run_id: RunId
    at: datetime
    task_id: TaskId
    choice: TaskId
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class MapExpanded:
    """A map task learned its items and starts one task per item."""

    kind: Literal["map_expanded"] = "map_expanded"
    seq: int
    run_id: RunId
    at: datetime
    task_id: TaskId
    items: int


@dataclass(frozen=True, slots=True, kw_only=True)
class LoopIterated:
    """A loop finished an iteration and decided whether to go round again."""

    kind: Literal["loop_iterated"] = "loop_iterated"
    seq: int
    run_id: RunId
    at: datetime
    task_id: TaskId
    iteration: int
    is_done: bool
    reason: str
    rank: JsonValue = None
    """The loop's ``best`` expression after this iteration (None without one)."""
    kept: int | None = None
    """On the last iteration of a loop with ``best``: the iteration whose results it ends
    with (its keys hold them again)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RunCompleted:
    """The run ended: succeeded, failed (with the reason) or cancelled."""

    kind: Literal["run_completed"] = "run_completed"
    seq: int
    run_id: RunId
    at: datetime
    status: EndStatus
    output: JsonValue = None
    error: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskRerouted:
    """A task's agent (or model) kept failing or its circuit was open: a fallback takes over."""

    kind: Literal["task_rerouted"] = "task_rerouted"
    seq: int
    run_id: RunId
    at: datetime
    task_id: TaskId
    from_target: str
    """``agent:NAME`` or ``model:NAME`` that is given up on."""
    to_target: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CircuitChanged:
    """A circuit breaker changed state: open (calls go straight to fallbacks), half-open
    (one probe is let through) or closed (healthy again)."""

    kind: Literal["circuit_changed"] = "circuit_changed"
    seq: int
    run_id: RunId
    at: datetime
    target: str
    """``model:NAME`` or ``agent:NAME``."""
    state: Literal["closed", "open", "half_open"]
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class BudgetExceeded:
    """A budget (run, agent or task: tokens, cost, model calls, wall time) ran out, or a
    runaway loop was detected: the run stops cleanly with what it has."""

    kind: Literal["budget_exceeded"] = "budget_exceeded"
    seq: int
    run_id: RunId
    at: datetime
    scope: str
    """``run``, ``agent:NAME`` or ``task:ID``."""
    limit: str
    """``tokens``, ``cost``, ``model_calls``, ``wall_time`` or ``loop``."""
    used: float
    allowed: float
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ApprovalRequested:
    """A task needs a human decision before its output counts; the run waits for it."""

    kind: Literal["approval_requested"] = "approval_requested"
    seq: int
    run_id: RunId
    at: datetime
    task_id: TaskId
    agent: str | None
    output: JsonValue = None
    """What the task proposes (the answer to approve, deny or edit)."""
    reason: str = ""
    iteration: int = 0
    deadline: datetime | None = None
    """When the configured default decision applies, if there is a timeout."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ApprovalGranted:
    """A human (or the timeout default) approved a task's output, possibly edited."""

    kind: Literal["approval_granted"] = "approval_granted"
    seq: int
    run_id: RunId
    at: datetime
    task_id: TaskId
    by: str
    comment: str = ""
    is_edited: bool = False
    output: JsonValue = None
    """The edited output when ``is_edited``."""
    iteration: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class ApprovalDenied:
    """A human (or the timeout default) denied a task's output; it is routed like a failure."""

    kind: Literal["approval_denied"] = "approval_denied"
    seq: int
    run_id: RunId
    at: datetime
    task_id: TaskId
    by: str
    reason: str
    iteration: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentChosen:
    """The router picked an agent for a task that names a capability, and why."""

    kind: Literal["agent_chosen"] = "agent_chosen"
    seq: int
    run_id: RunId
    at: datetime
    task_id: TaskId
    capability: str
    agent: str
    reason: str
    scores: dict[str, float] = field(default_factory=dict)
    """Each candidate agent's score when the choice was made."""


@dataclass(frozen=True, slots=True, kw_only=True)
class FeedbackRecorded:
    """A person rated a run (or one task of it), 1 to 5."""

    kind: Literal["feedback_recorded"] = "feedback_recorded"
    seq: int
    run_id: RunId
    at: datetime
    score: int
    task_id: TaskId | None = None
    comment: str = ""
    by: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class PlanCreated:
    """A plan task has a plan to execute: the first one, or a revision after a failure.

    ``steps`` are the graph nodes of the tasks it will run (ids qualified under the plan
    task); ``plan`` is the plan itself as the planner gave it (after any repairs).
    """

    kind: Literal["plan_created"] = "plan_created"
    seq: int
    run_id: RunId
    at: datetime
    task_id: TaskId
    revision: int
    """1 for the first plan; each re-plan adds one."""
    steps: tuple[GraphNode, ...]
    plan: JsonValue
    reason: str = ""
    """Why this plan was made: the goal for the first one, what went wrong for a revision."""
    kept: tuple[TaskId, ...] = ()
    """Steps of earlier revisions that succeeded and are kept, not redone."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PlanRepaired:
    """A plan had problems that were safe to fix without asking again (each one listed)."""

    kind: Literal["plan_repaired"] = "plan_repaired"
    seq: int
    run_id: RunId
    at: datetime
    task_id: TaskId
    revision: int
    repairs: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class PlanRejected:
    """A plan could not be executed or safely repaired; the planner is asked again."""

    kind: Literal["plan_rejected"] = "plan_rejected"
    seq: int
    run_id: RunId
    at: datetime
    task_id: TaskId
    revision: int
    ask: int
    """Which ask of this revision was rejected (1 is the first)."""
    problems: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class SourcesRetrieved:
    """Passages found in the knowledge base for a task (they become citable sources).

    Each passage is ``{"id", "document", "title", "text", "score"}``; ``id`` is what an answer
    cites.
    """

    kind: Literal["sources_retrieved"] = "sources_retrieved"
    seq: int
    run_id: RunId
    at: datetime
    task_id: TaskId
    query: str
    passages: tuple[dict[str, JsonValue], ...]
    skipped: tuple[dict[str, str], ...] = ()
    """Documents of the knowledge base that could not be read, each ``{"document",
    "reason"}`` (on the first retrieval after the documents were read)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ClaimVerified:
    """A verifier checked one claim of a draft against the sources in the context.

    ``agent`` and ``model`` are those that wrote the draft (what the hallucination rate is
    charged to); ``task_id`` is the verifying task.
    """

    kind: Literal["claim_verified"] = "claim_verified"
    seq: int
    run_id: RunId
    at: datetime
    task_id: TaskId
    subject: str
    """The context key holding the draft that was checked."""
    claim: str
    verdict: Verdict
    evidence: str = ""
    sources: tuple[str, ...] = ()
    """Passage ids the claim cites."""
    agent: str | None = None
    model: str | None = None
    iteration: int = 0


Event = Annotated[
    RunStarted
    | RunResumed
    | TaskStarted
    | ModelCalled
    | ToolCalled
    | ToolDenied
    | OutputRejected
    | ContextWritten
    | TaskSucceeded
    | TaskFailed
    | TaskRetried
    | TaskSkipped
    | TaskCancelled
    | SignalReceived
    | SignalAwaited
    | RouteChosen
    | MapExpanded
    | LoopIterated
    | RunCompleted
    | TaskRerouted
    | CircuitChanged
    | BudgetExceeded
    | ApprovalRequested
    | ApprovalGranted
    | ApprovalDenied
    | AgentChosen
    | FeedbackRecorded
    | PlanCreated
    | PlanRepaired
    | PlanRejected
    | SourcesRetrieved
    | ClaimVerified,
    Field(discriminator="kind"),
]

EventAdapter: TypeAdapter[Event] = TypeAdapter(
    Event,
    # Inputs refuse NaN and infinity (``podium.input_limits``), but a log must stay readable
    # whatever reaches it: a non-finite float is stored as NaN/Infinity, which loads back.
    config=ConfigDict(ser_json_inf_nan="constants"),
)


def check_schema_version(version: int, *, where: str) -> None:
    """Fail fast on a log written by a newer podium.

    Raises:
        StoreError: ``version`` is newer than this podium understands.
    """
    if version > SCHEMA_VERSION:
        msg = (
            f"{where} was written with event schema version {version}, but this podium reads "
            f"up to version {SCHEMA_VERSION}: upgrade podium to read it"
        )
        raise StoreError(msg)


def dump_event(event: Event) -> bytes:
    """Serialize one event to JSON bytes (what ``EventAdapter.dump_json`` writes)."""
    return _serializers()[event.kind].to_json(event)


def load_event(data: str | bytes) -> Event:
    """Parse one event from JSON."""
    return EventAdapter.validate_json(data)


@cache
def _serializers() -> dict[str, SchemaSerializer]:
    """One serializer per ``kind``, cut from ``EventAdapter``'s schema: serializing one
    dataclass directly takes a third of the time of going through the union each time."""
    return {kind: SchemaSerializer(schema, _CORE_CONFIG) for kind, schema in _choices().items()}


_CORE_CONFIG: Final[CoreConfig] = {"ser_json_inf_nan": "constants"}


def _choices() -> dict[str, CoreSchema]:
    """Each event kind's schema, with the definitions the union's schema shares."""
    schema = EventAdapter.core_schema
    definitions: list[CoreSchema] = []
    if schema["type"] == "definitions":
        definitions, schema = schema["definitions"], schema["schema"]
    if schema["type"] != "tagged-union":  # pragma: no cover - how pydantic builds the union
        raise TypeError(f"the event union's schema is a {schema['type']}, not a tagged union")
    union = cast("TaggedUnionSchema", schema)
    return {
        str(kind): {"type": "definitions", "schema": choice, "definitions": definitions}
        for kind, choice in union["choices"].items()
        if not isinstance(choice, str)  # a str names another choice (never, for events)
    }
