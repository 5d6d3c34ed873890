"""Templates and conditions over the context: one sandboxed Jinja environment.

Instructions are Jinja templates (``Summarize {{ research }}``); conditions such as ``when``
and ``until`` are Jinja expressions (``review.approved and review.score >= 4``). Both run in
Jinja's sandbox, so a workflow file cannot reach Python internals. ``variables`` lists the
context keys a template or expression reads, so validation can check that each one is
produced by something before the run starts.

Each workflow compiles its templates once: validation compiles every template and expression
of a workflow into the workflow's ``Templates`` and its runs reuse them. Text without a ``{``
is not a template and never reaches Jinja; a template that only fills in names
(``{{ research }} for {{ audience }}``) is parsed but not compiled to Python, which is most of
Jinja's cost. The module-level functions compile afresh on each call, for one-off use.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from jinja2 import ChainableUndefined, TemplateSyntaxError, meta, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

from podium.errors import ConfigError

__all__ = ["Templates", "check_syntax", "evaluate", "literal", "render", "variables"]

# Keys that exist but have no value yet (a loop's first iteration) render as empty;
# names that no task produces are caught by validation before the run.
_ENV = ImmutableSandboxedEnvironment(undefined=ChainableUndefined, autoescape=False)
_ENV.policies["json.dumps_kwargs"] = {"ensure_ascii": False, "sort_keys": False}

_Run = Callable[[Mapping[str, Any]], Any]  # Any: template values in, text or a value out


@dataclass(frozen=True, slots=True)
class _Compiled:
    """A template or expression, compiled: the names it reads and how to run it."""

    names: frozenset[str] = frozenset()
    run: _Run | None = None
    """None: the source is text without template syntax, or it does not parse."""
    error: TemplateSyntaxError | None = None
    """Why the source does not parse."""

    def describe_error(self) -> str | None:
        if self.error is None:
            return None
        return f"line {self.error.lineno} of the template: {self.error.message}"


class Templates:
    """The templates and expressions of one workflow, each compiled once.

    Validation compiles every template and expression of the workflow (``compile``); its runs
    find them here. A source the workflow does not hold (an instruction a planner wrote during
    a run) is compiled for its one use and not kept, so the cache never outgrows the workflow.
    A cache tells nothing about the workflow: any two compare equal.
    """

    __slots__ = ("_compiled",)

    def __init__(self) -> None:
        self._compiled: dict[tuple[str, bool], _Compiled] = {}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Templates)

    __hash__ = None  # type: ignore[assignment]  # mutable, like the workflow's other state

    def __contains__(self, source: str) -> bool:
        """Whether ``source`` (a template or an expression) is compiled and kept here."""
        return (source, False) in self._compiled or (source, True) in self._compiled

    def __len__(self) -> int:
        return len(self._compiled)

    def compile(self, source: str, *, is_expression: bool = False) -> str | None:
        """Compile ``source`` and keep it for the workflow's runs.

        Returns:
            A description of its syntax error, or None if it parses.
        """
        key = (source, is_expression)
        compiled = self._compiled.get(key)
        if compiled is None:
            compiled = self._compiled[key] = _compile(source, is_expression=is_expression)
        return compiled.describe_error()

    def variables(self, source: str, *, is_expression: bool = False) -> frozenset[str]:
        """The top-level names ``source`` reads (``review.approved`` reads ``review``).

        Raises:
            ConfigError: ``source`` is not valid Jinja.
        """
        return _valid(source, self._get(source, is_expression)).names

    def render(self, source: str, values: Mapping[str, Any]) -> str:
        """Render template ``source`` over ``values``."""
        run = _valid(source, self._get(source, False)).run
        return source if run is None else str(run(values))

    def evaluate(self, expression: str, values: Mapping[str, Any]) -> Any:  # Any: its value
        """Evaluate a Jinja expression over ``values``."""
        run = _valid(expression, self._get(expression, True)).run
        assert run is not None  # an expression always compiles to something
        return run(values)

    def _get(self, source: str, is_expression: bool) -> _Compiled:
        compiled = self._compiled.get((source, is_expression))
        return compiled or _compile(source, is_expression=is_expression)


def render(source: str, values: Mapping[str, Any]) -> str:
    """Render template ``source`` over ``values`` (compiled for this call only)."""
    return Templates().render(source, values)


def evaluate(expression: str, values: Mapping[str, Any]) -> Any:  # Any: whatever it computes
    """Evaluate a Jinja expression over ``values`` (compiled for this call only)."""
    return Templates().evaluate(expression, values)


def variables(source: str, *, is_expression: bool = False) -> frozenset[str]:
    """The top-level names ``source`` reads; see ``Templates.variables``.

    Raises:
        ConfigError: ``source`` is not valid Jinja.
    """
    return Templates().variables(source, is_expression=is_expression)


def check_syntax(source: str, *, is_expression: bool = False) -> str | None:
    """Return a description of the syntax error in ``source``, or None if it parses."""
    return _compile(source, is_expression=is_expression).describe_error()


def literal(text: str) -> str:
    """A template that renders exactly ``text``: for text a model or a document wrote, which
    may contain ``{{`` or ``{%`` and must be shown, not run."""
    if "{" not in text:
        return text
    return "{{ " + json.dumps(text, ensure_ascii=False) + " }}"


def _valid(source: str, compiled: _Compiled) -> _Compiled:
    if compiled.error is not None:
        msg = f"invalid template {source!r}: {compiled.error.message}"
        raise ConfigError(msg) from compiled.error
    return compiled


def _compile(source: str, *, is_expression: bool) -> _Compiled:
    if not is_expression and "{" not in source:
        return _Compiled()
    try:
        if is_expression:
            names = meta.find_undeclared_variables(_ENV.parse("{{ (" + source + ") }}"))
            expression = _ENV.compile_expression(source, undefined_to_none=True)
            return _Compiled(frozenset(names), lambda values: expression(**values))
        ast = _ENV.parse(source)
        simple = _fill_in(ast)
        if simple is not None:
            return simple
        names = frozenset(meta.find_undeclared_variables(ast))  # runs Jinja's code generator
        return _Compiled(names, _ENV.from_string(ast).render)
    except TemplateSyntaxError as exc:
        return _Compiled(error=exc.with_traceback(None))  # keeps no frames alive


def _fill_in(ast: nodes.Template) -> _Compiled | None:
    """A template that only fills in names (``{{ a }} and {{ b }}``), with no filters, tags or
    expressions, compiled without Jinja; None for any other template, which Jinja compiles.

    It renders what Jinja would: text as parsed (whitespace control and newlines applied),
    ``str(value)`` for a name, and nothing for a name without a value.
    """
    if len(ast.body) != 1 or not isinstance(ast.body[0], nodes.Output):
        return None
    parts: list[tuple[bool, str]] = []  # (is a name, text or name)
    for node in ast.body[0].nodes:
        if isinstance(node, nodes.TemplateData):
            parts.append((False, node.data))
        elif isinstance(node, nodes.Const) and isinstance(node.value, str):
            parts.append((False, node.value))
        elif isinstance(node, nodes.Name) and node.name not in _ENV.globals:
            parts.append((True, node.name))
        else:
            return None

    def fill_in(values: Mapping[str, Any]) -> str:  # Any: template values
        return "".join(
            (str(values[text]) if text in values else "") if is_name else text
            for is_name, text in parts
        )

    return _Compiled(frozenset(text for is_name, text in parts if is_name), fill_in)
