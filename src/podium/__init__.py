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
  (opened and closed by the call), or None for the default file, ``default_store_path()``
  (opened once per process and kept open until it exits).
- A run is named by its id or by enough of its first characters to tell it apart.

Layers, lowest first (checked by import-linter): ``errors ids clock event`` <- ``agent tool
task workflow context models.base stores.base run`` <- ``engine`` <- this facade <- ``cli``.

Each name is imported from its module on first use, so ``import podium`` (and ``podium
--help``) loads nothing it does not need; ``_PUBLIC`` says where each name lives.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from podium.agent import Agent
    from podium.budget import Budget
    from podium.cancellation import Cancellation, cancel
    from podium.clock import Clock, SystemClock
    from podium.context import Context
    from podium.decision import approve, deny, feedback, signal
    from podium.distributed import (
        cancel_on_temporal,
        run_on_temporal,
        serve_worker,
        workflow_states,
    )
    from podium.engine.temporal import TemporalTarget
    from podium.entry import arun, replay, run
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
    from podium.history import (
        get_run,
        list_runs,
        metrics,
        metrics_series,
        pending_approvals,
        routing_preferences,
    )
    from podium.ids import RunId, TaskId
    from podium.knowledge import KnowledgeBase, search_tool
    from podium.liveness import WorkflowState, shown_status
    from podium.models.base import Model, ModelRequest, ModelResponse
    from podium.models.scripted import ScriptedModel
    from podium.planner import Plan
    from podium.policy import CircuitPolicy, Duration, Policy, RetryPolicy
    from podium.resumption import resume
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
    from podium.shown import Shown, shown_statuses
    from podium.stores.argument import StoreArg, opened_store
    from podium.stores.base import Store
    from podium.stores.location import default_store, default_store_path, store_exists
    from podium.stores.postgres import PostgresStore
    from podium.stores.sqlite import SqliteStore
    from podium.synthesis import Answer, read_claim
    from podium.task import AtLeast, LoopSpec, MapSpec, PlanSpec, Task, WaitSpec
    from podium.team import check_team, find_team, goal_inputs
    from podium.telemetry.logs import configure_logging
    from podium.telemetry.metrics import GroupMetrics, Metrics, MetricsReport
    from podium.telemetry.setup import configure_tracing
    from podium.tool import Tool, tool
    from podium.verifier import Verification
    from podium.workflow.model import InputSpec, KeySpec, SignalSpec, Workflow
    from podium.workflow.validate import validate as validate_workflow
    from podium.workflow.yaml import load_workflow
    from podium.yaml_reader import load as load_yaml

_PUBLIC: Final[dict[str, tuple[str, str]]] = {
    "Agent": ("podium.agent", "Agent"),
    "Answer": ("podium.synthesis", "Answer"),
    "AtLeast": ("podium.task", "AtLeast"),
    "Budget": ("podium.budget", "Budget"),
    "Cancellation": ("podium.cancellation", "Cancellation"),
    "CaseScore": ("podium.scoring", "CaseScore"),
    "CircuitPolicy": ("podium.policy", "CircuitPolicy"),
    "Clock": ("podium.clock", "Clock"),
    "ConfigError": ("podium.errors", "ConfigError"),
    "Context": ("podium.context", "Context"),
    "ContextAccessError": ("podium.errors", "ContextAccessError"),
    "Duration": ("podium.policy", "Duration"),
    "EvalCase": ("podium.scoring", "EvalCase"),
    "GroupMetrics": ("podium.telemetry.metrics", "GroupMetrics"),
    "InputSpec": ("podium.workflow.model", "InputSpec"),
    "KeySpec": ("podium.workflow.model", "KeySpec"),
    "KnowledgeBase": ("podium.knowledge", "KnowledgeBase"),
    "LearningRouter": ("podium.router", "LearningRouter"),
    "LoopSpec": ("podium.workflow.model", "LoopSpec"),  # which completes its model
    "MapSpec": ("podium.workflow.model", "MapSpec"),  # which completes its model
    "Metrics": ("podium.telemetry.metrics", "Metrics"),
    "MetricsReport": ("podium.telemetry.metrics", "MetricsReport"),
    "Model": ("podium.models.base", "Model"),
    "ModelError": ("podium.errors", "ModelError"),
    "ModelRequest": ("podium.models.base", "ModelRequest"),
    "ModelResponse": ("podium.models.base", "ModelResponse"),
    "OutputValidationError": ("podium.errors", "OutputValidationError"),
    "Plan": ("podium.planner", "Plan"),
    "PlanSpec": ("podium.task", "PlanSpec"),
    "PlanState": ("podium.run", "PlanState"),
    "PodiumError": ("podium.errors", "PodiumError"),
    "Policy": ("podium.policy", "Policy"),
    "PostgresStore": ("podium.stores.postgres", "PostgresStore"),  # needs the "postgres" extra
    "Preference": ("podium.router", "Preference"),
    "RetryPolicy": ("podium.policy", "RetryPolicy"),
    "Review": ("podium.review", "Review"),
    "Router": ("podium.router", "Router"),
    "RunId": ("podium.ids", "RunId"),
    "RunNotFoundError": ("podium.errors", "RunNotFoundError"),
    "RunResult": ("podium.run", "RunResult"),
    "RunState": ("podium.run", "RunState"),
    "RunStateError": ("podium.errors", "RunStateError"),
    "RunSummary": ("podium.run", "RunSummary"),
    "ScriptedModel": ("podium.models.scripted", "ScriptedModel"),
    "SignalSpec": ("podium.workflow.model", "SignalSpec"),
    "SqliteStore": ("podium.stores.sqlite", "SqliteStore"),
    "Store": ("podium.stores.base", "Store"),
    "StoreArg": ("podium.stores.argument", "StoreArg"),
    "StoreError": ("podium.errors", "StoreError"),
    "Suite": ("podium.scoring", "Suite"),
    "SuiteScore": ("podium.scoring", "SuiteScore"),
    "SystemClock": ("podium.clock", "SystemClock"),
    "Task": ("podium.workflow.model", "Task"),  # which completes its model
    "TemporalTarget": ("podium.engine.temporal", "TemporalTarget"),  # needs the "temporal" extra
    "TaskError": ("podium.errors", "TaskError"),
    "TaskId": ("podium.ids", "TaskId"),
    "TaskState": ("podium.run", "TaskState"),
    "Tool": ("podium.tool", "Tool"),
    "ToolError": ("podium.errors", "ToolError"),
    "Verification": ("podium.verifier", "Verification"),
    "WaitSpec": ("podium.task", "WaitSpec"),
    "Workflow": ("podium.workflow.model", "Workflow"),
    "WorkflowValidationError": ("podium.errors", "WorkflowValidationError"),
    "approve": ("podium.decision", "approve"),
    "arun": ("podium.entry", "arun"),
    "cancel": ("podium.cancellation", "cancel"),
    "cancel_on_temporal": ("podium.distributed", "cancel_on_temporal"),
    "check_team": ("podium.team", "check_team"),
    "configure_logging": ("podium.telemetry.logs", "configure_logging"),
    "configure_tracing": ("podium.telemetry.setup", "configure_tracing"),
    "default_store": ("podium.stores.location", "default_store"),
    "default_store_path": ("podium.stores.location", "default_store_path"),
    "deny": ("podium.decision", "deny"),
    "evaluate": ("podium.evaluation", "evaluate"),
    "feedback": ("podium.decision", "feedback"),
    "find_team": ("podium.team", "find_team"),
    "get_run": ("podium.history", "get_run"),
    "goal_inputs": ("podium.team", "goal_inputs"),
    "list_runs": ("podium.history", "list_runs"),
    "load_suite": ("podium.scoring", "load_suite"),
    "load_workflow": ("podium.workflow.yaml", "load_workflow"),
    "load_yaml": ("podium.yaml_reader", "load"),
    "metrics": ("podium.history", "metrics"),
    "metrics_series": ("podium.history", "metrics_series"),
    "pending_approvals": ("podium.history", "pending_approvals"),
    "opened_store": ("podium.stores.argument", "opened_store"),
    "read_claim": ("podium.synthesis", "read_claim"),
    "replay": ("podium.entry", "replay"),
    "resume": ("podium.resumption", "resume"),
    "routing_preferences": ("podium.history", "routing_preferences"),
    "run": ("podium.entry", "run"),
    "run_on_temporal": ("podium.distributed", "run_on_temporal"),
    "search_tool": ("podium.knowledge", "search_tool"),
    "serve_worker": ("podium.distributed", "serve_worker"),
    "shown_status": ("podium.liveness", "shown_status"),
    "shown_statuses": ("podium.shown", "shown_statuses"),
    "Shown": ("podium.shown", "Shown"),
    "workflow_states": ("podium.distributed", "workflow_states"),
    "WorkflowState": ("podium.liveness", "WorkflowState"),
    "signal": ("podium.decision", "signal"),
    "store_exists": ("podium.stores.location", "store_exists"),
    "tasks_in_graph_order": ("podium.run", "tasks_in_graph_order"),
    "tool": ("podium.tool", "tool"),
    "validate_workflow": ("podium.workflow.validate", "validate"),
}
"""Each public name: the module to import for it and its name there (``Task``, ``MapSpec`` and
``LoopSpec`` refer to ``Workflow``, whose module completes them)."""


def __getattr__(name: str) -> object:
    """Import a public name from its module on first use (then it is a plain attribute)."""
    where = _PUBLIC.get(name)
    if where is None:
        raise AttributeError(f"module 'podium' has no attribute {name!r}")
    value = getattr(importlib.import_module(where[0]), where[1])
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])


class _Facade(types.ModuleType):
    """This module's type: a submodule named like a public name (``podium.run``, ``podium.tool``,
    ``podium.feedback``) does not replace that name when it is first imported, as it would
    once imports are lazy."""

    def __setattr__(self, name: str, value: object) -> None:
        if name in _PUBLIC and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Facade


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
    "Shown",
    "SignalSpec",
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
    "TemporalTarget",
    "Tool",
    "ToolError",
    "Verification",
    "WaitSpec",
    "Workflow",
    "WorkflowState",
    "WorkflowValidationError",
    "approve",
    "arun",
    "cancel",
    "cancel_on_temporal",
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
    "load_yaml",
    "metrics",
    "metrics_series",
    "opened_store",
    "pending_approvals",
    "read_claim",
    "replay",
    "resume",
    "routing_preferences",
    "run",
    "run_on_temporal",
    "search_tool",
    "serve_worker",
    "shown_status",
    "shown_statuses",
    "signal",
    "store_exists",
    "tasks_in_graph_order",
    "tool",
    "validate_workflow",
    "workflow_states",
]
