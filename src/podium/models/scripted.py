"""ScriptedModel: deterministic answers from a list, a function or a per-task script.

It is what tests, benchmarks and ``--model scripted`` use. It records every request, can
simulate latency (on an injectable clock) and failures (a reply that is an exception is
raised), and ``assert_complete()`` checks that every scripted reply was used.

```python
model = ScriptedModel(["first answer", {"approved": True}, ModelError("busy", retryable=True)])
model = ScriptedModel({"draft": ["v1", "v2"], "review": [{"approved": False}, {"approved": True}]})
model = ScriptedModel(lambda request: request.messages[-1].content.upper())
```
"""

from __future__ import annotations

import inspect
import itertools
import json
import re
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from datetime import timedelta
from typing import Any, Literal, cast

from pydantic import BaseModel, JsonValue

from podium.clock import Clock, SystemClock
from podium.errors import ModelError
from podium.event import Event, ModelCalled, TaskFailed, TaskRetried, TaskSucceeded
from podium.models.base import CallInfo, ModelRequest, ModelResponse, ToolCall, Usage

__all__ = ["Reply", "Script", "ScriptedModel", "unused_replies"]

Reply = str | Mapping[str, Any] | list[Any] | ToolCall | ModelResponse | BaseException
"""One answer: text, a JSON object/list (as JSON text), a tool call (a ``ToolCall`` or, from
YAML, ``{"tool_call": {"name": ..., "arguments": {...}}}``), a full response, or an exception
to raise."""
Script = (
    Sequence[Reply]
    | Mapping[str, Sequence[Reply]]
    | Callable[[ModelRequest], Reply | Awaitable[Reply]]
)
Exhausted = Literal["error", "plausible", "repeat_last"]

_INDEX = re.compile(r"\[\d+\]$")
_MAX_DEPTH = 6
"""Past this nesting, optional lists are left empty so recursive schemas end."""


class ScriptedModel:
    """A model that answers from a script.

    Args:
        script: a list of replies used in order; a mapping from task id (or agent name) to
            the replies for that task, used in order; or a function of the request.
        name: the model name shown in events.
        latency: simulated time each call takes, waited on ``clock``.
        clock: the clock to wait on (``SystemClock`` by default).
        when_exhausted: what to do when the script has no reply left: raise (``error``),
            make up a plausible answer (``plausible``), or repeat the last reply.
    """

    def __init__(
        self,
        script: Script | None = None,
        *,
        name: str = "scripted",
        latency: timedelta = timedelta(0),
        clock: Clock | None = None,
        when_exhausted: Exhausted = "error",
    ) -> None:
        self._name = name
        self._latency = latency
        self._clock = clock or SystemClock()
        self._when_exhausted = when_exhausted
        self._function = script if callable(script) else None
        self._queues: dict[str, list[Reply]] = {}
        self._last: dict[str, Reply] = {}
        if isinstance(script, Mapping):
            by_key = cast("Mapping[object, Sequence[Reply]]", script)
            self._queues = {str(k): list(v) for k, v in by_key.items()}
        elif script is not None and not callable(script):
            self._queues = {"": list(script)}
        self._ids = itertools.count(1)
        self.calls: list[ModelRequest] = []

    @classmethod
    def echo(
        cls, *, latency: timedelta = timedelta(0), clock: Clock | None = None
    ) -> ScriptedModel:
        """A model that answers each request with its last message (schema-valid if asked)."""
        return cls(_echo, latency=latency, clock=clock)

    @classmethod
    def plausible(
        cls,
        canned: Mapping[str, Sequence[Reply]] | None = None,
        *,
        latency: timedelta = timedelta(0),
    ) -> ScriptedModel:
        """Canned answers per task where given, otherwise made-up, schema-valid answers."""
        return cls(dict(canned or {}), when_exhausted="plausible", latency=latency)

    @property
    def name(self) -> str:
        """The model name shown in events."""
        return self._name

    async def complete(self, request: ModelRequest) -> ModelResponse:
        """Answer from the script; raise the reply if it is an exception."""
        self.calls.append(request)
        if self._latency > timedelta(0):
            await self._clock.sleep(self._latency)
        reply = await self._next(request)
        if isinstance(reply, BaseException):
            raise reply
        return self._response(request, reply)

    def assert_complete(self) -> None:
        """Check that every scripted reply was used.

        Raises:
            AssertionError: some replies were never asked for.
        """
        left = {k: len(v) for k, v in self._queues.items() if v}
        assert not left, f"scripted replies never used: {left}"

    async def _next(self, request: ModelRequest) -> Reply:
        if self._function is not None:
            reply = self._function(request)
            return await reply if inspect.isawaitable(reply) else reply
        key = self._key_for(request)
        if key is not None and self._queues[key]:
            reply = self._queues[key].pop(0)
            self._last[key] = reply
            return reply
        return self._exhausted(request, key)

    def _key_for(self, request: ModelRequest) -> str | None:
        return _key(self._queues, self._last.keys(), request.caller)

    def _exhausted(self, request: ModelRequest, key: str | None) -> Reply:
        if self._when_exhausted == "repeat_last" and key is not None and key in self._last:
            return self._last[key]
        if self._when_exhausted == "plausible":
            return _plausible(request)
        who = request.caller.task_id if request.caller else "this request"
        return ModelError(f"scripted model has no reply left for {who}", retryable=False)

    def _response(self, request: ModelRequest, reply: Reply) -> ModelResponse:
        if isinstance(reply, ModelResponse):
            return reply
        calls: tuple[ToolCall, ...] = ()
        text = ""
        if isinstance(reply, Mapping) and set(reply) == {"tool_call"}:
            reply = _tool_call(reply["tool_call"], next(self._ids))
        if isinstance(reply, ToolCall):
            calls = (reply,)
        elif isinstance(reply, str):
            text = reply
        else:
            text = json.dumps(reply, ensure_ascii=False)
        usage = Usage(
            input_tokens=sum(_count_tokens(m.content) for m in request.messages),
            output_tokens=_count_tokens(text) + 8 * len(calls),
        )
        return ModelResponse(model=self._name, text=text, tool_calls=calls, usage=usage)


def unused_replies(
    script: Mapping[str, Sequence[Reply]], history: Sequence[Event]
) -> dict[str, list[Reply]]:
    """The replies of a per-task ``script`` left once the calls a run's log records took theirs.

    A resumed run builds its scripted model afresh in a new process: the script goes on where
    the interrupted process left it instead of starting over (which answered a loop's second
    draft with its first, again and again). A task whose last attempt failed is asked afresh,
    as a model would be: its calls give their replies back.
    """
    queues = {str(k): list(v) for k, v in script.items()}
    taken: set[str] = set()
    for caller in _calls_that_count(history):
        key = _key(queues, taken, caller)
        if key is not None and queues[key]:
            queues[key].pop(0)
            taken.add(key)
    return queues


def _calls_that_count(history: Sequence[Event]) -> list[CallInfo]:
    """The model calls of ``history``, less those of tasks whose last attempt failed."""
    calls: dict[str, list[CallInfo]] = {}
    failed: set[str] = set()
    for event in history:
        if isinstance(event, ModelCalled):
            info = CallInfo(run_id=event.run_id, task_id=event.task_id, agent=event.agent)
            calls.setdefault(event.task_id, []).append(info)
        elif isinstance(event, TaskFailed):
            failed.add(event.task_id)
        elif isinstance(event, TaskRetried | TaskSucceeded):
            failed.discard(event.task_id)
    return [c for task, made in calls.items() if task not in failed for c in made]


def _key(
    queues: Mapping[str, Sequence[Reply]], taken: Collection[str], caller: CallInfo | None
) -> str | None:
    """The script key that answers ``caller``: its task, the task's base id, its agent, or
    the shared list; a key whose list ran out still answers if it ever had a reply taken."""
    candidates = [""]
    if caller is not None:
        task = caller.task_id
        base = _INDEX.sub("", task.rsplit("/", 1)[-1])
        candidates = [task, base, caller.agent, ""]
    for key in candidates:
        if key in queues and (queues[key] or key in taken):
            return key
    return None


def _tool_call(spec: Any, number: int) -> ToolCall:  # Any: a JSON mapping from a script
    """``{"tool_call": {"name": ..., "arguments": {...}}}`` in a script (YAML) is a tool call."""
    if not isinstance(spec, Mapping) or "name" not in spec:
        msg = f"a scripted tool_call needs a name and arguments, got {spec!r}"
        raise ModelError(msg)
    fields = cast("Mapping[str, Any]", spec)  # Any: JSON from a script
    arguments = cast("Mapping[str, Any]", fields.get("arguments", {}))
    return ToolCall(id=f"call_{number}", name=str(fields["name"]), arguments=dict(arguments))


def _count_tokens(text: str) -> int:
    return len(text) // 4 + 1 if text else 0


def _echo(request: ModelRequest) -> Reply:
    if request.output_schema is not None:
        return _plausible(request)
    return request.messages[-1].content if request.messages else ""


def _plausible(request: ModelRequest) -> Reply:
    if request.output_schema is not None:
        sample = _sample(request.output_schema, request.output_schema)
        return sample if isinstance(sample, dict | list) else json.dumps(sample)
    who = request.caller.agent if request.caller else "assistant"
    ask = next((m.content for m in reversed(request.messages) if m.role == "user"), "")
    first = ask.strip().splitlines()[0] if ask.strip() else "the task"
    return f"{who.capitalize()} notes on: {first[:160]}\n- Key point one.\n- Key point two."


def _sample(schema: Mapping[str, Any], root: Mapping[str, Any], depth: int = 0) -> JsonValue:
    """A small value valid against ``schema`` (a JSON schema, ``$defs`` resolved from root)."""
    if "$ref" in schema:
        name = str(schema["$ref"]).rsplit("/", 1)[-1]
        return _sample(root.get("$defs", {}).get(name, {}), root, depth + 1)
    for key in ("const", "default"):
        if key in schema:
            return schema[key]
    if "enum" in schema:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            return _sample(schema[key][0], root, depth + 1)
    return _sample_typed(schema, root, depth)


def _sample_typed(schema: Mapping[str, Any], root: Mapping[str, Any], depth: int) -> JsonValue:
    kind = schema.get("type", "string")
    if kind == "object":
        props = schema.get("properties", {})
        required = set(schema.get("required", props))
        return {k: _sample(v, root, depth + 1) for k, v in props.items() if k in required}
    if kind == "array":
        return _sample_array(schema, root, depth)
    if kind in ("integer", "number"):
        return _sample_number(schema, kind)
    simple: dict[str, JsonValue] = {"boolean": True, "null": None}
    if kind in simple:
        return simple[kind]
    return _sample_string(schema)


def _sample_array(schema: Mapping[str, Any], root: Mapping[str, Any], depth: int) -> JsonValue:
    if "prefixItems" in schema:
        return [_sample(item, root, depth + 1) for item in schema["prefixItems"]]
    count = schema.get("minItems", 0 if depth > _MAX_DEPTH else 1)
    return [_sample(schema.get("items", {}), root, depth + 1) for _ in range(count)]


def _sample_number(schema: Mapping[str, Any], kind: str) -> JsonValue:
    step = 1 if kind == "integer" else 0.5
    low = schema.get("minimum", schema.get("exclusiveMinimum", 0) + step)
    value = max(low, 1) if "maximum" not in schema else min(max(low, 1), schema["maximum"])
    return int(value) if kind == "integer" else float(value)


def _sample_string(schema: Mapping[str, Any]) -> str:
    formats = {"date-time": "2026-01-01T00:00:00Z", "date": "2026-01-01", "time": "00:00:00"}
    text = formats.get(schema.get("format", ""), str(schema.get("title") or "text"))
    low, high = schema.get("minLength", 0), schema.get("maxLength")
    text = text.ljust(low, "x")
    return text[:high] if high is not None else text


def model_output(value: BaseModel) -> dict[str, Any]:  # Any: a JSON object
    """A pydantic instance as a scripted reply."""
    return value.model_dump(mode="json")
