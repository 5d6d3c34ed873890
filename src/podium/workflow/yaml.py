"""Load workflows from YAML files, keeping where each element was written.

Each element's line and column, read from PyYAML's node tree, is kept under its dotted
document path (``tasks.2.needs.0``, ``agents.writer.model``) and attached to the ``Workflow``,
so that every problem, here or in validation, points at a line. References the file makes
(``module:attribute``, sub-workflow files) are resolved before pydantic validates the data:

```yaml
name: report
inputs: {topic: {required: true}}
agents:
  writer:
    instructions: You write short reports.
    output_schema: {title: str, tone: {type: str, enum: [plain, formal]}}
    tools: [mytools:search]          # module:function, the file's directory is importable
                                     # or mcp:SERVER/NAME (see podium.toolserver)
tasks:
  - id: draft
    agent: writer
    instruction: Write about {{ topic }}
  - id: review
    workflow: review.yaml            # a sub-workflow, relative to this file
    inputs: {text: "{{ draft }}"}
    needs: [draft]
```

Every problem found is raised at once as one ``ConfigError``, each with its location.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Generator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from podium import yaml_reader
from podium.errors import ConfigError, Location, Problem
from podium.ids import TaskId
from podium.input_limits import LIMITS, check_size
from podium.task import Task
from podium.tool import Tool, tool
from podium.toolserver import MCP_PREFIX
from podium.workflow.model import Workflow, walk
from podium.workflow.output_fields import field_definition, output_model
from podium.workflow.yaml_path import error_messages, items, join, mapping

__all__ = ["load_workflow", "parse_workflow", "resolve_reference"]

_MERGE_TAG = "tag:yaml.org,2002:merge"


def load_workflow(path: str | Path) -> Workflow:
    """Load and parse the workflow file at ``path``.

    Args:
        path: a YAML workflow file; sub-workflows and ``module:name`` references in it are
            looked up relative to its directory.

    Returns:
        The workflow, with the source location of each element attached.

    Raises:
        ConfigError: the file is missing, is not valid YAML, or does not describe a workflow;
            every problem found is listed with its file, line and column.
    """
    return _load_file(Path(path), chain=())


def parse_workflow(
    text: str, *, source: str = "<string>", base_dir: Path | None = None
) -> Workflow:
    """Parse a workflow from YAML text.

    Args:
        text: the YAML document.
        source: the name locations are given in (a file name, or ``<string>``).
        base_dir: where sub-workflow paths and ``module:name`` references are looked up;
            the current directory when None.

    Returns:
        The workflow, with the source location of each element attached.

    Raises:
        ConfigError: the text is not valid YAML or does not describe a workflow; every
            problem found is listed with its location.
    """
    loader = _Loader(file=source, base_dir=base_dir or Path.cwd(), chain=())
    return loader.parse(text)


def resolve_reference(reference: str, *, base_dir: Path | None = None) -> object:
    """Import what a ``module:attribute`` reference names.

    Args:
        reference: e.g. ``"schemas:Review"`` or ``"mypackage.tools:search"``.
        base_dir: a directory importable during this lookup (a workflow file's directory).

    Returns:
        The object the reference names.

    Raises:
        ConfigError: the reference is malformed, its module fails to import, or the
            module has no such attribute.
    """
    module_name, colon, attribute = reference.partition(":")
    if not colon or not module_name or not attribute:
        msg = f"{reference!r} is not a reference: write it as module:attribute, e.g. schemas:Review"
        raise ConfigError(msg)
    try:
        with _importable(base_dir):
            module = importlib.import_module(module_name)
    # Importing runs the user's code, which may raise anything: it is a config problem.
    except Exception as exc:
        where = f" (looked in {base_dir} and sys.path)" if base_dir else ""
        msg = f"cannot import module {module_name!r}{where}: {type(exc).__name__}: {exc}"
        raise ConfigError(msg) from exc
    target: object = module
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError as exc:
            raise ConfigError(f"module {module_name!r} has no attribute {attribute!r}") from exc
    return target


@contextmanager
def _importable(directory: Path | None) -> Generator[None]:
    """Make ``directory`` importable for the duration of one lookup."""
    entry = str(directory) if directory is not None else None
    if entry is None or entry in sys.path:
        yield
        return
    sys.path.insert(0, entry)
    importlib.invalidate_caches()
    try:
        yield
    finally:
        sys.path.remove(entry)


def _load_file(path: Path, chain: tuple[Path, ...]) -> Workflow:
    try:
        check_size(f"workflow file {path}", path.stat().st_size, LIMITS.yaml_bytes)
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f"workflow file not found: {path}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read workflow file {path}: {exc}") from exc
    loader = _Loader(file=str(path), base_dir=path.parent, chain=(*chain, path.resolve()))
    return loader.parse(text)


@dataclass(slots=True, kw_only=True)
class _Loader:
    """Loads one document: its locations, the references it makes, and its problems."""

    file: str
    base_dir: Path
    chain: tuple[Path, ...]
    """Resolved paths of the files including this one, outermost first (include cycles)."""
    locations: dict[str, Location] = field(default_factory=dict[str, Location])
    problems: list[Problem] = field(default_factory=list[Problem])
    inline: set[str] = field(default_factory=set[str])
    """Paths of sub-workflows written inline as mappings."""

    def parse(self, text: str) -> Workflow:
        data = self._read(text)
        self._resolve_workflow(data, "")
        try:
            workflow = Workflow.model_validate(data)
        except ValidationError as exc:
            self.problems.extend(
                Problem(message, self._location(path), path)
                for path, message in error_messages(exc, data).items()
            )
            raise self._error() from exc
        if self.problems:
            raise self._error()
        _attach(workflow, self.locations, self.inline, "")
        return workflow

    def _error(self) -> ConfigError:
        count = len(self.problems)
        noun = "problem" if count == 1 else "problems"
        return ConfigError(
            f"cannot load workflow {self.file}: {count} {noun}", tuple(self.problems)
        )

    def _problem(self, path: str, message: str) -> None:
        self.problems.append(Problem(message, self._location(path), path))

    def _location(self, path: str) -> Location:
        while path:
            if path in self.locations:
                return self.locations[path]
            path = path.rpartition(".")[0]
        return self.locations.get("", Location(self.file))

    def _at(self, mark: yaml.Mark) -> Location:
        return Location(self.file, mark.line + 1, mark.column + 1)

    # -- reading YAML ------------------------------------------------------------------------

    def _read(self, text: str) -> dict[str, Any]:  # Any: raw YAML data
        try:
            node = yaml_reader.compose(text)  # the node tree keeps line numbers
            if node is not None:
                self._visit(node, "", set())
            data: object = yaml_reader.construct(node)
        except yaml.YAMLError as exc:
            problem = self._yaml_problem(exc)
            what = "over a limit" if isinstance(exc, yaml_reader.YamlLimitError) else "invalid YAML"
            raise ConfigError(f"cannot load workflow {self.file}: {what}", (problem,)) from exc
        workflow = mapping(data)
        if workflow is None:
            found = "an empty document" if data is None else f"a {type(data).__name__}"
            msg = f"a workflow file is a mapping with at least `name` and `tasks`, not {found}"
            problem = Problem(msg, self.locations.get("", Location(self.file, 1, 1)))
            raise ConfigError(f"cannot load workflow {self.file}: {msg}", (problem,))
        return workflow

    def _yaml_problem(self, exc: yaml.YAMLError) -> Problem:
        if not isinstance(exc, yaml.MarkedYAMLError):
            return Problem(f"invalid YAML: {exc}", Location(self.file))
        message = f"invalid YAML: {exc.problem or exc.context or 'cannot parse this'}"
        if isinstance(exc, yaml_reader.YamlLimitError):
            message = str(exc.problem)
        if exc.context and exc.problem:
            message += f" ({exc.context}"
            start, end = exc.context_mark, exc.problem_mark
            if start is not None and end is not None and start.line != end.line:
                message += f" at line {start.line + 1}"
            message += ")"
        mark = exc.problem_mark or exc.context_mark
        return Problem(message, self._at(mark) if mark is not None else Location(self.file))

    def _visit(self, node: yaml.Node, path: str, seen: set[int]) -> None:
        if id(node) in seen:  # an alias: its elements are located where the anchor is
            return
        seen.add(id(node))
        if self.locations.get(path) is None:
            self.locations[path] = self._at(node.start_mark)
        if isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                child = join(path, str(index))
                self.locations[child] = self._at(item.start_mark)
                self._visit(item, child, seen)
        elif isinstance(node, yaml.MappingNode):
            self._visit_mapping(node, path, seen)

    def _visit_mapping(self, node: yaml.MappingNode, path: str, seen: set[int]) -> None:
        first_line: dict[str, int | None] = {}
        is_agents = path == "agents" or path.endswith(".workflow.agents")
        for index, (key, value) in enumerate(node.value):
            if not isinstance(key, yaml.ScalarNode) or key.tag == _MERGE_TAG:
                continue
            name, at = str(key.value), self._at(key.start_mark)
            child = join(path, name)
            if name in first_line:
                msg = f"duplicate key {name!r} (first at line {first_line[name]}); remove one"
                self.problems.append(Problem(msg, at, child))
            first_line.setdefault(name, at.line)
            self.locations[child] = at
            self._visit(value, child, seen)
            if is_agents:  # pydantic reports agents by index, validation by name
                self._alias(child, join(path, str(index)))

    def _alias(self, path: str, alias: str) -> None:
        below = f"{path}."
        for key, location in list(self.locations.items()):
            if key == path:
                self.locations[alias] = location
            elif key.startswith(below):
                self.locations[alias + key[len(path) :]] = location

    # -- resolving references ----------------------------------------------------------------

    def _resolve_workflow(self, data: object, prefix: str) -> None:
        workflow = mapping(data)
        if workflow is None:
            return
        agents: object = workflow.get("agents")
        for name, spec in (mapping(agents) or {}).items():
            self._resolve_agent(spec, join(prefix, f"agents.{name}"), name)
        for index, spec in enumerate(items(agents)):
            name = str((mapping(spec) or {}).get("name", index))
            self._resolve_agent(spec, join(prefix, f"agents.{index}"), name)
        self._resolve_tasks(workflow.get("tasks"), join(prefix, "tasks"))

    def _resolve_agent(self, data: object, path: str, name: str) -> None:
        spec = mapping(data)
        if spec is None:
            return
        schema: object = spec.get("output_schema")
        fields = mapping(schema)
        if isinstance(schema, str):
            spec["output_schema"] = self._model_from_reference(schema, f"{path}.output_schema")
        elif fields is not None:
            spec["output_schema"] = self._model_from_fields(fields, f"{path}.output_schema", name)
        if isinstance(spec.get("tools"), list):
            tools = items(spec["tools"])
            made = (self._tool(item, f"{path}.tools.{i}") for i, item in enumerate(tools))
            spec["tools"] = [t for t in made if t is not None]

    def _import(self, reference: str, path: str) -> object | None:
        try:
            return resolve_reference(reference, base_dir=self.base_dir)
        except ConfigError as exc:
            self._problem(path, exc.message)
            return None

    def _model_from_reference(self, reference: str, path: str) -> type[BaseModel] | None:
        target = self._import(reference, path)
        if target is None:
            return None
        if not isinstance(target, type) or not issubclass(target, BaseModel):
            self._problem(path, f"{reference!r} is not a pydantic model class (BaseModel subclass)")
            return None
        return target

    def _model_from_fields(
        self, fields: dict[str, Any], path: str, name: str
    ) -> type[BaseModel] | None:  # Any: raw YAML data
        definitions: dict[str, Any] = {}  # Any: create_model takes (type, FieldInfo) pairs
        for field_name, spec in fields.items():
            try:
                definitions[str(field_name)] = field_definition(str(field_name), spec)
            except ValueError as exc:
                self._problem(f"{path}.{field_name}", str(exc))
        if len(definitions) < len(fields):
            return None
        try:
            return output_model(f"{name}_output", definitions)
        except ValueError as exc:
            self._problem(path, str(exc))
            return None

    def _tool(self, item: object, path: str) -> Tool | str | None:
        if isinstance(item, Tool):  # the same list reached twice through a YAML alias
            return item
        if isinstance(item, str) and item.startswith(MCP_PREFIX):
            return item  # a server's tools, bound when a run starts (``podium.toolserver``)
        if not isinstance(item, str):
            msg = "a tool is written as module:function (mytools:search) or mcp:SERVER/NAME"
            self._problem(path, msg)
            return None
        function = self._import(item, path)
        if function is None or isinstance(function, Tool):  # made with @tool(...) in Python
            return function
        if not callable(function):
            self._problem(path, f"{item!r} is not a function")
            return None
        try:
            return tool(function)
        except (TypeError, NameError) as exc:
            self._problem(path, f"cannot make a tool of {item!r}: {exc}")
            return None

    def _resolve_tasks(self, tasks: object, prefix: str) -> None:
        for index, task in enumerate(items(tasks)):
            self._resolve_task(task, f"{prefix}.{index}")

    def _resolve_task(self, data: object, path: str) -> None:
        task = mapping(data)
        if task is None:
            return
        sub: object = task.get("workflow")
        if isinstance(sub, str):
            task["workflow"] = self._include(sub, f"{path}.workflow")
        elif mapping(sub) is not None:
            self.inline.add(f"{path}.workflow")
            self._resolve_workflow(sub, f"{path}.workflow")
        self._resolve_task((mapping(task.get("map")) or {}).get("task"), f"{path}.map.task")
        loop_tasks = (mapping(task.get("loop")) or {}).get("tasks")
        self._resolve_tasks(loop_tasks, f"{path}.loop.tasks")

    def _include(self, relative: str, path: str) -> Workflow:
        target = self.base_dir / relative
        if target.resolve() in self.chain:
            files = [*self.chain[self.chain.index(target.resolve()) :], target.resolve()]
            chain = " -> ".join(str(f) for f in files)
            self._problem(path, f"workflow include cycle: {chain}")
            return _placeholder()
        try:
            return _load_file(target, self.chain)
        except ConfigError as exc:
            self._problem(path, f"sub-workflow {relative!r}: {exc.message}")
            self.problems.extend(exc.problems)
            return _placeholder()


def _attach(workflow: Workflow, locations: dict[str, Location], inline: set[str], at: str) -> None:
    """Give ``workflow`` (found at document path ``at``) the locations under ``at``."""
    below = f"{at}." if at else ""
    mine = {key[len(below) :]: loc for key, loc in locations.items() if key.startswith(below)}
    if at in locations:
        mine[""] = locations[at]
    workflow.with_locations(mine)
    for path, task in walk(workflow.tasks):
        sub_path = join(at, f"{path}.workflow")
        if task.workflow is not None and sub_path in inline:
            _attach(task.workflow, locations, inline, sub_path)


def _placeholder() -> Workflow:
    """Stands in for a sub-workflow that failed to load, so other problems are still found."""
    return Workflow(name="unresolved", tasks=(Task(id=TaskId("unresolved"), agent="unresolved"),))
