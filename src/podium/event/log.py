"""The log's format: the ``Event`` union, ``EventAdapter`` to store and load it, and the
schema version persisted logs carry.

Persisted logs carry ``SCHEMA_VERSION``; a log written by an older version stays readable, a
newer one fails fast.
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, Final, cast

from pydantic import ConfigDict, Field, TypeAdapter
from pydantic_core import CoreConfig, CoreSchema, SchemaSerializer
from pydantic_core.core_schema import TaggedUnionSchema

from podium.errors import StoreError
from podium.event.approval import ApprovalDenied, ApprovalGranted, ApprovalRequested
from podium.event.control import (
    LoopIterated,
    MapExpanded,
    RouteChosen,
    SignalAwaited,
    SignalReceived,
)
from podium.event.plan import (
    ClaimVerified,
    PlanCreated,
    PlanRejected,
    PlanRepaired,
    SourcesRetrieved,
)
from podium.event.reliability import AgentChosen, BudgetExceeded, CircuitChanged, TaskRerouted
from podium.event.run import FeedbackRecorded, RunCompleted, RunResumed, RunStarted
from podium.event.task import (
    ContextWritten,
    ModelCalled,
    OutputRejected,
    TaskCancelled,
    TaskFailed,
    TaskRetried,
    TaskSkipped,
    TaskStarted,
    TaskSucceeded,
    ToolCalled,
    ToolDenied,
)

__all__ = [
    "SCHEMA_VERSION",
    "Event",
    "EventAdapter",
    "check_schema_version",
    "dump_event",
    "load_event",
]

SCHEMA_VERSION: Final = 12
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
10: ``run_started`` records the Temporal workflow of a run on the Temporal engine (``temporal``).
11: ``task_cancelled`` also records the tasks a stopping run cut off (``is_interrupted``).
12: ``task_succeeded`` records the write of the task's output to its context key (``key``,
    ``version``) in place of a separate ``context_written``: a task logs one event fewer.
"""


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
