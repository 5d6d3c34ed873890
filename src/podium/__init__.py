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
from podium.knowledge import KnowledgeBase, search_tool
from podium.models.base import Model, ModelRequest, ModelResponse
from podium.models.scripted import ScriptedModel
from podium.planner import Plan
from podium.policy import CircuitPolicy, Policy, RetryPolicy
from podium.review import Review
from podium.router import LearningRouter, Router
from podium.run import RunResult
from podium.stores.sqlite import SqliteStore
from podium.synthesis import Answer
from podium.task import AtLeast, LoopSpec, MapSpec, PlanSpec, Task
from podium.tool import Tool, tool
from podium.verifier import Verification
from podium.workflow.model import InputSpec, KeySpec, Workflow

__all__ = [
    "Agent",
    "Answer",
    "AtLeast",
    "CircuitPolicy",
    "ConfigError",
    "Context",
    "ContextAccessError",
    "InputSpec",
    "KeySpec",
    "KnowledgeBase",
    "LearningRouter",
    "LoopSpec",
    "MapSpec",
    "Model",
    "ModelError",
    "ModelRequest",
    "ModelResponse",
    "OutputValidationError",
    "Plan",
    "PlanSpec",
    "PodiumError",
    "Policy",
    "RetryPolicy",
    "Review",
    "Router",
    "RunResult",
    "ScriptedModel",
    "SqliteStore",
    "StoreError",
    "Task",
    "TaskError",
    "Tool",
    "ToolError",
    "Verification",
    "Workflow",
    "WorkflowValidationError",
    "aresume",
    "arun",
    "run",
    "search_tool",
    "tool",
]
