"""Templates and conditions over the context: one sandboxed Jinja environment.

Instructions are Jinja templates (``Summarize {{ research }}``); conditions such as ``when``
and ``until`` are Jinja expressions (``review.approved and review.score >= 4``). Both run in
Jinja's sandbox, so a workflow file cannot reach Python internals. ``variables`` lists the
context keys a template or expression reads, so validation can check that each one is
produced by something before the run starts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from jinja2 import ChainableUndefined, TemplateSyntaxError, meta, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

from podium.errors import ConfigError

__all__ = ["check_syntax", "evaluate", "literal", "render", "variables"]

# Keys that exist but have no value yet (a loop's first iteration) render as empty;
# names that no task produces are caught by validation before the run.
_ENV = ImmutableSandboxedEnvironment(undefined=ChainableUndefined, autoescape=False)
_ENV.policies["json.dumps_kwargs"] = {"ensure_ascii": False, "sort_keys": False}


@lru_cache(maxsize=1024)
def _template(source: str) -> Any:  # Any: jinja2.Template is untyped
    return _ENV.from_string(source)


@lru_cache(maxsize=1024)
def _expression(source: str) -> Any:  # Any: jinja2's compiled expression is untyped
    return _ENV.compile_expression(source, undefined_to_none=True)


def render(source: str, values: Mapping[str, Any]) -> str:
    """Render template ``source`` over ``values``."""
    if "{" not in source:
        return source
    return str(_template(source).render(values))


def evaluate(expression: str, values: Mapping[str, Any]) -> Any:  # Any: whatever it computes
    """Evaluate a Jinja expression over ``values``."""
    return _expression(expression)(**values)


def literal(text: str) -> str:
    """A template that renders exactly ``text``: for text a model or a document wrote, which
    may contain ``{{`` or ``{%`` and must be shown, not run."""
    if "{" not in text:
        return text
    return "{{ " + json.dumps(text, ensure_ascii=False) + " }}"


@lru_cache(maxsize=4096)
def check_syntax(source: str, *, is_expression: bool = False) -> str | None:
    """Return a description of the syntax error in ``source``, or None if it parses."""
    try:
        if is_expression:
            _ENV.compile_expression(source)
        else:
            _parse(source, is_expression=False)
    except TemplateSyntaxError as exc:
        return f"line {exc.lineno} of the template: {exc.message}"
    return None


@lru_cache(maxsize=4096)
def variables(source: str, *, is_expression: bool = False) -> frozenset[str]:
    """The top-level names ``source`` reads (``review.approved`` reads ``review``).

    Raises:
        ConfigError: ``source`` is not valid Jinja.
    """
    try:
        ast = _parse(source, is_expression=is_expression)
    except TemplateSyntaxError as exc:
        raise ConfigError(f"invalid template {source!r}: {exc.message}") from exc
    return frozenset(meta.find_undeclared_variables(ast))


def _parse(source: str, *, is_expression: bool) -> nodes.Template:
    return _ENV.parse("{{ (" + source + ") }}" if is_expression else source)
