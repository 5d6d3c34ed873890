"""podium: an orchestrator agent that runs a team of AI agents over a task graph.

Layers, lowest first (checked by import-linter): ``errors ids clock event`` <- ``agent tool
task workflow context models.base stores.base run`` <- ``engine`` <- ``podium`` <- ``cli``.
This module is the public API; it holds no logic.
"""

from podium.agent import Agent
from podium.context import Context
from podium.entry import aresume, arun, run
from podium.errors import (
    ConfigError,
    ContextAccessError,
    ModelError,
    OutputValidationError,
    PodiumError,
    StoreError,
    TaskError,
    ToolError,
    WorkflowValidationError,
)
from podium.models.base import Model, ModelRequest, ModelResponse
from podium.models.scripted import ScriptedModel
from podium.policy import CircuitPolicy, Policy, RetryPolicy
from podium.router import LearningRouter, Router
from podium.run import RunResult
from podium.stores.sqlite import SqliteStore
from podium.task import AtLeast, LoopSpec, MapSpec, Task
from podium.tool import Tool, tool
from podium.workflow.model import InputSpec, KeySpec, Workflow

__all__ = [
    "Agent",
    "AtLeast",
    "CircuitPolicy",
    "ConfigError",
    "Context",
    "ContextAccessError",
    "InputSpec",
    "KeySpec",
    "LearningRouter",
    "LoopSpec",
    "MapSpec",
    "Model",
    "ModelError",
    "ModelRequest",
    "ModelResponse",
    "OutputValidationError",
    "PodiumError",
    "Policy",
    "RetryPolicy",
    "Router",
    "RunResult",
    "ScriptedModel",
    "SqliteStore",
    "StoreError",
    "Task",
    "TaskError",
    "Tool",
    "ToolError",
    "Workflow",
    "WorkflowValidationError",
    "aresume",
    "arun",
    "run",
    "tool",
]
