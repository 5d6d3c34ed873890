"""The report ``podium show`` prints for one run, rendered from its ``RunState``.

Sections: a header (workflow, status, times, tokens, cost, error); the task graph as a tree
(composite tasks over their children, map items under their map); the plans of plan tasks
(each revision with its steps, repairs and rejections); a table of tasks; the model and tool
calls; how many sources were retrieved; the verifiers' verdicts on claims with the
hallucination rate; the context writes with their provenance; the engine's notes; the final
output.

A large run (thousands of tasks) is summarised instead, unless asked for in full: a table of
10,000 tasks is neither readable nor quick to lay out. The summary counts tasks by status and
lists those to look at (failed, still running or waiting, then the slowest), counts the calls
and context writes, and shows the first notes and the output.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Sequence
from datetime import timedelta
from typing import Final

from rich import box
from rich.console import Console, Group, JustifyMethod, RenderableType
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from podium import PlanState, RunState, TaskId, TaskState, tasks_in_graph_order
from podium.cli.output import (
    format_cost,
    format_duration,
    format_time,
    format_tokens,
    output_renderable,
    preview,
    status_text,
    task_children,
    task_rows,
)
from podium.event import ClaimVerified, ContextWritten, ModelCalled, Verdict

__all__ = ["MAX_DETAILED", "run_report"]

_PREVIEW: Final = 60
_RESULT_WIDTH: Final = 32
"""Room the tasks table needs for its output/error column; with less, results go below it."""


def run_report(state: RunState, console: Console, *, is_full: bool = False) -> RenderableType:
    """Everything recorded about a run, section by section, laid out for ``console``.

    A large run (more than ``MAX_DETAILED`` tasks, calls or writes) is summarised unless
    ``is_full``: tasks counted by status with the ones to look at (not succeeded, then the
    slowest), calls and writes counted, the first notes; its graph is not drawn.
    """
    if not is_full and _is_large(state):
        return Group(*_summary_sections(state, console))
    labels = _agent_labels(state)
    sections: list[RenderableType] = [_header(state), _title("Graph"), _graph(state, labels)]
    if state.plans:
        sections += [_title("Plan"), *map(_plan, state.plans)]
    sections += [_title("Tasks"), *_task_sections(task_rows(state), labels, console)]
    if state.calls:
        sections += [_title("Model and tool calls"), _calls(state)]
    sections += _verification_sections(state)
    sections += [
        _title("Context"),
        _writes(state) if state.writes else Text("no writes", style="dim"),
    ]
    if state.notes:
        sections += [_title("Notes"), Text("\n".join(f"- {n}" for n in state.notes))]
    return Group(*sections, *_output_sections(state, console))


MAX_DETAILED: Final = 200
"""A run with more tasks, calls or context writes than this is summarised by ``podium show``."""
_SLOWEST: Final = 10
_NOTES: Final = 20


def _is_large(state: RunState) -> bool:
    return max(len(state.tasks), len(state.calls), len(state.writes)) > MAX_DETAILED


def _summary_sections(state: RunState, console: Console) -> list[RenderableType]:
    """The report of a large run: what ``podium show --all`` prints, summarised."""
    labels = _agent_labels(state)
    sections: list[RenderableType] = [_header(state), _title("Tasks"), _task_counts(state)]
    if state.plans:
        sections += [_title("Plan"), *map(_plan, state.plans)]
    notable = _notable_tasks(state)
    if notable:
        sections += _task_sections([(t, 0) for t in notable], labels, console)
    sections += [_title("Model and tool calls"), _call_counts(state)]
    sections += _verification_sections(state)
    keys = len({w.key for w in state.writes})
    writes = f"{_count(len(state.writes), 'write')} to {_count(keys, 'key')}"
    sections += [_title("Context"), Text(writes)]
    if state.notes:
        shown = [f"- {n}" for n in state.notes[:_NOTES]]
        if len(state.notes) > _NOTES:
            shown.append(f"... and {len(state.notes) - _NOTES} more")
        sections += [_title("Notes"), Text("\n".join(shown))]
    hint = f"\na large run, summarised: podium show --all {state.run_id} prints every task"
    return [*sections, *_output_sections(state, console), Text(hint, style="dim")]


def _task_counts(state: RunState) -> Text:
    """``10000 tasks: 9990 succeeded, 6 failed, 4 skipped``."""
    counts = Counter(t.status for t in state.tasks.values())
    text = Text(f"{_count(len(state.tasks), 'task')}: ")
    for index, (status, number) in enumerate(counts.most_common()):
        if index:
            text.append(", ")
        text.append_text(status_text(status, with_name=False))
        text.append(f" {number} {status}")
    return text


def _notable_tasks(state: RunState) -> list[TaskState]:
    """The tasks worth a look in a large run: every one not succeeded (a run rarely has many;
    at most ``MAX_DETAILED``), then the slowest that succeeded."""
    others = [t for t in tasks_in_graph_order(state) if t.status != "succeeded"]
    timed = [t for t in state.tasks.values() if t.status == "succeeded" and t.duration]
    slowest = heapq.nlargest(_SLOWEST, timed, key=lambda t: t.duration or timedelta(0))
    return others[:MAX_DETAILED] + slowest


def _call_counts(state: RunState) -> Text:
    models = [c for c in state.calls if isinstance(c, ModelCalled)]
    tools = len(state.calls) - len(models)
    failed = sum(1 for c in state.calls if not isinstance(c, ModelCalled) and c.error)
    tokens = f"{format_tokens(state.input_tokens)} in, {format_tokens(state.output_tokens)} out"
    text = Text(f"{_count(len(models), 'model call')} ({tokens}, {format_cost(state.cost)})")
    text.append(f", {_count(tools, 'tool call')}")
    if failed:
        text.append(f" ({failed} failed)", style="red")
    return text


def _verification_sections(state: RunState) -> list[RenderableType]:
    sections: list[RenderableType] = []
    if state.sources:
        sections += [_title("Sources"), _sources(state)]
    if state.claims:
        sections += [_title("Claims"), _claims(state), _hallucination(state)]
    return sections


def _output_sections(state: RunState, console: Console) -> list[RenderableType]:
    if state.output is None:
        return []
    return [_title("Output"), output_renderable(state.output, is_terminal=console.is_terminal)]


def _agent_labels(state: RunState) -> dict[TaskId, str]:
    """Each task's agent, or its kind for a composite task (``agent_label``, for every task
    at once: looking each up in the graph would take time quadratic in the tasks)."""
    kinds = {n.id: n.kind for n in state.graph}
    return {t.id: t.agent or kinds.get(t.id, "") for t in state.tasks.values()}


def _title(name: str) -> Text:
    return Text(f"\n{name}", style="bold underline")


def _header(state: RunState) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    grid.add_row("run", Text(state.run_id))
    if state.goal:
        grid.add_row("goal", Text(state.goal))
    grid.add_row("workflow", Text(state.workflow or "-"))
    grid.add_row("status", status_text(state.status))
    grid.add_row("started", format_time(state.started_at))
    grid.add_row("duration", format_duration(state.duration))
    tokens = state.input_tokens + state.output_tokens
    grid.add_row(
        "tokens",
        f"{format_tokens(tokens)} ({format_tokens(state.input_tokens)} in, "
        f"{format_tokens(state.output_tokens)} out)",
    )
    grid.add_row("cost", format_cost(state.cost))
    if state.throttles:
        limits = "\n".join(t.describe() for t in state.throttles.values())
        grid.add_row("throttled", Text(limits, style="yellow"))
    if state.error:
        grid.add_row("error", Text(state.error, style="red"))
    return grid


def _graph(state: RunState, labels: dict[TaskId, str]) -> Tree:
    needs = {n.id: n.needs for n in state.graph}
    children = task_children(state)
    tree = Tree(Text(state.workflow or "run", style="bold"), guide_style="dim")
    pending: list[tuple[Tree, TaskState]] = [(tree, t) for t in reversed(children.get(None, []))]
    while pending:
        parent, task = pending.pop()
        branch = parent.add(_node_label(task, labels[task.id], needs.get(task.id, ())))
        pending.extend((branch, t) for t in reversed(children.get(task.id, [])))
    return tree


def _node_label(task: TaskState, agent: str, needs: tuple[str, ...]) -> Text:
    label = status_text(task.status, with_name=False)
    label.append(f" {task.id}", style="bold")
    label.append(f"  {agent}", style="cyan")
    label.append(f"  {task.status}")
    if needs:
        label.append(f"  needs {', '.join(needs)}", style="dim")
    if task.iteration:
        label.append(f"  iteration {task.iteration}", style="dim")
    return label


def _task_sections(
    rows: Sequence[tuple[TaskState, int]], labels: dict[TaskId, str], console: Console
) -> list[RenderableType]:
    """The tasks table, with results as its last column if they fit, else below it."""
    wide = _tasks(rows, labels, is_wide=True)
    metrics = Measurement.get(console, console.options, wide)
    if console.width - metrics.maximum >= _RESULT_WIDTH:
        return [_tasks(rows, labels, is_wide=True, with_results=True)]
    return [_tasks(rows, labels, is_wide=False), _results(rows)]


def _tasks(
    rows: Sequence[tuple[TaskState, int]],
    labels: dict[TaskId, str],
    *,
    is_wide: bool,
    with_results: bool = False,
) -> Table:
    table = _table()
    for name in ("task", "agent", "status", "try", "started", "took"):
        table.add_column(name, no_wrap=True)
    for name in ("calls", "tokens", "cost"):
        table.add_column(name, justify="right", no_wrap=True)
    if with_results:
        table.add_column("output / error", overflow="fold", ratio=1)
    for task, depth in rows:
        cells: list[RenderableType] = [
            Text("  " * depth + task.id),
            Text(labels[task.id]),
            status_text(task.status, with_name=is_wide),
            f"{task.attempts}/{task.iteration}" if task.iteration else str(task.attempts),
            format_time(task.started_at, with_date=False),
            format_duration(task.duration),
            str(task.model_calls),
            format_tokens(task.tokens),
            format_cost(task.cost),
        ]
        table.add_row(*cells, *([_result(task)] if with_results else []))
    return table


def _results(rows: Sequence[tuple[TaskState, int]]) -> Text:
    lines = Text("\n")
    for task, _ in rows:
        result = _result(task)
        if result.plain:
            lines.append(f"{task.id}: ", style="bold")
            lines.append_text(result)
            lines.append("\n")
    lines.rstrip()
    return lines


def _table() -> Table:
    return Table(
        box=box.SIMPLE_HEAD,
        header_style="bold",
        show_edge=False,
        pad_edge=False,
        padding=(0, 1, 0, 0),
    )


def _result(task: TaskState) -> Text:
    if task.status == "failed":
        return Text(task.error or "failed", style="red")
    if task.status in ("skipped", "cancelled"):
        return Text(task.error or task.status, style="dim")
    if task.output is None:
        return Text("")
    return Text(preview(task.output, _PREVIEW))


def _writes(state: RunState) -> Table:
    table = _table()
    table.add_column("key", no_wrap=True)
    table.add_column("version", justify="right", no_wrap=True)
    table.add_column("written by", no_wrap=True)
    table.add_column("at", no_wrap=True)
    table.add_column("value", overflow="fold", min_width=24, ratio=1)
    for write in state.writes:
        table.add_row(
            Text(write.key),
            f"v{write.version}",
            _writer(write),
            format_time(write.at, with_date=False),
            Text(preview(write.value, _PREVIEW)),
        )
    return table


def _calls(state: RunState) -> Table:
    table = _table()
    for name, justify in _CALL_COLUMNS:
        table.add_column(name, justify=justify, no_wrap=name != "result")
    for call in state.calls:
        took = format_duration(timedelta(seconds=call.latency_s))
        if isinstance(call, ModelCalled):
            tokens = (
                f"{format_tokens(call.input_tokens)} in, {format_tokens(call.output_tokens)} out"
            )
            table.add_row(call.task_id, call.model, tokens, took, format_cost(call.cost), "")
        else:
            result = (
                Text(f"error: {call.error}", style="red")
                if call.error
                else Text(preview(call.result, _PREVIEW))
            )
            table.add_row(call.task_id, f"tool {call.tool}", "", took, "", result)
    return table


_CALL_COLUMNS: Final[tuple[tuple[str, JustifyMethod], ...]] = (
    ("task", "left"),
    ("model / tool", "left"),
    ("tokens", "right"),
    ("took", "right"),
    ("cost", "right"),
    ("result", "left"),
)


def _writer(write: ContextWritten) -> Text:
    if write.task_id is None:
        return Text("input", style="dim")
    if write.agent is None:
        return Text(f"task {write.task_id}")
    return Text(f"{write.agent} · task {write.task_id}")


def _plan(plan: PlanState) -> Tree:
    """One revision of a plan: why it was made, its rejections and repairs, its steps."""
    label = Text(plan.task_id, style="bold")
    label.append(f"  revision {plan.revision}")
    if plan.kept:
        label.append(f"  keeps {', '.join(plan.kept)}", style="dim")
    if not plan.is_created:
        label.append("  no usable plan", style="red")
    if plan.reason:
        label.append(f"  {plan.reason}", style="italic")
    tree = Tree(label, guide_style="dim")
    for rejected in plan.rejections:
        problems = "; ".join(rejected.problems)
        tree.add(Text(f"rejected, ask {rejected.ask}: {problems}", style="yellow"))
    for repair in plan.repairs:
        tree.add(Text(f"repaired: {repair}", style="dim"))
    for step in plan.steps:
        line = Text(step.id, style="bold")
        line.append(f"  {step.agent or step.kind}", style="cyan")
        if step.needs:
            line.append(f"  needs {', '.join(step.needs)}", style="dim")
        tree.add(line)
    return tree


def _sources(state: RunState) -> Text:
    documents = {str(p.get("document")) for p in state.sources.values()}
    cited = {s for c in state.claims for s in c.sources} & state.sources.keys()
    text = Text(f"{_count(len(state.sources), 'passage')} retrieved from ")
    text.append(_count(len(documents), "document"))
    if state.claims:
        text.append(f"; {len(cited)} cited by the claims checked")
    for document, reason in state.skipped.items():
        text.append(f"\nskipped {document} (unreadable: {reason})", style="yellow")
    return text


def _claims(state: RunState) -> Table:
    table = _table()
    table.add_column("task", no_wrap=True)
    table.add_column("claim", overflow="fold", ratio=2)
    table.add_column("verdict", no_wrap=True)
    table.add_column("sources", overflow="fold", ratio=1)
    table.add_column("evidence", overflow="fold", ratio=2)
    for claim in state.claims:
        table.add_row(
            Text(claim.task_id),
            Text(claim.claim),
            _verdict(claim.verdict),
            Text(", ".join(claim.sources) or "-"),
            Text(claim.evidence, style="dim"),
        )
    return table


_VERDICT_STYLES: Final[dict[Verdict, str]] = {
    "supported": "green",
    "unsupported": "yellow",
    "contradicted": "bold red",
}


def _verdict(verdict: Verdict) -> Text:
    return Text(verdict, style=_VERDICT_STYLES[verdict])


def _hallucination(state: RunState) -> Text:
    """``hallucination rate 37.5%: 3 of 8 claims unsupported or contradicted``."""
    rate = state.hallucination_rate
    bad = sum(1 for c in state.claims if not _is_supported(c))
    text = Text("\nhallucination rate ", style="bold")
    text.append(f"{rate:.1%}" if rate is not None else "n/a", style="red" if bad else "green")
    text.append(f": {bad} of {_count(len(state.claims), 'claim')} unsupported or contradicted")
    return text


def _is_supported(claim: ClaimVerified) -> bool:
    return claim.verdict == "supported"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")
