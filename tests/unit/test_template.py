"""Templates and conditions: rendering, expressions, the variables they read, the sandbox."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from jinja2 import ChainableUndefined, TemplateSyntaxError, meta
from jinja2.exceptions import SecurityError, TemplateRuntimeError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from podium import Agent, InputSpec, Task, Workflow
from podium.errors import ConfigError
from podium.template import TemplateLimitError, check_syntax, evaluate, render, variables
from podium.workflow.validate import validate

# -- render ------------------------------------------------------------------------------------


def test_render_fills_in_values() -> None:
    assert render("Summarize {{ research }} for {{ audience }}.", {
        "research": "the notes", "audience": "kids",
    }) == "Summarize the notes for kids."  # fmt: skip


def test_render_reaches_into_mappings_and_loops() -> None:
    source = "{% for s in plan.sections %}- {{ s.title | upper }}\n{% endfor %}"
    values = {"plan": {"sections": [{"title": "moon"}, {"title": "sun"}]}}
    assert render(source, values) == "- MOON\n- SUN\n"


def test_render_does_not_escape_html() -> None:
    assert render("{{ code }}", {"code": "<b>a & b</b>"}) == "<b>a & b</b>"


def test_tojson_keeps_non_ascii_and_key_order() -> None:
    assert render("{{ v | tojson }}", {"v": {"z": "café", "a": 1}}) == '{"z": "café", "a": 1}'


def test_a_key_without_a_value_yet_renders_empty() -> None:
    assert render("Feedback: [{{ review.comment }}]", {}) == "Feedback: []"


def test_text_without_braces_is_returned_as_it_is() -> None:
    text = "Write a haiku about tides %} and 100% of #} the moon"
    assert render(text, {"tides": "ignored"}) == text


# -- evaluate ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"review": {"approved": True}, "score": 4}, True),
        ({"review": {"approved": True}, "score": 3}, False),
        ({"review": {"approved": False}, "score": 5}, False),
    ],
)
def test_an_expression_evaluates_over_values(values: dict[str, object], expected: bool) -> None:
    assert evaluate("review.approved and score > 3", values) is expected


def test_an_expression_can_compute_values() -> None:
    assert evaluate("items | length", {"items": [1, 2, 3]}) == 3
    assert evaluate("'moon' in topic", {"topic": "the moon and tides"}) is True


def test_an_undefined_name_evaluates_to_none() -> None:
    assert evaluate("review.approved", {}) is None
    assert not evaluate("review.approved and score > 3", {"score": 5})


# -- variables ---------------------------------------------------------------------------------


def test_variables_are_the_top_level_names_read() -> None:
    assert variables("{{ review.approved }} {{ topic }} {{ plan['sections'] }}") == {
        "review",
        "topic",
        "plan",
    }


def test_loop_and_set_names_are_not_variables() -> None:
    source = (
        "{% set heading = title | upper %}{{ heading }}"
        "{% for s in plan.sections %}{{ s.name | default(fallback) }}{{ loop.index }}{% endfor %}"
    )
    assert variables(source) == {"title", "plan", "fallback"}


def test_filters_and_tests_are_not_variables() -> None:
    assert variables("{{ notes | join(', ') | length }}{% if notes is defined %}x{% endif %}") == {
        "notes"
    }


def test_variables_of_an_expression() -> None:
    assert variables("review.approved and score > 3", is_expression=True) == {"review", "score"}


def test_a_plain_text_template_reads_nothing() -> None:
    assert variables("Write a poem.") == frozenset()


def test_variables_of_an_invalid_template_is_a_config_error() -> None:
    with pytest.raises(
        ConfigError, match=r"invalid template '\{\{ topic ': unexpected end of template"
    ):
        variables("{{ topic ")


# -- check_syntax ------------------------------------------------------------------------------


def test_check_syntax_accepts_good_templates_and_expressions() -> None:
    assert check_syntax("Hello {{ name }}{% if x %}!{% endif %}") is None
    assert check_syntax("review.approved and score > 3", is_expression=True) is None


@pytest.mark.parametrize(
    ("source", "is_expression", "problem"),
    [
        ("{{ topic ", False, r"^line 1 of the template: unexpected end of template"),
        ("a\n{% for x in %}", False, r"^line 2 of the template: Expected an expression"),
        ("{% if x %}never closed", False, r"^line 1 of the template: Unexpected end of template"),
        (
            "{% frobnicate %}",
            False,
            r"^line 1 of the template: Encountered unknown tag 'frobnicate'",
        ),
        ("review.approved and", True, r"^line 1 of the template: "),
    ],
)
def test_check_syntax_reports_bad_templates(source: str, is_expression: bool, problem: str) -> None:
    found = check_syntax(source, is_expression=is_expression)
    assert found is not None
    assert re.search(problem, found), found


def test_check_syntax_rejects_what_evaluate_cannot_compile() -> None:
    assert check_syntax("a) + (b", is_expression=True) is not None


# -- the sandbox -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ ''.__class__ }}",
        "{{ f.__code__ }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ lipsum.__globals__['os'] }}",
    ],
)
def test_reaching_for_python_internals_is_an_error(source: str) -> None:
    with pytest.raises(SecurityError, match=r"access to attribute '__.*__' of .* is unsafe"):
        render(source, {"f": lambda: None})


def test_a_condition_reaching_for_python_internals_is_an_error_not_false() -> None:
    with pytest.raises(SecurityError, match="'__init__' of 'type' object is unsafe"):
        evaluate("cycler.__init__.__globals__", {})


@pytest.mark.parametrize(
    ("source", "attribute"),
    [
        ("{{ ''.__class__.__mro__[1].__subclasses__() }}", "__class__"),
        ("{{ x.__class__.__base__.__subclasses__() }}", "__class__"),
    ],
)
def test_the_sandbox_refuses_to_call_into_python_internals(source: str, attribute: str) -> None:
    with pytest.raises(SecurityError, match=f"access to attribute '{attribute}' of .* is unsafe"):
        render(source, {"x": 1})


@pytest.mark.parametrize(
    ("source", "attribute"),
    [("{{ items.append(4) }}", "append"), ("{{ review.update(approved=true) }}", "update")],
)
def test_the_sandbox_is_immutable(source: str, attribute: str) -> None:
    values = {"items": [1, 2, 3], "review": {"approved": False}}
    with pytest.raises(SecurityError, match=f"access to attribute '{attribute}' .* is unsafe"):
        render(source, values)
    assert values == {"items": [1, 2, 3], "review": {"approved": False}}


def test_expressions_run_in_the_sandbox_too() -> None:
    with pytest.raises(SecurityError, match="unsafe"):
        evaluate("''.__class__", {})
    with pytest.raises(SecurityError, match="unsafe"):
        evaluate("items.pop()", {"items": [1]})


# -- compiled once per workflow ----------------------------------------------------------------


def _workflow() -> Workflow:
    return Workflow(
        name="w",
        agents=[Agent(name="a", instructions="You write for {{ audience }}.")],
        inputs={"audience": InputSpec(default="kids")},
        tasks=[
            Task(id="draft", agent="a", instruction="Write about tides."),
            Task(
                id="edit",
                agent="a",
                instruction="Edit {{ draft }}",
                needs=("draft",),
                when="draft | length > 0",
            ),
        ],
    )


def test_validation_compiles_each_template_and_expression_of_the_workflow_once() -> None:
    flow = _workflow()
    validate(flow)
    assert "Edit {{ draft }}" in flow.templates
    assert "You write for {{ audience }}." in flow.templates
    assert "draft | length > 0" in flow.templates
    assert len(flow.templates) == 4  # the plain instruction too: it reads nothing
    validate(flow)
    assert len(flow.templates) == 4


def test_a_template_the_workflow_does_not_hold_is_rendered_but_not_kept() -> None:
    flow = _workflow()
    validate(flow)
    assert flow.templates.render("Plan {{ goal }}", {"goal": "a trip"}) == "Plan a trip"
    assert "Plan {{ goal }}" not in flow.templates
    assert len(flow.templates) == 4


def test_a_copy_of_a_workflow_shares_its_templates_and_still_equals_it() -> None:
    flow = _workflow()
    copy = flow.model_copy(update={"description": "changed"})
    validate(flow)
    assert copy.templates is flow.templates
    assert _workflow() == flow  # the compiled templates are no part of what a workflow is


_JINJA = ImmutableSandboxedEnvironment(undefined=ChainableUndefined, autoescape=False)
_NAMES = st.sampled_from(["a", "b", "cycler", "missing", "none"])
_TEXT = st.text(alphabet="xy -\n\r\t{}%#", max_size=6)
_SPACE_LEFT = st.sampled_from([" ", "- ", ""])
_SPACE_RIGHT = st.sampled_from([" ", " -", ""])
_PART = st.one_of(
    _TEXT,
    st.builds(
        lambda n, left, right: "{{" + left + n + right + "}}", _NAMES, _SPACE_LEFT, _SPACE_RIGHT
    ),
    st.builds(lambda t: "{{ " + json.dumps(t) + " }}", _TEXT),
)


@given(st.lists(_PART, max_size=6).map("".join))
def test_a_template_that_only_fills_in_names_renders_as_jinja_renders_it(source: str) -> None:
    values = {"a": "A\n", "b": None}
    try:
        expected = _JINJA.from_string(source).render(values)
    except TemplateSyntaxError:
        assert check_syntax(source) is not None
        return
    assert render(source, values) == (expected if "{" in source else source)
    assert variables(source) == meta.find_undeclared_variables(_JINJA.parse(source))


# -- resource limits ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            "{% for i in range(10**12) %}x{% endfor %}",
            r"range\(1000000000000\) has 1,000,000,000,000",
        ),
        ("{{ 'x' * 10**10 }}", "a value of 10,000,000,000 characters"),
        ("{{ [1, 2] * 10**9 }}", "a value of 2,000,000,000 characters"),
        ("{{ 2 ** (10**10) }}", "a number of"),
        ("{{ 'x' | center(10**10) }}", "a string of 10,000,000,000 characters"),
        ("{{ 'x'.ljust(10**10) }}", "a string of 10,000,000,000 characters"),
        ("{{ '%999999999s' % 'x' }}", "a string of 999,999,999 characters"),
        ("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "recurses too deeply"),
    ],
)
def test_a_template_over_a_resource_limit_is_refused(source: str, message: str) -> None:
    with pytest.raises(TemplateLimitError, match=message):
        render(source, {})


def test_the_limits_are_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    assert render("{{ 'ab' * 3 }}", {}) == "ababab"
    monkeypatch.setenv("PODIUM_MAX_TEMPLATE_CHARS", "5")
    with pytest.raises(TemplateLimitError, match=r"set PODIUM_MAX_TEMPLATE_CHARS to raise it"):
        render("{{ 'ab' * 3 }}", {})
    monkeypatch.setenv("PODIUM_MAX_TEMPLATE_RANGE", "2")
    with pytest.raises(TemplateLimitError, match=r"range\(3\) has 3 items, over the limit of 2"):
        render("{% for i in range(3) %}{% endfor %}", {})


def test_the_rendered_text_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PODIUM_MAX_TEMPLATE_CHARS", "50")
    with pytest.raises(TemplateLimitError, match="a text of 51 characters"):
        render("{% for i in range(60) %}x{% endfor %}", {})


def test_a_render_that_runs_past_its_time_is_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PODIUM_MAX_TEMPLATE_SECONDS", "1")
    monkeypatch.setattr("podium.template._CLOCK", _Jumping())  # each reading is 1 s later
    loops = "{% for i in range(5000) %}{% for j in range(5000) %}{% endfor %}{% endfor %}"
    with pytest.raises(TemplateLimitError, match="took too long to render"):
        render(loops, {})


class _Jumping:
    """A clock that moves one second on each reading."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        self.now += 1.0
        return self.now


@pytest.mark.parametrize(
    ("source", "message"),
    [("{{ 1 / 0 }}", "ZeroDivisionError: division by zero"), ("{{ 'a' + 1 }}", "TypeError: ")],
)
def test_a_python_error_in_a_template_is_a_template_error(source: str, message: str) -> None:
    with pytest.raises(TemplateRuntimeError, match=message):
        render(source, {})
