"""``podium run``: run a workflow file with a live view and print its output.

Exit codes: 0 the run succeeded, 1 it failed, 2 bad usage or an invalid workflow or input
(nothing ran), 3 it waits for approval, 4 it succeeded but some claims of its answer are not
supported by its sources, 130 interrupted with Ctrl-C (the run is recorded as cancelled;
its log is kept).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal

import typer
import yaml
from pydantic import JsonValue, TypeAdapter, ValidationError
from rich.console import Console
from rich.text import Text

import podium
from podium import (
    Budget,
    Model,
    PodiumError,
    RunState,
    Store,
    Workflow,
    default_store,
    load_yaml,
)
from podium.cli.live import LineView, LiveView, RunView
from podium.cli.options import (
    ApprovePlanOption,
    ConcurrencyOption,
    DocsOption,
    InputOption,
    JsonOption,
    MaxCallsOption,
    MaxCostOption,
    MaxTasksOption,
    MaxTimeOption,
    MaxTokensOption,
    ModelOption,
    PlanOnlyOption,
    QuietOption,
    StoreOption,
    TargetArgument,
    TeamOption,
)
from podium.cli.output import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_UNSUPPORTED,
    EXIT_USAGE,
    EXIT_WAITING,
    answer_renderable,
    error_console,
    final_verdicts,
    output_renderable,
    print_json,
    report_error,
    status_text,
    stdout_console,
    summary_line,
)
from podium.cli.worker import (
    AddressOption,
    EngineOption,
    QueueOption,
    engine_of,
    temporal_starter,
)

__all__ = [
    "RunOptions",
    "Start",
    "parse_budget",
    "parse_input",
    "run_command",
    "run_in_view",
    "run_workflow",
    "starter",
]

_JSON_VALUE: Final = TypeAdapter[JsonValue](JsonValue)
_YAML_NULLS: Final = frozenset({"null", "Null", "NULL", "~"})

Output = Literal["view", "json", "quiet"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RunOptions:
    """How ``podium run`` runs a workflow and what it prints."""

    store: str | Path
    inputs: dict[str, JsonValue] = field(default_factory=dict[str, JsonValue])
    model: str | Model | None = None
    max_concurrency: int | None = None
    budget: Budget | None = None
    """Limits for this run on top of the workflow's (``--max-cost`` and the like)."""
    output: Output = "view"
    """``view``: progress, output and a summary line; ``json``: one JSON object; ``quiet``:
    the output only."""


def run_command(
    target: TargetArgument,
    *,
    team: TeamOption = None,
    docs: DocsOption = None,
    plan_only: PlanOnlyOption = False,
    approve_plan: ApprovePlanOption = False,
    inputs: InputOption = None,
    model: ModelOption = None,
    store: StoreOption = None,
    max_concurrency: ConcurrencyOption = None,
    max_cost: MaxCostOption = None,
    max_tokens: MaxTokensOption = None,
    max_calls: MaxCallsOption = None,
    max_tasks: MaxTasksOption = None,
    max_time: MaxTimeOption = None,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
    engine: EngineOption = "local",
    temporal_address: AddressOption = "127.0.0.1:7233",
    task_queue: QueueOption = "podium",
) -> None:
    """Run a workflow file, or plan and run a goal; show the tasks live; print the output.

    A goal in plain words ("Write a short market report on e-bikes in Vietnam") is planned
    into tasks for the team (--team, podium.yaml, or the default team), run, and answered
    with claims that cite the passages of --docs they rest on, each claim verified.

    Every event is recorded in the store, so `podium show RUN` can replay the run later.
    Off a terminal (a pipe, CI) each task prints one line as it ends, instead of the live table.

    Exit status:

    - 0: the run succeeded
    - 1: the run failed (the failing tasks are printed on stderr)
    - 2: bad usage, an invalid workflow or input; nothing ran
    - 3: the run waits for a human to approve a task (`podium approvals`)
    - 4: the run succeeded, but some claims of its answer are not supported by its sources
    - 130: interrupted with Ctrl-C; the run is recorded as cancelled and its log kept
    """
    values = dict(parse_input(text) for text in inputs or ())
    budget = parse_budget(
        max_cost=max_cost,
        max_tokens=max_tokens,
        max_calls=max_calls,
        max_tasks=max_tasks,
        max_time=max_time,
    )
    options = RunOptions(
        store=store or default_store(),
        inputs=values,
        model=model,
        max_concurrency=max_concurrency,
        budget=budget,
        output="json" if json_output else "quiet" if quiet else "view",
    )
    path = Path(target)
    if _is_file(path) or (path.suffix in (".yaml", ".yml") and " " not in target):
        if team or docs or plan_only or approve_plan:
            msg = "--team, --docs, --plan-only and --approve-plan apply to a goal, not a file"
            if docs:
                msg += "; a workflow takes documents as an input: -i docs=DIR"
            raise typer.BadParameter(msg, param_hint="FILE|GOAL")
        if engine_of(engine) == "temporal" and _exists(path):
            where = podium.TemporalTarget(address=temporal_address, task_queue=task_queue)
            raise typer.Exit(run_in_view(options, temporal_starter(path, options, where)))
        raise typer.Exit(run_workflow(path, options))
    if target.strip() and _is_dir(path):  # "" would be the current directory
        msg = (
            f"{target!r} is a directory: give a workflow file (podium run {target}/flow.yaml), "
            f'or a goal in plain words with the directory as its documents (podium run "GOAL" '
            f"--docs {target})"
        )
        raise typer.BadParameter(msg, param_hint="FILE|GOAL")
    if plan_only and approve_plan:  # the plan-only workflow lives in memory: none to approve
        msg = (
            "--plan-only and --approve-plan do not go together: --plan-only prints the plan "
            "as a workflow file to check and edit, then `podium run FILE` runs it"
        )
        raise typer.BadParameter(msg, param_hint="'--approve-plan'")
    from podium.cli.goal import GoalOptions, run_goal  # goal mode builds on this module

    chosen = GoalOptions(team=team, docs=docs, plan_only=plan_only, approve_plan=approve_plan)
    raise typer.Exit(run_goal(target, options, chosen))


def parse_budget(
    *,
    max_cost: float | None,
    max_tokens: int | None,
    max_calls: int | None,
    max_tasks: int | None,
    max_time: str | None,
) -> Budget | None:
    """The limits the ``--max-*`` options give; None when none is given.

    Raises:
        typer.BadParameter: ``--max-time`` is not a duration.
    """
    limits = {
        "max_cost": max_cost,
        "max_tokens": max_tokens,
        "max_model_calls": max_calls,
        "max_tasks": max_tasks,
        "max_wall_time": max_time,
    }
    given = {k: v for k, v in limits.items() if v is not None}
    try:
        return Budget.model_validate(given) if given else None
    except ValidationError as exc:
        raise typer.BadParameter(_errors(exc), param_hint="'--max-time'") from None


def parse_input(text: str) -> tuple[str, JsonValue]:
    """``KEY=VALUE`` as the key and VALUE read as YAML (text when it is not YAML).

    Raises:
        typer.BadParameter: there is no ``=`` or no key.
    """
    key, equals, raw = text.partition("=")
    key = key.strip()
    if not equals or not key:
        msg = f"{text!r}: write KEY=VALUE, e.g. -i topic=cats or -i docs='[a, b]'"
        raise typer.BadParameter(msg, param_hint="'--input' / '-i'")
    return key, _yaml_value(raw)


def _yaml_value(raw: str) -> JsonValue:
    try:
        value: object = load_yaml(raw)
    except yaml.YAMLError:
        return raw
    if value is None and raw.strip() not in _YAML_NULLS:
        return raw  # empty, or only a comment such as "#1": the user meant the text
    try:
        return _JSON_VALUE.validate_python(value, strict=True)
    except ValidationError:
        return raw  # e.g. a YAML date: keep the text the user typed


def _is_file(path: Path) -> bool:
    """Whether ``path`` names a file; False when it cannot (a goal too long for a file name)."""
    try:
        return path.is_file()
    except OSError:  # ENAMETOOLONG and the like, which is_file() does not swallow
        return False


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:  # as in _is_file
        return False


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except OSError:  # as in _is_file
        return False


def _errors(exc: ValidationError) -> str:
    return "; ".join(str(e["msg"]) for e in exc.errors())


def run_workflow(source: Path | Workflow, options: RunOptions) -> int:
    """Run a workflow (a file or an object), print as ``options`` asks; return the exit code."""
    if isinstance(source, Path) and not _exists(source):
        error_console().print(
            Text(
                f"no workflow file {str(source)!r} (to run a goal, write it in plain words: "
                'podium run "Compare e-bike makers in Vietnam")',
                style="red",
            )
        )
        return EXIT_USAGE
    return run_in_view(options, starter(source, options))


Start = Callable[[Store, RunView], Awaitable[object]]
"""Starts (or resumes) a run on a store, reporting to a view."""


def starter(
    workflow: Workflow | Path,
    options: RunOptions,
    *,
    inputs: dict[str, JsonValue] | None = None,
    goal: str | None = None,
) -> Start:
    """Starts ``workflow`` as ``options`` say (with ``inputs`` instead of theirs, if given)."""

    def start(store: Store, view: RunView) -> Awaitable[object]:
        return podium.arun(
            workflow,
            options.inputs if inputs is None else inputs,
            goal=goal,
            model=options.model,
            store=store,
            on_event=view.apply,
            on_token=view.token,
            max_concurrency=options.max_concurrency,
            budget=options.budget,
        )

    return start


Finish = Callable[[RunState], int | None]
"""Prints a finished run's outcome and returns the exit code (None: print it as usual)."""


def run_in_view(options: RunOptions, start: Start, *, finish: Finish | None = None) -> int:
    """Run ``start`` with a view as ``options`` asks, print the outcome; return the exit code.

    ``finish`` may print the outcome instead (it returns the exit code, or None to leave it to
    the default printing).
    """
    console = stdout_console()
    view = _view(options.output, console)
    try:
        failure = asyncio.run(_execute(options, view, start))
    except PodiumError as error:
        return report_error(error)
    except KeyboardInterrupt:
        return _cancelled(view.state)
    if failure is not None:
        return report_error(failure)
    assert view.state is not None, "a finished run has emitted events"
    code = finish(view.state) if finish is not None else None
    return code if code is not None else _finish(view.state, options.output, console)


def _view(output: Output, console: Console) -> RunView:
    if output != "view":
        return RunView()
    return LiveView(console) if console.is_terminal else LineView(console)


async def _execute(options: RunOptions, view: RunView, start: Start) -> PodiumError | None:
    """Run with ``view`` subscribed (its state is the result); an expected failure is returned."""
    async with podium.opened_store(options.store) as store, asyncio.TaskGroup() as group:
        with view:
            ticker = group.create_task(view.tick())
            try:
                await start(store, view)
            except PodiumError as error:
                return error
            finally:
                ticker.cancel()
    return None


def _finish(state: RunState, output: Output, console: Console) -> int:
    if output == "json":
        print_json(_json_result(state))
    elif state.output is not None:
        if output == "view":
            console.print()
        renderable = answer_renderable(state) or output_renderable(
            state.output, is_terminal=console.is_terminal
        )
        console.print(renderable, soft_wrap=not console.is_terminal)  # a pipe gets the text as is
    if output == "view":
        console.print(summary_line(state), soft_wrap=True)
    if state.status == "succeeded":
        return EXIT_UNSUPPORTED if state.verification in ("partial", "unverified") else 0
    if state.status == "waiting":
        message = f"run {state.run_id} is waiting ({state.error})"  # for approvals, signals
        error_console().print(Text(message, style="yellow"))
        return EXIT_WAITING
    _print_failure(state)
    return EXIT_FAILED


def _json_result(state: RunState) -> dict[str, JsonValue]:
    tasks: dict[str, JsonValue] = {
        task.id: {
            "status": task.status,
            "agent": task.agent,
            "tokens": task.tokens,
            "error": task.error,
        }
        for task in state.tasks.values()
    }
    result: dict[str, JsonValue] = {
        "run_id": state.run_id,
        "status": state.status,
        "output": state.output,
        "error": state.error,
        "tasks": tasks,
    }
    return result | _json_verification(state)


def _json_verification(state: RunState) -> dict[str, JsonValue]:
    """The final verification's verdicts, the passages they cite and the hallucination rate
    (over every claim checked, as ``podium show`` gives it); nothing when no claim was checked."""
    verdicts = final_verdicts(state)
    skipped: list[JsonValue] = [{"document": d, "reason": r} for d, r in state.skipped.items()]
    if not verdicts:
        return {"skipped": skipped} if skipped else {}
    claims: list[JsonValue] = [
        {"claim": v.claim, "verdict": v.verdict, "sources": list(v.sources), "evidence": v.evidence}
        for v in verdicts
    ]
    cited = dict.fromkeys(s for v in verdicts for s in v.sources if s in state.sources)
    sources: dict[str, JsonValue] = {
        s: {key: state.sources[s].get(key) for key in ("document", "title", "text")} for s in cited
    }
    return {
        "claims": claims,
        "sources": sources,
        "verification": state.verification,
        "hallucination_rate": state.final_hallucination_rate,
        "hallucination_rate_all_rounds": state.hallucination_rate,
        "skipped": skipped,
    }


def _print_failure(state: RunState) -> None:
    failed = [t for t in state.tasks.values() if t.status == "failed"]
    message = Text(f"run {state.run_id} {state.status}", style="bold red")
    if not failed and state.error:
        message.append(f": {state.error}")
    for task in failed:
        message.append("\n  ")
        message.append_text(status_text("failed", with_name=False))
        message.append(f" {task.id} ({task.agent or 'composite'}): {task.error}")
    message.append(f"\ndetails: podium show {state.run_id}", style="default")
    error_console().print(message)


def _cancelled(state: RunState | None) -> int:
    if state is None:
        message = "cancelled before the run started; nothing was recorded"
    else:
        message = f"run {state.run_id} cancelled; its log is kept: podium show {state.run_id}"
    error_console().print(Text(message, style="yellow"))
    return EXIT_INTERRUPTED
