"""Every event a run's log can hold, and ``EventAdapter`` to store and load them.

The append-only event log is the single source of truth of a run: its state, ``podium runs``,
``podium show`` and the live view are all folds over it (see ``podium.run``).

Events are frozen dataclasses discriminated by ``kind``. Persisted logs carry
``SCHEMA_VERSION``; a log written by an older version stays readable, a newer one fails fast.

The events live in modules by what they record (``run``, ``task``, ``control``, ``approval``,
``reliability``, ``plan``); ``log`` holds the union and its serialisers. Import them from here.
"""

from podium.event.approval import ApprovalDenied, ApprovalGranted, ApprovalRequested
from podium.event.control import (
    LoopIterated,
    MapExpanded,
    RouteChosen,
    SignalAwaited,
    SignalReceived,
)
from podium.event.log import (
    SCHEMA_VERSION,
    Event,
    EventAdapter,
    check_schema_version,
    dump_event,
    load_event,
)
from podium.event.plan import (
    ClaimVerified,
    PlanCreated,
    PlanRejected,
    PlanRepaired,
    SourcesRetrieved,
    Verdict,
)
from podium.event.reliability import AgentChosen, BudgetExceeded, CircuitChanged, TaskRerouted
from podium.event.run import (
    EndStatus,
    FeedbackRecorded,
    GraphNode,
    RunCompleted,
    RunResumed,
    RunStarted,
    RunStatus,
    TaskKind,
    TemporalRef,
)
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
    recorded_write,
)

__all__ = [
    "SCHEMA_VERSION",
    "TemporalRef",
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
    "recorded_write",
]
