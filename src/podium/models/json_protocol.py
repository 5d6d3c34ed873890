"""The constrained-JSON protocol of a model without native tool calling (``LocalModel``).

A request becomes chat messages whose system message says how to answer, and a JSON schema
that decoding is held to: with tools, a reply is ``{"tool": NAME, "arguments": {...}}`` or
``{"answer": ...}`` (one ``anyOf`` branch per tool); with an output schema alone, the answer
itself. The hint shows one example object, not the schema: a small model copies a schema's
names and prose into its answer.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import JsonValue

from podium.models.base import Message, ModelRequest, ToolSpec
from podium.models.example import example_of

__all__ = ["DEFAULT_TEMPERATURE", "ChatMessage", "JsonCall", "prepare", "schema_hint"]

DEFAULT_TEMPERATURE = 0.2
"""The temperature of a request that sets none."""
_DEF_KEYS = ("$defs", "definitions")

ChatMessage = dict[str, str]
"""A chat message as llama.cpp takes it (``role``, ``content``)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class JsonCall:
    """A request as a model without native tool calling is asked it."""

    messages: list[ChatMessage]
    schema: dict[str, JsonValue] | None
    """The JSON schema decoding is constrained to, if any."""
    uses_tools: bool
    """Whether the reply follows the tool protocol ({"tool": ...} or {"answer": ...})."""
    has_output_schema: bool
    first_call_id: int
    max_tokens: int
    temperature: float
    seed: int


def prepare(request: ModelRequest, *, max_tokens: int, seed: int) -> JsonCall:
    """``request`` as chat messages with a hint, and the schema its reply is held to."""
    schema = request.output_schema
    if request.tools:
        may_call = request.tool_choice != "none"
        hint: str | None = _tool_hint(request.tools, schema, may_call=may_call)
        schema = _protocol_schema(request.tools if may_call else (), schema)
    else:
        hint = None if schema is None else schema_hint(schema)
    previous_calls = sum(len(m.tool_calls) for m in request.messages)
    temperature = request.temperature
    return JsonCall(
        messages=_chat_messages(request.messages, hint),
        schema=schema,
        uses_tools=bool(request.tools),
        has_output_schema=request.output_schema is not None,
        first_call_id=previous_calls + 1,
        max_tokens=max_tokens,
        temperature=DEFAULT_TEMPERATURE if temperature is None else temperature,
        seed=seed,
    )


def _compact(value: JsonValue) -> str:
    return json.dumps(value, separators=(",", ":"))


def schema_hint(schema: dict[str, JsonValue]) -> str:
    """The hint for an answer held to ``schema``: one example object, not the schema (a
    small model copies a schema's names and prose into its answer). The grammar still
    enforces the whole schema."""
    return f"Reply with JSON only, like this example: {_compact(example_of(schema))}"


def _tool_hint(
    tools: Sequence[ToolSpec], output_schema: dict[str, JsonValue] | None, *, may_call: bool
) -> str:
    lines = [f"- {t.name}: {t.description} Arguments: {_compact(t.parameters)}" for t in tools]
    if output_schema is None:
        answer = 'reply {"answer": "<your answer>"}.'
    else:
        answer = (
            'reply {"answer": <your answer>}, where your answer is JSON following '
            f"this JSON schema: {_compact(output_schema)}"
        )
    if not may_call:
        return "\n".join(
            ["You had these tools:", *lines, f"You have what you need: {answer}", _JSON_ONLY]
        )
    return "\n".join(
        [
            "You have these tools:",
            *lines,
            'If a tool helps, call it by replying {"tool": "<name>", "arguments": {<arguments>}}.',
            f"Otherwise {answer}",
            _JSON_ONLY,
        ]
    )


_JSON_ONLY = "Reply with JSON only."


def _chat_messages(messages: Sequence[Message], hint: str | None) -> list[ChatMessage]:
    tool_names: dict[str, str] = {}
    chat: list[ChatMessage] = []
    for message in messages:
        tool_names.update((c.id, c.name) for c in message.tool_calls)
        chat.append(_chat_message(message, tool_names))
    if hint is None:
        return chat
    if chat and chat[0]["role"] == "system":
        chat[0] = {"role": "system", "content": f"{chat[0]['content']}\n\n{hint}"}
    else:
        chat.insert(0, {"role": "system", "content": hint})
    return chat


def _chat_message(message: Message, tool_names: dict[str, str]) -> ChatMessage:
    if message.role == "tool":
        call_id = message.tool_call_id or ""
        name = tool_names.get(call_id, call_id or "unknown")
        return {"role": "user", "content": f"Result of tool {name}: {message.content}"}
    # The model sees its own past calls in the protocol it must answer in.
    calls = [_compact({"tool": c.name, "arguments": c.arguments}) for c in message.tool_calls]
    content = "\n".join([message.content, *calls] if message.content else calls)
    return {"role": message.role, "content": content}


# --- grammar: a JSON schema with anyOf, turned into GBNF by llama_cpp --------------------------


def _protocol_schema(
    tools: Sequence[ToolSpec], output_schema: dict[str, JsonValue] | None
) -> dict[str, JsonValue]:
    """Build the schema of a tool-protocol reply: a branch per tool, plus the answer."""
    defs: dict[str, JsonValue] = {}
    branches: list[JsonValue] = []
    for index, tool in enumerate(tools):
        arguments = _hoist_defs(tool.parameters or {"type": "object"}, f"tool{index}_", defs)
        branches.append(_closed_object({"tool": {"const": tool.name}, "arguments": arguments}))
    if output_schema is None:
        answer: JsonValue = {"type": "string"}
    else:
        answer = _hoist_defs(output_schema, "answer_", defs)
    branches.append(_closed_object({"answer": answer}))
    schema: dict[str, JsonValue] = {"anyOf": branches}
    if defs:
        schema["$defs"] = defs
    return schema


def _closed_object(properties: dict[str, JsonValue]) -> JsonValue:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def _hoist_defs(schema: dict[str, JsonValue], prefix: str, defs: dict[str, JsonValue]) -> JsonValue:
    """Move ``schema``'s definitions into ``defs`` under ``prefix``, so it can be nested.

    ``$ref``s resolve against the root schema, so a nested schema's ``$defs`` (pydantic's
    ``model_json_schema()`` makes them for enums and nested models) must live at the root.
    """
    for key in _DEF_KEYS:
        found = schema.get(key)
        if isinstance(found, dict):
            defs.update((prefix + name, _prefix_refs(d, prefix)) for name, d in found.items())
    return _prefix_refs({k: v for k, v in schema.items() if k not in _DEF_KEYS}, prefix)


def _prefix_refs(node: JsonValue, prefix: str) -> JsonValue:
    if isinstance(node, list):
        return [_prefix_refs(item, prefix) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _prefix_refs(value, prefix) for key, value in node.items()}
    ref = node.get("$ref")
    if isinstance(ref, str):
        for key in _DEF_KEYS:
            if ref.startswith(f"#/{key}/"):
                out["$ref"] = f"#/$defs/{prefix}{ref.removeprefix(f'#/{key}/')}"
    return out
