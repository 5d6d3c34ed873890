"""One example object for a JSON schema: what a small model is shown instead of the schema.

A 135M-parameter model shown a JSON schema copies its names (``PlanStep``, ``#/$defs/Claim``)
into its answer. Shown one object of the right shape it answers in that shape, and the
decoding grammar still enforces the whole schema.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import JsonValue

__all__ = ["example_of"]

_MAX_DEPTH = 6


def example_of(schema: Mapping[str, JsonValue]) -> JsonValue:
    """An object of ``schema``'s shape: its required properties and its lists (one item
    each), the first choice of an enum, ``"..."`` for text.

    Args:
        schema: a JSON schema (``$ref``s resolve against its ``$defs``).
    """
    defs = schema.get("$defs")
    root: JsonValue = dict(schema)
    return _example(root, defs if isinstance(defs, Mapping) else {}, 0)


def _example(node: JsonValue, defs: Mapping[str, JsonValue], depth: int) -> JsonValue:
    if not isinstance(node, Mapping) or depth > _MAX_DEPTH:
        return None
    ref = node.get("$ref")
    if isinstance(ref, str):
        return _example(defs.get(ref.rsplit("/", 1)[-1]), defs, depth + 1)
    if "const" in node:
        return node["const"]
    choices = node.get("enum")
    if isinstance(choices, list) and choices:
        return choices[0]
    for key in ("anyOf", "oneOf", "allOf"):
        branches = node.get(key)
        if isinstance(branches, list):
            usable = [
                b for b in branches if not (isinstance(b, Mapping) and b.get("type") == "null")
            ]
            return _example(usable[0] if usable else None, defs, depth + 1)
    return _typed(node, defs, depth)


def _is_list(node: JsonValue) -> bool:
    """An optional list is shown too: it is often where the answer goes (``claims``)."""
    return isinstance(node, Mapping) and node.get("type") == "array"


def _typed(node: Mapping[str, JsonValue], defs: Mapping[str, JsonValue], depth: int) -> JsonValue:
    kind = node.get("type")
    if kind == "object" or "properties" in node:
        properties = node.get("properties")
        required = node.get("required")
        fields = properties if isinstance(properties, Mapping) else {}
        wanted: set[object] = set(required) if isinstance(required, list) else set()
        names = [n for n, f in fields.items() if n in wanted or _is_list(f)]
        return {n: _example(fields[n], defs, depth + 1) for n in names}
    if kind == "array":
        return [_example(node.get("items"), defs, depth + 1)]
    if kind == "string":
        return "..."
    if kind in ("integer", "number"):
        low = node.get("minimum")
        return low if isinstance(low, int | float) else 1
    if kind == "boolean":
        return False
    return None
