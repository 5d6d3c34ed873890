"""Document paths in raw YAML data, and pydantic's errors about it as messages at those paths.

A document path is dotted (``tasks.2.needs.0``, ``agents.writer.model``): ``workflow.yaml``
keeps each element's location under its path, and this module says at which path each error
pydantic found belongs and what it says there.
"""

from __future__ import annotations

import re
from typing import Any, cast

from pydantic import ValidationError

__all__ = ["error_messages", "items", "join", "mapping"]


def mapping(value: object) -> dict[str, Any] | None:  # Any: raw YAML data
    """``value`` if it is a mapping, else None."""
    return cast("dict[str, Any]", value) if isinstance(value, dict) else None


def items(value: object) -> list[Any]:  # Any: raw YAML data
    """``value`` if it is a list, else no items."""
    return cast("list[Any]", value) if isinstance(value, list) else []


def join(prefix: str, name: str) -> str:
    """The document path of ``name`` under ``prefix``."""
    return f"{prefix}.{name}" if prefix else name


def error_messages(exc: ValidationError, data: object) -> dict[str, str]:
    """What pydantic found wrong in ``data``, one message per document path (the members
    of a union that failed at one path merge into one message)."""
    found = [(*_document_path(e["loc"], data), e) for e in exc.errors(include_url=False)]
    paths = [path for path, _, _ in found]
    messages: dict[str, list[str]] = {}
    for path, ends_on_tag, error in found:
        is_summary = ends_on_tag or error["type"] == "too_short"
        if is_summary and any(p.startswith(f"{path}.") for p in paths):
            continue  # a deeper error says what is wrong
        messages.setdefault(path, []).append(_error_message(error))
    return {path: _either(texts) for path, texts in messages.items()}


def _document_path(loc: tuple[str | int, ...], data: object) -> tuple[str, bool]:
    """The dotted document path of a pydantic error location, and whether it is a summary.

    pydantic puts the union member it tried into locations (``join.AtLeast.at_least``,
    ``join.literal['all','any']``); those are not document keys and are left out. An error
    that ends on such a member, or a length error of a list whose items failed, is a summary.
    """
    parts: list[str] = []
    node = data
    ends_on_tag = False
    for index, part in enumerate(loc):
        is_last = index == len(loc) - 1
        ends_on_tag = _is_tag(part, node, is_last=is_last)
        if not ends_on_tag:
            parts.append(str(part))
            node = _child(node, part)
    return ".".join(parts), ends_on_tag


def _is_tag(part: str | int, node: object, *, is_last: bool) -> bool:
    if isinstance(part, int):
        return False
    keyed = mapping(node)
    if keyed is None or not re.fullmatch(r"[\w-]+", part):
        return True
    return part not in keyed and not is_last


def _child(node: object, part: str | int) -> object:
    keyed = mapping(node)
    if keyed is None:
        listed = items(node)
        return listed[part] if isinstance(part, int) and part < len(listed) else None
    if isinstance(part, int):  # agents written as a mapping are validated as a list
        values = list(keyed.values())
        return values[part] if part < len(values) else None
    return keyed.get(part)


def _error_message(error: Any) -> str:  # Any: pydantic's ErrorDetails TypedDict
    loc = error["loc"]
    last = loc[-1] if loc else ""
    if error["type"] == "missing":
        return f"missing required field {last!r}"
    if error["type"] == "extra_forbidden":
        return f"unknown field {last!r}"
    message = str(error["msg"]).removeprefix("Value error, ")
    value = error.get("input")
    if isinstance(value, str | int | float | bool):
        message += f" (got {value!r})"
    return message


def _either(messages: list[str]) -> str:
    """One message for the members of a union that all failed: ``should be A or B (got x)``."""
    if len(messages) == 1:
        return messages[0]
    prefix, got = "Input should be ", ""
    alternatives: list[str] = []
    for message in dict.fromkeys(messages):
        text, paren, rest = message.partition(" (got ")
        got = f"{paren}{rest}" if paren else got
        alternatives.append(text.removeprefix(prefix))
    return f"{prefix}{' or '.join(alternatives)}{got}"
