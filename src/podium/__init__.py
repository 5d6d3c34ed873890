"""podium: an orchestrator agent that runs a team of AI agents over a task graph.

This module is the public API; it holds no logic. Everything in ``__all__`` is public, and so
are two modules: ``podium.event`` (every event type of the log, the log's format) and
``podium.testing`` (the scripted model, the manual clock, the contract suites). Every other
module is internal and may change without notice; the CLI and the server use only this API.

How to call it:

- ``run()`` runs a workflow, a goal or an agent from synchronous code; ``await arun()`` is the
  same from async code, with the same parameters. That is the one sync/async pair.
- Everything else is a coroutine function without a suffix: ``await podium.resume(...)``,
  ``await podium.list_runs()``, ``await podium.approve(...)``. From synchronous code (a
  script, the CLI) wrap the call in ``asyncio.run(...)``.
- Each takes ``store=``: a ``Store`` (used as is, left open), the path of a SQLite file
  (opened and closed by the call), or None for the default file, ``default_store_path()``.
- A run is named by its id or by enough of its first characters to tell it apart.

Layers, lowest first (checked by import-linter): ``errors ids clock event`` <- ``agent tool
task workflow context models.base stores.base run`` <- ``engine`` <- this facade <- ``cli``.
"""

from typing import TYPE_CHECKING

from podium.agent import Agent
from podium.budget import Budget
from podium.cancellation import Cancellation, cancel
from podium.clock import Clock, SystemClock
from podium.context import Context
from podium.decision import approve, deny, feedback
from podium.entry import arun, replay, resume, run
from podium.errors import (
    ConfigError,
    ContextAccessError,
    ModelError,
    OutputValidationError,
    PodiumError,
    RunNotFoundError,
    RunStateError,
    StoreError,
    TaskError,
    ToolError,
    WorkflowValidationError,
)
from podium.evaluation import evaluate
from podium.history import get_run, list_runs, metrics, metrics_series, routing_preferences
from podium.ids import RunId, TaskId
from podium.knowledge import KnowledgeBase, search_tool
from podium.liveness import shown_status
from podium.models.base import Model, ModelRequest, ModelResponse
from podium.models.scripted import ScriptedModel
from podium.planner import Plan
from podium.policy import CircuitPolicy, Duration, Policy, RetryPolicy
from podium.review import Review
from podium.router import LearningRouter, Preference, Router
from podium.run import (
    PlanState,
    RunResult,
    RunState,
    RunSummary,
    TaskState,
    tasks_in_graph_order,
)
from podium.scoring import CaseScore, EvalCase, Suite, SuiteScore, load_suite
from podium.stores.argument import StoreArg, opened_store
from podium.stores.base import Store
from podium.stores.location import default_store, default_store_path, store_exists
from podium.stores.sqlite import SqliteStore
from podium.synthesis import Answer, read_claim
from podium.task import AtLeast, LoopSpec, MapSpec, PlanSpec, Task
from podium.team import check_team, find_team, goal_inputs
from podium.telemetry.logs import configure_logging
from podium.telemetry.metrics import GroupMetrics, Metrics, MetricsReport
from podium.telemetry.setup import configure_tracing
from podium.tool import Tool, tool
from podium.verifier import Verification
from podium.workflow.model import InputSpec, KeySpec, Workflow
from podium.workflow.validate import validate as validate_workflow
from podium.workflow.yaml import load_workflow

if TYPE_CHECKING:  # imported lazily below: it needs the "postgres" extra
    from podium.stores.postgres import PostgresStore

__all__ = [
    "Agent",
    "Answer",
    "AtLeast",
    "Budget",
    "Cancellation",
    "CaseScore",
    "CircuitPolicy",
    "Clock",
    "ConfigError",
    "Context",
    "ContextAccessError",
    "Duration",
    "EvalCase",
    "GroupMetrics",
    "InputSpec",
    "KeySpec",
    "KnowledgeBase",
    "LearningRouter",
    "LoopSpec",
    "MapSpec",
    "Metrics",
    "MetricsReport",
    "Model",
    "ModelError",
    "ModelRequest",
    "ModelResponse",
    "OutputValidationError",
    "Plan",
    "PlanSpec",
    "PlanState",
    "PodiumError",
    "Policy",
    "PostgresStore",
    "Preference",
    "RetryPolicy",
    "Review",
    "Router",
    "RunId",
    "RunNotFoundError",
    "RunResult",
    "RunState",
    "RunStateError",
    "RunSummary",
    "ScriptedModel",
    "SqliteStore",
    "Store",
    "StoreArg",
    "StoreError",
    "Suite",
    "SuiteScore",
    "SystemClock",
    "Task",
    "TaskError",
    "TaskId",
    "TaskState",
    "Tool",
    "ToolError",
    "Verification",
    "Workflow",
    "WorkflowValidationError",
    "approve",
    "arun",
    "cancel",
    "check_team",
    "configure_logging",
    "configure_tracing",
    "default_store",
    "default_store_path",
    "deny",
    "evaluate",
    "feedback",
    "find_team",
    "get_run",
    "goal_inputs",
    "list_runs",
    "load_suite",
    "load_workflow",
    "metrics",
    "metrics_series",
    "opened_store",
    "read_claim",
    "replay",
    "resume",
    "routing_preferences",
    "run",
    "search_tool",
    "shown_status",
    "store_exists",
    "tasks_in_graph_order",
    "tool",
    "validate_workflow",
]


def __getattr__(name: str) -> object:
    """``PostgresStore`` is imported on first use: it needs the ``postgres`` extra."""
    if name == "PostgresStore":
        from podium.stores.postgres import PostgresStore

        return PostgresStore
    raise AttributeError(f"module 'podium' has no attribute {name!r}")
