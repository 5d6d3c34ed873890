"""Templates and conditions over the context: one sandboxed Jinja environment.

Instructions are Jinja templates (``Summarize {{ research }}``); conditions such as ``when``
and ``until`` are Jinja expressions (``review.approved and review.score >= 4``). Both run in
Jinja's sandbox, so a workflow file cannot reach Python internals: reaching for one
(``cycler.__init__.__globals__``) is a ``SecurityError``, never a silent empty value.
``variables`` lists the context keys a template or expression reads, so validation can check
that each one is produced by something before the run starts.

A template also runs within resource limits (``podium.input_limits``): ``range()`` sizes,
the length of strings and lists it builds (``'x' * 10**10``), the size of big powers, and
its render time. Going over one raises ``TemplateLimitError``, and any other failure of a
template (``1 / 0``) a ``TemplateRuntimeError``: both are ``jinja2.TemplateError``s, which
the engine records as the failure of the task whose template it was.

Each workflow compiles its templates once: validation compiles every template and expression
of a workflow into the workflow's ``Templates`` and its runs reuse them. Text without a ``{``
is not a template and never reaches Jinja; a template that only fills in names
(``{{ research }} for {{ audience }}``) is parsed but not compiled to Python, which is most of
Jinja's cost. The module-level functions compile afresh on each call, for one-off use.
"""

from __future__ import annotations

import contextvars
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import partial, wraps
from typing import Any, Final, NamedTuple

from jinja2 import ChainableUndefined, TemplateError, TemplateSyntaxError, meta, nodes
from jinja2.exceptions import SecurityError, TemplateRuntimeError, UndefinedError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

from podium.clock import SystemClock
from podium.errors import ConfigError
from podium.input_limits import LIMITS

__all__ = [
    "TemplateLimitError",
    "Templates",
    "check_syntax",
    "evaluate",
    "literal",
    "render",
    "variables",
]

_CLOCK = SystemClock()
_WIDTH = re.compile(r"%[-#0 +]*(\d+)")


@dataclass(frozen=True, slots=True)
class _Render:
    """The limits of the render in progress, read once from the environment."""

    deadline: float
    max_chars: int


_render: contextvars.ContextVar[_Render | None] = contextvars.ContextVar(
    "podium_template_render", default=None
)


class TemplateLimitError(SecurityError):
    """A template went over a resource limit (range size, string size, render time)."""


def _check_deadline() -> None:
    current = _render.get()
    if current is not None and _CLOCK.monotonic() > current.deadline:
        found = LIMITS.template_seconds.exceeded()
        raise TemplateLimitError(f"the template took too long to render: {found}")


def _check_length(length: int, what: str) -> None:
    current = _render.get()
    if length > (current.max_chars if current else LIMITS.template_chars.value()):
        found = LIMITS.template_chars.exceeded(f"{what} of {length:,} characters")
        raise TemplateLimitError(f"the template builds {found}")


def _bounded_range(*args: int) -> Iterator[int]:
    """``range`` within ``PODIUM_MAX_TEMPLATE_RANGE``, checking the render deadline as it goes."""
    items = range(*args)
    if len(items) > LIMITS.template_range.value():
        found = LIMITS.template_range.exceeded(
            f"range({', '.join(map(str, args))}) has {len(items):,} items"
        )
        raise TemplateLimitError(f"the template asks for too large a range: {found}")
    for index, item in enumerate(items):
        if index % 1024 == 0:
            _check_deadline()
        yield item


def _sized(value: object) -> int | None:
    return len(value) if isinstance(value, str | list | tuple) else None  # pyright: ignore[reportUnknownArgumentType]


def _check_ints(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:  # Any: template values
    """Refuse a width or count above the string cap (``'x'.ljust(10**10)``, ``center``)."""
    for value in (*args, *kwargs.values()):
        if isinstance(value, int) and not isinstance(value, bool):
            _check_length(value, "a string")


def _bounded_filter(function: Callable[..., Any]) -> Callable[..., Any]:  # Any: jinja filters
    @wraps(function)
    def bounded(*args: Any, **kwargs: Any) -> Any:  # Any: as the filter takes and gives
        _check_deadline()
        _check_ints(args[1:], kwargs)
        return function(*args, **kwargs)

    return bounded


class _Sandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox, refusing unsafe attributes and bounding what templates build."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def unsafe_undefined(self, obj: Any, attribute: str) -> Any:  # Any: any template value
        raise SecurityError(
            f"access to attribute {attribute!r} of {type(obj).__name__!r} object is unsafe"
        )

    def call_binop(
        self, context: Context, operator: str, left: Any, right: Any
    ) -> Any:  # Any: template values
        _check_deadline()
        if operator == "*":
            for one, other in ((left, right), (right, left)):
                size = _sized(one)
                if size is not None and isinstance(other, int):
                    _check_length(size * other, "a value")
        elif operator == "+" and _sized(left) is not None and _sized(right) is not None:
            _check_length(len(left) + len(right), "a value")
        elif operator == "**" and isinstance(left, int) and isinstance(right, int):
            _check_length(abs(right) * left.bit_length() // 3, "a number")  # ~digits
        elif operator == "%" and isinstance(left, str):
            for width in _WIDTH.findall(left):
                _check_length(int(width), "a string")
        return super().call_binop(context, operator, left, right)

    def call(
        __self, __context: Context, __obj: Any, *args: Any, **kwargs: Any
    ) -> Any:  # Any: template values
        _check_deadline()
        if __obj is not _bounded_range:  # which has its own limit
            _check_ints(args, kwargs)
        return super().call(__context, __obj, *args, **kwargs)


# Keys that exist but have no value yet (a loop's first iteration) render as empty;
# names that no task produces are caught by validation before the run.
_ENV = _Sandbox(undefined=ChainableUndefined, autoescape=False)
_ENV.policies["json.dumps_kwargs"] = {"ensure_ascii": False, "sort_keys": False}
_ENV.globals["range"] = _bounded_range  # pyright: ignore[reportArgumentType] - jinja types its globals as its own defaults
_ENV.filters = {name: _bounded_filter(f) for name, f in _ENV.filters.items()}

_Run = Callable[[Mapping[str, Any]], Any]  # Any: template values in, text or a value out


class _Compiled(NamedTuple):
    """A template or expression, compiled: the names it reads and how to run it (a tuple:
    validating a 500-task workflow makes 500 of them)."""

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

    Validation compiles every template and expression of the workflow (``check``); its runs
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

    def check(self, source: str, *, is_expression: bool = False) -> tuple[frozenset[str], str]:
        """Compile ``source`` and keep it for the workflow's runs: the names it reads
        (``variables``) and a description of its syntax error (empty if it parses)."""
        key = (source, is_expression)
        compiled = self._compiled.get(key)
        if compiled is None:
            compiled = self._compiled[key] = _compile(source, is_expression=is_expression)
        if compiled.error is None:
            return compiled.names, ""
        return compiled.names, compiled.describe_error() or ""

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


def _call(expression: Any, values: Mapping[str, Any]) -> Any:  # Any: jinja2's expression
    return expression(**values)


def _join_chunks(template: Any, values: Mapping[str, Any]) -> str:  # Any: jinja2.Template
    """The rendered text, refused as soon as it grows past the string cap."""
    current = _render.get()
    cap = current.max_chars if current else LIMITS.template_chars.value()
    chunks: list[str] = []
    length = 0
    for chunk in template.generate(values):
        length += len(chunk)
        if length > cap:
            _check_length(length, "a text")
        chunks.append(chunk)
    return "".join(chunks)


def _bounded(
    run: Callable[[Any, Mapping[str, Any]], Any], compiled: Any, values: Mapping[str, Any]
) -> Any:  # Any: jinja2's compiled objects and what they compute
    """Run a compiled template under the render deadline, its Python errors as template errors."""
    token = None
    if _render.get() is None:  # the outermost render of this context sets the limits
        deadline = _CLOCK.monotonic() + LIMITS.template_seconds.value()
        token = _render.set(_Render(deadline=deadline, max_chars=LIMITS.template_chars.value()))
    try:
        return run(compiled, values)
    except (TemplateError, UndefinedError):
        raise
    except RecursionError as exc:
        raise TemplateLimitError(
            "the template recurses too deeply (a macro calling itself?)"
        ) from exc
    # A template is user code: its Python errors (1 / 0, 'a' + 1) are its failure, not ours.
    except (ArithmeticError, LookupError, TypeError, ValueError, AttributeError) as exc:
        raise TemplateRuntimeError(f"{type(exc).__name__}: {exc}") from exc
    finally:
        if token is not None:
            _render.reset(token)


def _valid(source: str, compiled: _Compiled) -> _Compiled:
    if compiled.error is not None:
        msg = f"invalid template {source!r}: {compiled.error.message}"
        raise ConfigError(msg) from compiled.error
    return compiled


_PLAIN: Final = _Compiled()
"""What text without template syntax compiles to: one shared value (an agent without
instructions, a literal instruction), so a run's lookups make nothing for it."""


def _compile(source: str, *, is_expression: bool) -> _Compiled:
    if not is_expression and "{" not in source:
        return _PLAIN
    try:
        if is_expression:
            names = meta.find_undeclared_variables(_ENV.parse("{{ (" + source + ") }}"))
            expression = _ENV.compile_expression(source, undefined_to_none=True)
            return _Compiled(frozenset(names), partial(_bounded, _call, expression))
        simple = _fill_in_text(source)
        if simple is not None:
            return simple
        ast = _ENV.parse(source)
        simple = _fill_in(ast)
        if simple is not None:
            return simple
        names = frozenset(meta.find_undeclared_variables(ast))  # runs Jinja's code generator
        template = _ENV.from_string(ast)
        return _Compiled(names, partial(_bounded, _join_chunks, template))
    except TemplateSyntaxError as exc:
        return _Compiled(error=exc.with_traceback(None))  # keeps no frames alive


_FILL_IN = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_SYNTAX_LEFT = re.compile(r"\{[{%#]|\{\0")
"""Jinja syntax left in the text around the placeholders, or a ``{`` right before one."""
_NOT_NAMES = frozenset(
    {"true", "false", "none", "True", "False", "None", "and", "or", "not", "in", "is", "if"}
    | {"else"}
    | set(_ENV.globals)
)


def _fill_in_text(source: str) -> _Compiled | None:
    """A template of plain text and ``{{ name }}`` placeholders, recognised without Jinja's
    lexer and parser (which cost some 80 us a template: a 500-task workflow whose tasks read
    their parents spent 40 ms validating); None for anything else, which Jinja parses.

    Only what Jinja would read the same is taken: no ``\\r`` (Jinja rewrites newlines), no
    ``{%``, ``{#`` or whitespace control, no ``{{`` left in the text, no ``{`` just before a
    placeholder, and names that are neither keywords nor globals. Jinja drops one trailing
    newline, and so does this.
    """
    if "\r" in source:
        return None
    pieces = _FILL_IN.split(source.removesuffix("\n"))
    texts, names = pieces[::2], pieces[1::2]
    if _SYNTAX_LEFT.search("\0".join(texts)):  # \0 stands where a placeholder was
        return None
    if not _NOT_NAMES.isdisjoint(names):
        return None
    return _filler(texts, names)


def _fill_in(ast: nodes.Template) -> _Compiled | None:
    """A template that only fills in names (``{{ a }} and {{ b }}``), with no filters, tags or
    expressions, compiled without Jinja; None for any other template, which Jinja compiles.

    It renders what Jinja would: text as parsed (whitespace control and newlines applied),
    ``str(value)`` for a name, and nothing for a name without a value.
    """
    if len(ast.body) != 1 or not isinstance(ast.body[0], nodes.Output):
        return None
    texts: list[str] = [""]  # the text before each name, and after the last
    names: list[str] = []
    for node in ast.body[0].nodes:
        if isinstance(node, nodes.TemplateData):
            texts[-1] += node.data
        elif isinstance(node, nodes.Const) and isinstance(node.value, str):
            texts[-1] += node.value
        elif isinstance(node, nodes.Name) and node.name not in _ENV.globals:
            names.append(node.name)
            texts.append("")
        else:
            return None
    return _filler(texts, names)


def _filler(texts: list[str], names: list[str]) -> _Compiled:
    """``texts[0]``, then each name's value followed by the next text, rendered as Jinja
    renders them: ``str(value)`` for a name, and nothing for a name without a value.

    Built once per template and run once per task that uses it, so both stay small: no
    parts list to walk, no generator, no join.
    """
    first, rest = texts[0], tuple(zip(names, texts[1:], strict=True))

    def fill_in(values: Mapping[str, Any]) -> str:  # Any: template values
        out = first
        for name, text in rest:
            out += (str(values[name]) if name in values else "") + text
        return out

    return _Compiled(frozenset(names), fill_in)
