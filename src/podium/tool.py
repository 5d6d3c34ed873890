"""Tools: typed Python functions an agent may call, with a JSON schema made from type hints.

```python
@tool
def search_prices(product: str, max_results: int = 5) -> list[str]:
    '''Look up current prices.

    Args:
        product: what to price.
        max_results: how many offers to return.
    '''
```
"""

from __future__ import annotations

import asyncio
import inspect
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache, partial
from typing import Any, overload

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    TypeAdapter,
    ValidationError,
    create_model,
)

from podium.errors import ToolError, validation_problems
from podium.input_limits import non_finite
from podium.models.base import ToolSpec
from podium.task import Approval

__all__ = ["Tool", "ToolContext", "json_schema", "tool", "without_docstring"]

_ARG_LINE = re.compile(r"^\s{2,}(\w+)(?:\s*\([^)]*\))?:\s*(.+)$")
_JSON: TypeAdapter[JsonValue] = TypeAdapter(JsonValue)
_SCHEMA: TypeAdapter[dict[str, JsonValue]] = TypeAdapter(dict[str, JsonValue])


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolContext:
    """What a tool with side effects may want to know about the call.

    Declare a parameter typed ``ToolContext`` to receive it (it is not shown to the model).

    Attributes:
        run_id: the run making the call.
        task_id: the task making the call.
        idempotency_key: the same for the same logical call across a crash and a resume: pass
            it to the payment API, the mailer, the ticket system, so a repeat is recognised.
        may_be_repeat: True when the run was resumed and this call may already have been made
            just before the process died (it was in flight, so its result was not journaled).
    """

    run_id: str
    task_id: str
    idempotency_key: str
    may_be_repeat: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Tool:
    """A callable an agent may use, with the schema of its arguments.

    Attributes:
        name: the name the model calls it by.
        description: what it does, for the model.
        function: the Python function (sync or async).
        arguments: pydantic model validating the model's arguments.
        timeout: how long one call may take before it fails with ``ToolError``.
    """

    name: str
    description: str
    function: Callable[..., Any]  # Any: tools take and return whatever their author typed
    arguments: type[BaseModel]
    timeout: timedelta = timedelta(seconds=60)
    context_parameter: str | None = None
    """The parameter that receives a ``ToolContext``, if the function declares one."""
    approval: Approval | None = None
    """When set, each call waits for a human's approval before it runs."""
    parameters: dict[str, JsonValue] | None = None
    """The arguments' JSON schema when another program owns the tool (an MCP server): shown
    to the model as it is, and ``function`` receives the arguments as one mapping,
    ``function(arguments)``, for its owner to check."""
    side_effects: bool = False
    """It changes the world (sends, pays, deletes): ``@tool(side_effects=True)`` asks for
    approval of each call unless ``approval=False`` says otherwise."""

    @property
    def spec(self) -> ToolSpec:
        """The tool as a model sees it."""
        return ToolSpec(
            name=self.name,
            description=self.description,
            parameters=self.parameters or json_schema(self.arguments),
        )

    async def call(
        self, arguments: Mapping[str, JsonValue], context: ToolContext | None = None
    ) -> JsonValue:
        """Validate ``arguments``, run the function within ``timeout`` and return a JSON value.

        ``context`` reaches the function if it declares a ``ToolContext`` parameter.

        Raises:
            ToolError: the arguments do not fit, the function raised, or it timed out.
        """
        kwargs = self._kwargs(arguments, context)
        try:
            async with asyncio.timeout(self.timeout.total_seconds()):
                result = await self._invoke(kwargs)
            return _JSON.validate_python(_jsonable(result, self.name))
        except TimeoutError as exc:
            msg = f"tool {self.name!r} did not finish within {self.timeout.total_seconds():g}s"
            raise ToolError(msg, retryable=True) from exc
        except ToolError:
            raise
        except Exception as exc:
            msg = f"tool {self.name!r} raised {type(exc).__name__}: {exc}"
            raise ToolError(msg) from exc

    def _kwargs(
        self, arguments: Mapping[str, JsonValue], context: ToolContext | None
    ) -> dict[str, Any]:  # Any: the function's parameters
        if self.parameters is not None:
            return {"arguments": dict(arguments)}
        try:
            parsed = self.arguments.model_validate(dict(arguments))
        except ValidationError as exc:
            msg = f"tool {self.name!r} was called with invalid arguments: {_short(exc)}"
            raise ToolError(msg) from exc
        kwargs = {name: getattr(parsed, name) for name in type(parsed).model_fields}
        if self.context_parameter is not None:
            kwargs[self.context_parameter] = context or ToolContext(
                run_id="", task_id="", idempotency_key=""
            )
        return kwargs

    async def _invoke(self, kwargs: dict[str, Any]) -> Any:  # Any: the author's return type
        if inspect.iscoroutinefunction(self.function):
            return await self.function(**kwargs)
        result = await asyncio.to_thread(self.function, **kwargs)
        if inspect.isawaitable(result):
            return await result
        return result


@overload
def tool(function: Callable[..., Any], /) -> Tool: ...
@overload
def tool(
    *,
    name: str | None = None,
    description: str | None = None,
    timeout: timedelta | None = None,
    approval: Approval | bool | None = None,
    side_effects: bool = False,
) -> Callable[[Callable[..., Any]], Tool]: ...
def tool(
    function: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    timeout: timedelta | None = None,
    approval: Approval | bool | None = None,
    side_effects: bool = False,
) -> Tool | Callable[[Callable[..., Any]], Tool]:
    """Make a ``Tool`` from a typed function; usable as ``@tool`` or ``@tool(name=...)``.

    The arguments' JSON schema comes from the type hints; descriptions come from the
    docstring's first paragraph and its ``Args:`` section. With ``approval`` every call waits
    for a human to approve it (``podium approvals``) before it runs; with ``side_effects``
    too, unless ``approval=False``.
    """
    if approval is None and side_effects:
        approval = Approval(reason="it has side effects")

    def build(func: Callable[..., Any]) -> Tool:
        doc = inspect.getdoc(func) or ""
        return Tool(
            name=name or func.__name__,
            description=description or doc.split("\n\n", 1)[0].strip(),
            function=func,
            arguments=_arguments_model(func, _arg_docs(doc)),
            timeout=timeout or timedelta(seconds=60),
            context_parameter=_context_parameter(func),
            approval=Approval() if approval is True else approval or None,
            side_effects=side_effects,
        )

    return build(function) if function is not None else build


def without_docstring(schema: dict[str, Any]) -> None:  # Any: a JSON schema being built
    """``json_schema_extra`` for an answer schema whose docstring is written for programmers:
    shown to a small model in its schema, the docstring is copied into the answer."""
    schema.pop("description", None)


@lru_cache(maxsize=1024)
def json_schema(model: type[BaseModel]) -> dict[str, JsonValue]:
    """The JSON schema of a pydantic model, computed once (models are immutable classes)."""
    return _SCHEMA.validate_python(model.model_json_schema())


def _arguments_model(func: Callable[..., Any], docs: Mapping[str, str]) -> type[BaseModel]:
    hints = inspect.get_annotations(func, eval_str=True)
    fields: dict[str, Any] = {}  # Any: create_model takes (type, FieldInfo) pairs
    for param in inspect.signature(func).parameters.values():
        if hints.get(param.name) is ToolContext:
            continue
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            msg = f"tool {func.__name__!r}: *args and **kwargs cannot be described to a model"
            raise TypeError(msg)
        annotation = hints.get(param.name, Any)
        default = ... if param.default is param.empty else param.default
        fields[param.name] = (annotation, Field(default, description=docs.get(param.name)))
    config = ConfigDict(extra="forbid")
    return create_model(f"{func.__name__}_arguments", __config__=config, **fields)


def _context_parameter(func: Callable[..., Any]) -> str | None:
    hints = inspect.get_annotations(func, eval_str=True)
    return next((name for name, hint in hints.items() if hint is ToolContext), None)


def _arg_docs(doc: str) -> dict[str, str]:
    """Argument descriptions from a Google-style ``Args:`` section (continuation lines too)."""
    docs: dict[str, str] = {}
    in_args = False
    current: str | None = None
    for line in doc.splitlines():
        if line.strip() in ("Args:", "Arguments:"):
            in_args = True
            continue
        if in_args and line and not line.startswith(" "):
            break
        match = _ARG_LINE.match(line) if in_args else None
        if match:
            current = str(match.group(1))
            docs[current] = match.group(2).strip()
        elif in_args and current is not None and line.strip():
            docs[current] += " " + line.strip()
    return docs


def _jsonable(value: Any, name: str) -> Any:  # Any: converts arbitrary tool results
    """``value``, the result of tool ``name``, as JSON data.

    Raises:
        ToolError: a number in it is NaN or infinite (JSON mode would make it a silent null).
    """
    if value is None:
        return None
    if isinstance(value, BaseModel):
        plain, dump = value.model_dump(), value.model_dump
    else:
        result: object = value
        adapter = TypeAdapter[object](type(result))
        plain, dump = adapter.dump_python(result), partial(adapter.dump_python, result)
    where = non_finite(plain)
    if where is not None:
        at = f" at {where}" if where else ""
        raise ToolError(f"tool {name!r} returned a NaN or infinite number{at}; JSON has none")
    return dump(mode="json")


def _short(exc: ValidationError) -> str:
    return "; ".join(validation_problems(exc))
