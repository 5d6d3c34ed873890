"""Loading workflows from YAML: locations, references, includes and errors."""

from __future__ import annotations

import operator
import sys
import textwrap
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError

from podium.errors import ConfigError, Location, Problem
from podium.tool import Tool
from podium.workflow.yaml import load_workflow, parse_workflow, resolve_reference


def _yaml(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(_yaml(text), encoding="utf-8")
    return path


def _problems(text: str, **kwargs: Path) -> tuple[Problem, ...]:
    with pytest.raises(ConfigError) as caught:
        parse_workflow(_yaml(text), source="flow.yaml", **kwargs)
    return caught.value.problems


def _line(problem: Problem) -> int | None:
    return problem.location.line if problem.location else None


MINIMAL = """
    name: minimal
    agents:
      writer:
        model: scripted
    tasks:
      - id: draft
        agent: writer
        instruction: Write about {{ topic }}
      - id: edit
        agent: writer
        needs: [draft]
    """


# -- locations -----------------------------------------------------------------------------------


def test_locations_follow_dotted_document_paths() -> None:
    flow = parse_workflow(_yaml(MINIMAL), source="flow.yaml")
    assert flow.location("tasks.1.needs.0") == Location("flow.yaml", 11, 13)
    assert flow.location("tasks.1") == Location("flow.yaml", 9, 5)
    assert flow.location("") == Location("flow.yaml", 1, 1)


def test_agents_are_located_by_name_and_by_index() -> None:
    flow = parse_workflow(_yaml(MINIMAL), source="flow.yaml")
    assert flow.location("agents.writer.model") == Location("flow.yaml", 4, 5)
    assert flow.location("agents.0.model") == flow.location("agents.writer.model")


def test_an_unknown_path_falls_back_to_its_nearest_located_parent() -> None:
    flow = parse_workflow(_yaml(MINIMAL), source="flow.yaml")
    assert flow.location("tasks.0.output") == Location("flow.yaml", 6, 5)


def test_load_workflow_names_the_file_in_locations(tmp_path: Path) -> None:
    path = _write(tmp_path / "flow.yaml", MINIMAL)
    flow = load_workflow(path)
    assert flow.name == "minimal"
    assert [t.id for t in flow.tasks] == ["draft", "edit"]
    assert flow.location("tasks.0.agent") == Location(str(path), 7, 5)


# -- YAML and shape errors -----------------------------------------------------------------------


def test_malformed_yaml_reports_the_line_and_what_is_wrong() -> None:
    text = """
        name: broken
        tasks:
          - id: a
            instruction: one: two
        """
    (problem,) = _problems(text)
    assert _line(problem) == 4
    assert "mapping values are not allowed here" in problem.message
    with pytest.raises(ConfigError, match=r"flow\.yaml: invalid YAML"):
        parse_workflow(_yaml(text), source="flow.yaml")


def test_an_unclosed_bracket_points_at_where_parsing_failed() -> None:
    text = """
        name: broken
        tasks:
          - id: a
            needs: [b, c
          - id: b
        """
    (problem,) = _problems(text)
    assert problem.message.startswith("invalid YAML")
    assert _line(problem) == 5


def test_a_top_level_list_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"a workflow file is a mapping .* not a list"):
        parse_workflow("- id: a\n- id: b\n")


def test_an_empty_document_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"not an empty document"):
        parse_workflow("# nothing here\n")


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.yaml"
    with pytest.raises(ConfigError, match=r"workflow file not found: .*nowhere\.yaml"):
        load_workflow(missing)


def test_duplicate_keys_are_reported_with_both_lines() -> None:
    text = """
        name: dup
        tasks:
          - id: a
            agent: w
            agent: v
        """
    (problem,) = _problems(text)
    assert problem.message == "duplicate key 'agent' (first at line 4); remove one"
    assert _line(problem) == 5


def test_every_schema_error_is_reported_at_once_with_its_line() -> None:
    text = """
        name: many
        agents:
          writer:
            model: 3
        tasks:
          - id: a
            agent: writer
            join: {at_least: 0}
          - id: b
            agent: writer
            colour: blue
          - agent: writer
        """
    problems = _problems(text)
    found = {(p.path, _line(p), p.message) for p in problems}
    assert found == {
        (
            "agents.0.model",
            4,
            "Input should be a valid string or a valid dictionary or instance of ModelSpec"
            " or an instance of Model (got 3)",
        ),
        ("tasks.0.join.at_least", 8, "Input should be greater than or equal to 1 (got 0)"),
        ("tasks.1.colour", 11, "unknown field 'colour'"),
        ("tasks.2.id", 12, "missing required field 'id'"),
    }


def test_a_task_of_no_kind_is_reported_at_the_task() -> None:
    text = """
        name: kindless
        tasks:
          - id: first
            instruction: hello
        """
    (problem,) = _problems(text)
    assert problem.path == "tasks.0"
    assert _line(problem) == 3
    kinds = "agent, map, loop, workflow, recurse, plan or wait"
    assert f"exactly one of {kinds} (found: none)" in problem.message


# -- output schemas ------------------------------------------------------------------------------


def test_a_compact_output_schema_builds_a_model_that_validates() -> None:
    text = """
        name: schema
        agents:
          critic:
            output_schema:
              approved: bool
              score: {type: int, description: from 1 to 5}
              tags: list[str]
              verdict: {type: str, enum: [accept, revise]}
              note: {type: str, default: ""}
        tasks:
          - {id: review, agent: critic}
        """
    flow = parse_workflow(_yaml(text))
    schema = flow.agents[0].output_schema
    assert schema is not None
    answer = schema.model_validate(
        {"approved": True, "score": 4, "tags": ["x"], "verdict": "accept"}
    )
    assert answer.model_dump() == {
        "approved": True,
        "score": 4,
        "tags": ["x"],
        "verdict": "accept",
        "note": "",
    }
    assert schema.model_json_schema()["properties"]["score"]["description"] == "from 1 to 5"
    with pytest.raises(ValidationError, match=r"verdict\n  Input should be 'accept' or 'revise'"):
        schema.model_validate({"approved": True, "score": 4, "tags": [], "verdict": "maybe"})
    with pytest.raises(ValidationError, match=r"extra\n  Extra inputs are not permitted"):
        schema.model_validate(
            {"approved": True, "score": 1, "tags": [], "verdict": "revise", "extra": 1}
        )


def test_compact_schema_mistakes_are_located() -> None:
    text = """
        name: schema
        agents:
          critic:
            output_schema:
              approved: boolean
              verdict: {type: str, enum: [yes, no]}
              _hidden: str
        tasks:
          - {id: review, agent: critic}
        """
    problems = _problems(text)
    messages = {(_line(p), p.message.split(";")[0]) for p in problems}
    assert messages == {
        (5, "field 'approved': unknown type 'boolean'"),
        (
            6,
            "field 'verdict': enum value True is not a str (quote it: YAML reads yes/no/on/off"
            " as booleans)",
        ),
        (7, "field name '_hidden' must be letters, digits and _, starting with a letter"),
    }


def test_an_output_schema_reference_imports_from_the_file_directory(tmp_path: Path) -> None:
    module = f"schemas_{tmp_path.name}"
    _write(
        tmp_path / f"{module}.py",
        """
        from pydantic import BaseModel

        class Review(BaseModel):
            approved: bool
        """,
    )
    path = _write(
        tmp_path / "flow.yaml",
        f"""
        name: ref
        agents:
          critic: {{output_schema: "{module}:Review"}}
        tasks:
          - {{id: review, agent: critic}}
        """,
    )
    schema = load_workflow(path).agents[0].output_schema
    assert schema is not None
    assert schema.__name__ == "Review"
    assert issubclass(schema, BaseModel)
    assert str(tmp_path) not in sys.path


def test_a_failed_import_is_a_located_problem(tmp_path: Path) -> None:
    module = f"helpers_{tmp_path.name}"
    _write(tmp_path / f"{module}.py", "VALUE = 1\n")
    text = f"""
        name: imports
        agents:
          a:
            output_schema: no_such_module_here:Thing
          b:
            output_schema: {module}:VALUE
            tools: [{module}:missing, 42]
        tasks:
          - {{id: t, agent: a}}
        """
    problems = _problems(text, base_dir=tmp_path)
    found = {(p.path, _line(p)): p.message for p in problems}
    assert found.keys() == {
        ("agents.a.output_schema", 4),
        ("agents.b.output_schema", 6),
        ("agents.b.tools.0", 7),
        ("agents.b.tools.1", 7),
    }
    assert "cannot import module 'no_such_module_here'" in found["agents.a.output_schema", 4]
    assert (
        found["agents.b.output_schema", 6]
        == f"'{module}:VALUE' is not a pydantic model class (BaseModel subclass)"
    )
    assert found["agents.b.tools.0", 7] == f"module '{module}' has no attribute 'missing'"
    assert "module:function" in found["agents.b.tools.1", 7]


def test_tools_are_imported_and_wrapped(tmp_path: Path) -> None:
    module = f"tools_{tmp_path.name}"
    _write(
        tmp_path / f"{module}.py",
        '''
        def search(query: str, limit: int = 3) -> list[str]:
            """Search the notes.

            Args:
                query: what to look for.
                limit: how many hits.
            """
            return [query] * limit
        ''',
    )
    text = f"""
        name: tooled
        agents:
          researcher: {{tools: ["{module}:search"]}}
        tasks:
          - {{id: look, agent: researcher}}
        """
    flow = parse_workflow(_yaml(text), base_dir=tmp_path)
    (made,) = flow.agents[0].tools
    assert isinstance(made, Tool)
    assert made.name == "search"
    assert made.description == "Search the notes."
    assert made.spec.parameters["required"] == ["query"]


def test_resolve_reference_refuses_a_malformed_reference() -> None:
    with pytest.raises(ConfigError, match=r"'nocolon' is not a reference: write it as module:attr"):
        resolve_reference("nocolon")
    assert resolve_reference("operator:add") is operator.add


def test_a_reducer_is_stored_as_written() -> None:
    text = """
        name: reduce
        context:
          notes: {merge: reducer, reducer: "mymodule:combine"}
        agents: {w: {}}
        tasks:
          - {id: t, agent: w}
        """
    flow = parse_workflow(_yaml(text))
    assert flow.context["notes"].reducer == "mymodule:combine"


# -- sub-workflows -------------------------------------------------------------------------------


SUB = """
    name: polish
    inputs:
      text: {required: true}
    agents:
      editor: {}
    tasks:
      - id: edit
        agent: editor
        instruction: Polish {{ text }}
    """


def test_a_sub_workflow_is_loaded_relative_to_the_including_file(tmp_path: Path) -> None:
    _write(tmp_path / "flows" / "polish.yaml", SUB)
    main = _write(
        tmp_path / "main.yaml",
        """
        name: main
        agents: {writer: {}}
        tasks:
          - {id: draft, agent: writer}
          - id: polish
            needs: [draft]
            workflow: flows/polish.yaml
            inputs: {text: "{{ draft }}"}
        """,
    )
    flow = load_workflow(main)
    sub = flow.tasks[1].workflow
    assert sub is not None
    assert sub.name == "polish"
    assert sub.location("tasks.0.instruction") == Location(
        str(tmp_path / "flows" / "polish.yaml"), 9, 5
    )


def test_an_inline_sub_workflow_keeps_its_locations() -> None:
    text = """
        name: main
        agents: {writer: {}}
        tasks:
          - id: inner
            workflow:
              name: inner
              agents: {editor: {}}
              tasks:
                - {id: edit, agent: editor}
        """
    flow = parse_workflow(_yaml(text), source="flow.yaml")
    sub = flow.tasks[0].workflow
    assert sub is not None
    assert sub.location("tasks.0") == Location("flow.yaml", 9, 11)
    assert sub.location("agents.editor") == Location("flow.yaml", 7, 16)


def test_an_include_cycle_is_refused_naming_the_chain(tmp_path: Path) -> None:
    _write(tmp_path / "a.yaml", "name: a\ntasks:\n  - {id: ta, workflow: b.yaml}\n")
    _write(tmp_path / "b.yaml", "name: b\ntasks:\n  - {id: tb, workflow: a.yaml}\n")
    with pytest.raises(ConfigError, match=r"include cycle: \S*a\.yaml -> \S*b\.yaml -> \S*a\.yaml"):
        load_workflow(tmp_path / "a.yaml")


def test_a_missing_sub_workflow_is_reported_where_it_is_named(tmp_path: Path) -> None:
    main = _write(
        tmp_path / "main.yaml",
        """
        name: main
        agents: {writer: {}}
        tasks:
          - {id: draft, agent: writer}
          - id: sub
            workflow: gone.yaml
        """,
    )
    with pytest.raises(ConfigError) as caught:
        load_workflow(main)
    (problem,) = caught.value.problems
    assert (
        problem.message
        == f"sub-workflow 'gone.yaml': workflow file not found: {tmp_path}/gone.yaml"
    )
    assert problem.location == Location(str(main), 6, 5)


def test_errors_inside_a_sub_workflow_point_into_its_file(tmp_path: Path) -> None:
    sub = _write(tmp_path / "sub.yaml", "name: sub\ntasks:\n  - id: x\n    agnt: w\n")
    main = _write(tmp_path / "main.yaml", "name: main\ntasks:\n  - {id: s, workflow: sub.yaml}\n")
    with pytest.raises(ConfigError) as caught:
        load_workflow(main)
    located = {(str(p.location), p.message) for p in caught.value.problems}
    assert (f"{sub}:4:5", "unknown field 'agnt'") in located
    assert (f"{main}:3:13", "sub-workflow 'sub.yaml': cannot load workflow") in {
        (where, message.split(f" {sub}")[0]) for where, message in located
    }
