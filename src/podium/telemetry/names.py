"""Span and attribute names used in podium's traces.

The ``gen_ai.*`` names follow the OpenTelemetry GenAI semantic conventions (as published in
``opentelemetry-semantic-conventions`` 0.66b2: ``gen_ai.provider.name`` replaces the deprecated
``gen_ai.system``); the ``podium.*`` names are podium's own.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "ERROR_TYPE",
    "GEN_AI_INPUT_MESSAGES",
    "GEN_AI_OPERATION_NAME",
    "GEN_AI_OUTPUT_MESSAGES",
    "GEN_AI_PROVIDER_NAME",
    "GEN_AI_REQUEST_MODEL",
    "GEN_AI_RESPONSE_MODEL",
    "GEN_AI_TOOL_CALL_ARGUMENTS",
    "GEN_AI_TOOL_CALL_RESULT",
    "GEN_AI_TOOL_NAME",
    "GEN_AI_USAGE_INPUT_TOKENS",
    "GEN_AI_USAGE_OUTPUT_TOKENS",
    "OPERATION_CHAT",
    "OPERATION_EXECUTE_TOOL",
    "PODIUM_AGENT",
    "PODIUM_ATTEMPT",
    "PODIUM_CAPABILITY",
    "PODIUM_COST",
    "PODIUM_ITERATION",
    "PODIUM_OUTPUT",
    "PODIUM_ROUTE_CHOICE",
    "PODIUM_ROUTE_REASON",
    "PODIUM_RUN_ID",
    "PODIUM_RUN_STATUS",
    "PODIUM_TASK_ID",
    "PODIUM_TASK_STATUS",
    "PODIUM_WORKFLOW",
    "SPAN_MODEL",
    "SPAN_RUN",
    "SPAN_TASK",
    "SPAN_TOOL",
    "TRACER_NAME",
]

TRACER_NAME: Final = "podium"

# Spans: podium.run > podium.task (> podium.task for composite children) > model and tool.
SPAN_RUN: Final = "podium.run"
SPAN_TASK: Final = "podium.task"
SPAN_MODEL: Final = "podium.model"
SPAN_TOOL: Final = "podium.tool"

# GenAI semantic conventions.
GEN_AI_OPERATION_NAME: Final = "gen_ai.operation.name"
OPERATION_CHAT: Final = "chat"
OPERATION_EXECUTE_TOOL: Final = "execute_tool"
GEN_AI_PROVIDER_NAME: Final = "gen_ai.provider.name"
GEN_AI_REQUEST_MODEL: Final = "gen_ai.request.model"
GEN_AI_RESPONSE_MODEL: Final = "gen_ai.response.model"
GEN_AI_USAGE_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
GEN_AI_TOOL_NAME: Final = "gen_ai.tool.name"
GEN_AI_INPUT_MESSAGES: Final = "gen_ai.input.messages"
GEN_AI_OUTPUT_MESSAGES: Final = "gen_ai.output.messages"
GEN_AI_TOOL_CALL_ARGUMENTS: Final = "gen_ai.tool.call.arguments"
GEN_AI_TOOL_CALL_RESULT: Final = "gen_ai.tool.call.result"
ERROR_TYPE: Final = "error.type"

# podium's own.
PODIUM_RUN_ID: Final = "podium.run.id"
PODIUM_RUN_STATUS: Final = "podium.run.status"
PODIUM_WORKFLOW: Final = "podium.workflow"
PODIUM_TASK_ID: Final = "podium.task.id"
PODIUM_TASK_STATUS: Final = "podium.task.status"
PODIUM_AGENT: Final = "podium.agent"
PODIUM_ATTEMPT: Final = "podium.attempt"
PODIUM_ITERATION: Final = "podium.iteration"
PODIUM_CAPABILITY: Final = "podium.capability"
PODIUM_ROUTE_CHOICE: Final = "podium.route.choice"
PODIUM_ROUTE_REASON: Final = "podium.route.reason"
PODIUM_COST: Final = "podium.cost"
PODIUM_OUTPUT: Final = "podium.output"
"""A task's output (only with ``PODIUM_TRACE_CONTENT=1``)."""
