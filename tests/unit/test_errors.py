"""Errors: one root, picklable plain data, messages that say where."""

from __future__ import annotations

import inspect
import pickle
from datetime import timedelta

import pytest

from podium import errors
from podium.errors import (
    AppendConflictError,
    ApprovalDeniedError,
    ApprovalRequired,
    CircuitOpenError,
    ConfigError,
    ContextAccessError,
    Location,
    ModelError,
    OutputValidationError,
    PlanError,
    PodiumError,
    Problem,
    RoutingError,
    RunNotFoundError,
    RunStateError,
    StoreError,
    TaskError,
    ToolError,
    WorkflowValidationError,
)

PROBLEMS = (
    Problem("unknown agent 'writr'", Location("flow.yaml", 12, 5), "tasks.draft.agent"),
    Problem("cycle: a -> b -> a", Location("flow.yaml", 3), "tasks"),
    Problem("missing input 'topic'", Location("flow.yaml")),
    Problem("no tasks", path="tasks"),
    Problem("empty file"),
)

SIMPLE_ERRORS: list[PodiumError] = [
    PodiumError("root"),
    PlanError("no valid plan after 3 repairs"),
    RoutingError("no agent can take task 'draft'"),
    ContextAccessError("agent 'writer' may not write context key 'review'"),
    StoreError("database is locked"),
    AppendConflictError("run r1: expected seq 7, got 6"),
    ApprovalRequired("task 'publish' needs approval"),
]

TASK_ERRORS: list[TaskError] = [
    TaskError("attempt failed"),
    ModelError("rate limited", task_id="draft", attempt=2, retryable=True,
               retry_after=timedelta(seconds=30)),
    OutputValidationError("score: field required", task_id="review", attempt=3),
    ToolError("tool 'fetch' did not finish within 5s", task_id="extract[1]", retryable=True),
    ApprovalDeniedError("denied by ana: too long", task_id="send"),
    CircuitOpenError("circuit model:local is open", target="model:local", task_id="draft",
                     retry_after=timedelta(seconds=12)),
]  # fmt: skip

CONFIG_ERRORS: list[ConfigError] = [
    ConfigError("bad config"),
    ConfigError("workflow flow.yaml is invalid", PROBLEMS),
    WorkflowValidationError("workflow 'report' has 5 problems", PROBLEMS),
    RunNotFoundError("no run matches 'zzz'; `podium runs` lists the recent ones"),
    RunStateError("task 'send' of run r1 is not waiting for approval (waiting: none)"),
]


def _exception_classes() -> set[type[BaseException]]:
    return {
        obj
        for name in errors.__all__
        if inspect.isclass(obj := getattr(errors, name)) and issubclass(obj, BaseException)
    }


def test_every_error_derives_from_podium_error() -> None:
    assert all(issubclass(cls, PodiumError) for cls in _exception_classes())


def test_the_pickling_tests_cover_every_error_class() -> None:
    covered = {type(e) for e in [*SIMPLE_ERRORS, *TASK_ERRORS, *CONFIG_ERRORS]}
    assert covered == _exception_classes()


@pytest.mark.parametrize("error", SIMPLE_ERRORS, ids=lambda e: type(e).__name__)
def test_plain_errors_pickle_with_their_message(error: PodiumError) -> None:
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert copy.args == error.args
    assert str(copy) == str(error)


@pytest.mark.parametrize("error", TASK_ERRORS, ids=lambda e: type(e).__name__)
def test_task_errors_pickle_with_their_attributes(error: TaskError) -> None:
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert (copy.message, copy.task_id, copy.attempt, copy.retryable, copy.retry_after) == (
        error.message,
        error.task_id,
        error.attempt,
        error.retryable,
        error.retry_after,
    )
    assert str(copy) == str(error)
    assert copy.args == error.args


def test_a_pickled_task_error_can_be_raised_and_caught_as_its_type() -> None:
    copy = pickle.loads(pickle.dumps(TASK_ERRORS[1], protocol=pickle.HIGHEST_PROTOCOL))
    with pytest.raises(ModelError, match=r"^task 'draft': rate limited$") as caught:
        raise copy
    assert caught.value.retry_after == timedelta(seconds=30)


@pytest.mark.parametrize("error", CONFIG_ERRORS, ids=lambda e: type(e).__name__)
def test_config_errors_pickle_with_their_problems(error: ConfigError) -> None:
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert (copy.message, copy.problems) == (error.message, error.problems)
    assert str(copy) == str(error)


def test_task_error_defaults() -> None:
    error = TaskError("failed")
    assert (error.task_id, error.attempt, error.retryable, error.retry_after) == (
        None,
        1,
        False,
        None,
    )
    assert str(error) == "failed"


def test_a_task_error_names_its_task() -> None:
    assert str(ToolError("fetch timed out", task_id="extract[1]")) == (
        "task 'extract[1]': fetch timed out"
    )


def test_task_error_subclasses_are_task_errors() -> None:
    for cls in (ModelError, OutputValidationError, ToolError, ApprovalDeniedError):
        assert issubclass(cls, TaskError)
    assert issubclass(WorkflowValidationError, ConfigError)


def test_config_error_lists_its_problems_with_locations() -> None:
    error = WorkflowValidationError("workflow 'report' has 5 problems", PROBLEMS)
    assert str(error) == (
        "workflow 'report' has 5 problems\n"
        "  - flow.yaml:12:5 (tasks.draft.agent): unknown agent 'writr'\n"
        "  - flow.yaml:3 (tasks): cycle: a -> b -> a\n"
        "  - flow.yaml: missing input 'topic'\n"
        "  - tasks: no tasks\n"
        "  - empty file"
    )


def test_config_error_without_problems_is_its_message() -> None:
    assert str(ConfigError("no workflow given")) == "no workflow given"


def test_a_config_error_is_raised_and_matched_by_a_problem_location() -> None:
    with pytest.raises(ConfigError, match=r"flow\.yaml:12:5 \(tasks\.draft\.agent\)"):
        raise ConfigError("invalid", PROBLEMS[:1])


@pytest.mark.parametrize(
    ("location", "text"),
    [
        (Location("a.yaml"), "a.yaml"),
        (Location("a.yaml", 4), "a.yaml:4"),
        (Location("a.yaml", 4, 9), "a.yaml:4:9"),
        (Location("a.yaml", None, 9), "a.yaml"),
    ],
)
def test_a_location_reads_file_line_col(location: Location, text: str) -> None:
    assert str(location) == text


def test_locations_and_problems_pickle() -> None:
    assert pickle.loads(pickle.dumps(PROBLEMS)) == PROBLEMS
