"""Shared rendering for the CLI: consoles, durations, tokens, costs, previews, statuses, JSON.

Everything user text passes through ``rich.text.Text`` (never markup strings), so ids such as
``summarize[0]`` and error messages print exactly as written.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from collections import Counter
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, TypeVar

from pydantic import JsonValue
from pydantic_core import to_json, to_jsonable_python
from rich.console import Console, Group, RenderableType
from rich.json import JSON
from rich.markdown import Markdown
from rich.text import Text

from podium import (
    ConfigError,
    PodiumError,
    RunState,
    TaskId,
    TaskState,
    read_claim,
    tasks_in_graph_order,
)
from podium.event import ClaimVerified

__all__ = [
    "answer_renderable",
    "agent_label",
    "error_console",
    "final_verdicts",
    "format_cost",
    "format_duration",
    "format_time",
    "format_tokens",
    "output_renderable",
    "preview",
    "print_json",
    "report_error",
    "run_coroutine",
    "status_text",
    "stdout_console",
    "summary_line",
    "task_children",
    "task_rows",
]

T = TypeVar("T")

EXIT_FAILED: Final = 1
EXIT_WAITING: Final = 3
EXIT_UNSUPPORTED: Final = 4
"""The run succeeded but some claims of its answer are not supported by its sources."""
"""The run waits for a human decision on a task."""
EXIT_USAGE: Final = 2
EXIT_INTERRUPTED: Final = 130

_PIPE_WIDTH: Final = 120
"""Width off a terminal (Rich's default of 80 wraps the tables of ``podium show``)."""


@dataclass(frozen=True, slots=True)
class _Look:
    symbol: str
    style: str


_LOOKS: Final[Mapping[str, _Look]] = {
    "pending": _Look("·", "dim"),
    "running": _Look("▶", "bold yellow"),
    "succeeded": _Look("✓", "green"),
    "failed": _Look("✗", "bold red"),
    "skipped": _Look("↷", "dim"),
    "cancelled": _Look("⊘", "yellow"),
    "interrupted": _Look("⊘", "yellow"),
    "waiting": _Look("⏸", "magenta"),
}
_MAP_ITEM: Final = re.compile(r"^(?P<parent>.+)\[\d+\]$")


def run_coroutine(coroutine: Coroutine[Any, Any, T]) -> T:  # Any: what a coroutine sends
    """``asyncio.run(coroutine)``, without the time CPython 3.11 spends on a large result.

    When ``asyncio.run`` restores the SIGINT handler it formats the repr of its main task,
    result included (python/cpython#112559): for the state of a 10,000-task run that is about a
    second. So the main task returns nothing and the result is handed over beside it.
    """
    results: list[T] = []

    async def main() -> None:
        results.append(await coroutine)

    asyncio.run(main())
    return results[0]


def stdout_console() -> Console:
    """The console for results; wide enough for tables when it is not a terminal."""
    console = Console(highlight=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(highlight=False, width=_PIPE_WIDTH)
    return console


def error_console() -> Console:
    """The console for errors and notices (stderr)."""
    return Console(stderr=True, highlight=False, soft_wrap=True)


def report_error(error: PodiumError) -> int:
    """Print ``error`` (with its listed problems) to stderr; return the exit code for it."""
    error_console().print(Text(str(error), style="red"))
    return EXIT_USAGE if isinstance(error, ConfigError) else EXIT_FAILED


def status_text(status: str, *, with_name: bool = True) -> Text:
    """A status as its symbol (and name) in its colour."""
    look = _LOOKS.get(status, _Look("?", ""))
    return Text(f"{look.symbol} {status}" if with_name else look.symbol, style=look.style)


def format_duration(duration: timedelta | None) -> str:
    """``0.42s``, ``3.4s``, ``2m05s``, ``1h02m``; ``-`` when unknown."""
    if duration is None:
        return "-"
    seconds = max(duration.total_seconds(), 0.0)
    if seconds < 1:
        return f"{seconds:.2f}s"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def format_tokens(tokens: int) -> str:
    """Tokens with thousands separators."""
    return f"{tokens:,}"


def format_cost(cost: float) -> str:
    """US dollars to the hundredth of a cent."""
    return f"${cost:.4f}"


def format_time(at: datetime | None, *, with_date: bool = True) -> str:
    """A timestamp in the local time zone; ``-`` when unknown."""
    if at is None:
        return "-"
    return at.astimezone().strftime("%Y-%m-%d %H:%M:%S" if with_date else "%H:%M:%S")


def preview(value: JsonValue, width: int = 60) -> str:
    """``value`` on one line, cut to ``width`` characters."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def jsonable(value: object) -> JsonValue:
    """``value`` (dataclasses, datetimes included) as plain JSON data."""
    return to_jsonable_python(value, inf_nan_mode="null")  # JSON has no NaN or infinity


def print_json(value: object) -> None:
    """Write ``value`` as indented JSON to stdout, bypassing Rich (nothing is wrapped).

    pydantic-core writes it (dataclasses and datetimes included) in one pass: ``json.dumps``
    with an indent encodes in Python, seconds for the state of a 10,000-task run.
    """
    text = to_json(value, indent=2, inf_nan_mode="null")  # JSON has no NaN or infinity
    sys.stdout.write(text.decode() + "\n")
    sys.stdout.flush()


def output_renderable(value: JsonValue, *, is_terminal: bool) -> RenderableType:
    """A final output: text as Markdown on a terminal (as is elsewhere), other values as JSON."""
    if isinstance(value, str):
        return Markdown(value) if is_terminal else Text(value)
    dumped = json.dumps(value, indent=2, ensure_ascii=False)
    return JSON(dumped) if is_terminal else Text(dumped)


def summary_line(state: RunState) -> Text:
    """``run <id> succeeded in 3.4s · 9 tasks · 1,234 tokens · $0.0000 — podium show <id>``."""
    look = _LOOKS.get(state.status, _Look("…", "yellow"))
    line = Text()
    line.append(f"run {state.run_id} ")
    line.append(state.status, style=look.style)
    line.append(f" in {format_duration(state.duration)}")
    line.append(f" · {len(state.tasks)} tasks")
    line.append(f" · {format_tokens(state.input_tokens + state.output_tokens)} tokens")
    line.append(f" · {format_cost(state.cost)}")
    if state.verification not in (None, "verified"):
        unsupported = sum(1 for c in state.final_claims if c.verdict != "supported")
        count = len(state.final_claims)
        why = f"{unsupported} of {count} claims unsupported"
        if state.skipped:
            noun = "document" if len(state.skipped) == 1 else "documents"
            why += f"; {len(state.skipped)} unreadable {noun} skipped"
        line.append(f" · verified: {state.verification} ({why})", style="yellow")
    line.append(f" — podium show {state.run_id}", style="dim")
    return line


def agent_label(state: RunState, task: TaskState) -> str:
    """The task's agent, or its kind (map, loop, workflow) for a composite task."""
    if task.agent:
        return task.agent
    node = next((n for n in state.graph if n.id == task.id), None)
    return node.kind if node is not None else ""


def task_children(state: RunState) -> dict[TaskId | None, list[TaskState]]:
    """Tasks grouped under their parent: a composite task, or None for the top level.

    Graph nodes name their parent; tasks made at run time (map items ``m[0]``, the tasks of a
    map item ``m[0]/x``) hang under the task their id extends.
    """
    parents = {n.id: n.parent for n in state.graph}
    children: dict[TaskId | None, list[TaskState]] = {}
    for task in tasks_in_graph_order(state):
        parent = parents[task.id] if task.id in parents else _parent_of(task.id)
        if parent is not None and parent not in state.tasks:
            parent = None
        children.setdefault(parent, []).append(task)
    return children


def task_rows(state: RunState) -> Sequence[tuple[TaskState, int]]:
    """Every task with its nesting depth, each followed by the tasks under it."""
    children = task_children(state)
    rows: list[tuple[TaskState, int]] = []
    pending: list[tuple[TaskState, int]] = [(t, 0) for t in reversed(children.get(None, []))]
    while pending:
        task, depth = pending.pop()
        rows.append((task, depth))
        pending.extend((t, depth + 1) for t in reversed(children.get(task.id, [])))
    return rows


def _parent_of(task_id: TaskId) -> TaskId | None:
    match = _MAP_ITEM.match(task_id)
    if match:
        return TaskId(match.group("parent"))
    head, slash, _ = task_id.rpartition("/")
    return TaskId(head) if slash else None


def final_verdicts(state: RunState) -> list[ClaimVerified]:
    """The verdicts of the run's last verification: the last draft checked, at its last check.

    A revision loop checks a draft once per iteration; only the last check speaks for the
    answer the run gives.
    """
    return state.final_claims


def answer_renderable(state: RunState) -> RenderableType | None:
    """A cited answer (``podium.synthesis.Answer``) with its claims, its sources and how its
    verification went; None if the output is not one."""
    output = state.output
    if not isinstance(output, dict) or "answer" not in output or "claims" not in output:
        return None
    verdicts = {c.claim: c.verdict for c in final_verdicts(state)}
    numbers: dict[str, int] = {}
    parts: list[RenderableType] = [Text(str(output["answer"]))]
    claims = output.get("claims") or []
    claims = claims if isinstance(claims, list) else []
    if claims:
        parts.append(Text("\nClaims", style="bold"))
        for index, claim in enumerate(claims, start=1):
            parts.append(_claim_line(index, claim, numbers, verdicts))
    sources = state.sources
    if numbers:
        parts.append(Text("\nSources", style="bold"))
        for passage_id, number in numbers.items():
            passage = sources.get(passage_id, {})
            excerpt = " ".join(str(passage.get("text", "")).split())[:160]
            line = Text(f"[{number}] {passage_id}", style="cyan")
            if passage.get("title"):
                line.append(f" — {passage['title']}")
            if excerpt:
                line.append(f"\n    {excerpt}", style="dim")
            parts.append(line)
    if claims:
        parts.append(Text("\n").append_text(_verification_line(state, claims, verdicts)))
    return Group(*parts)


def _claim_line(
    index: int, raw: Any, numbers: dict[str, int], verdicts: Mapping[str, str]
) -> Text:  # Any: a claim as JSON
    claim = read_claim(raw)
    line = Text(f"{index}. {claim.text} ")
    marks = "".join(f"[{numbers.setdefault(s, len(numbers) + 1)}]" for s in claim.sources)
    line.append(marks or "(no source)", style="cyan" if marks else "yellow")
    verdict = verdicts.get(claim.text)
    if verdict is not None and verdict != "supported":
        line.append(f"  {verdict}", style="red")
    return line


def _verification_line(state: RunState, claims: list[Any], verdicts: Mapping[str, str]) -> Text:
    """``verified: 2 of 3 claims supported; 1 unsupported after 3 checks`` (yellow unless all
    are supported), or that nothing verified the claims."""
    if not verdicts:
        return Text("not verified: no verifier checked these claims", style="yellow")
    counts = Counter(verdicts.get(read_claim(c).text, "not checked") for c in claims)
    supported = counts.pop("supported", 0)
    noun = "claim" if len(claims) == 1 else "claims"
    line = f"verified: {supported} of {len(claims)} {noun} supported"
    if not counts:
        return Text(line, style="green")
    subject = state.claims[-1].subject
    checks = len({c.iteration for c in state.claims if c.subject == subject})
    left = ", ".join(f"{n} {verdict}" for verdict, n in counts.items())
    return Text(f"{line}; {left} after {checks} check{'' if checks == 1 else 's'}", style="yellow")
