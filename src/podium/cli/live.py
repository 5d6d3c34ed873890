"""Views of a run in progress, fed by the engine's events.

Every view folds the events it receives into one ``RunState`` (the same projection
``podium show`` reads), so what it shows is the log, not a second copy of state:

- ``LiveView``: a table redrawn in place on a terminal (``rich.live.Live``), at most
  ``_FPS`` times a second, with the elapsed time of running tasks ticking;
- ``LineView``: one plain line per finished task (and per plan made), for logs, pipes and CI;
- ``RunView``: shows nothing (``--json``, ``--quiet``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import datetime
from types import TracebackType
from typing import Final

from rich.console import Console, Group, JustifyMethod, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from podium import RunState, SystemClock, TaskId, TaskState
from podium.cli.output import (
    agent_label,
    format_cost,
    format_duration,
    format_tokens,
    status_text,
    task_rows,
)
from podium.event import Event, PlanCreated, TaskFailed, TaskSkipped, TaskSucceeded

__all__ = ["LineView", "LiveView", "RunView", "progress"]

_FPS: Final = 8
_STREAM_TAIL: Final = 60


class RunView:
    """Folds a run's events into its state; subclasses show it. This one shows nothing."""

    def __init__(self) -> None:
        self.state: RunState | None = None
        """The run's state, from its first event on."""
        self.streams: dict[TaskId, str] = {}
        """The latest text each running task's model has streamed (its tail only)."""

    def token(self, task_id: TaskId, text: str) -> None:
        """Take a piece of text a task's model streamed (the engine's ``on_token``)."""
        self.streams[task_id] = (self.streams.get(task_id, "") + text)[-_STREAM_TAIL:]
        self.streamed()

    def streamed(self) -> None:
        """Called after each streamed piece."""

    def preload(self, state: RunState) -> None:
        """Start from a run's recorded state (a resumed run's view shows its history)."""
        self.state = state

    def apply(self, event: Event) -> None:
        """Fold one event (the engine's ``on_event`` subscriber)."""
        if self.state is None:
            self.state = RunState(run_id=event.run_id)
        self.state.apply(event)
        self.changed(event)

    def changed(self, event: Event) -> None:
        """Called after each event is folded."""

    async def tick(self) -> None:
        """Redraw periodically until cancelled (views with nothing to redraw return)."""

    def __enter__(self) -> RunView:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        return None


class LineView(RunView):
    """One line per finished task: ``✓ research  researcher  1.2s  340 tok``."""

    def __init__(self, console: Console) -> None:
        super().__init__()
        self._console = console

    def changed(self, event: Event) -> None:
        """Print the line of a task that just ended, or of a plan just made."""
        if isinstance(event, TaskSucceeded | TaskFailed | TaskSkipped) and self.state is not None:
            task = self.state.task(event.task_id)
            self._console.print(_task_line(self.state, task), soft_wrap=True)
        elif isinstance(event, PlanCreated):
            self._console.print(_plan_line(event), soft_wrap=True)


def _task_line(state: RunState, task: TaskState) -> Text:
    width = max((len(n.id) for n in state.graph), default=0) + 4
    agents = max((len(n.agent or n.kind) for n in state.graph), default=0)
    line = status_text(task.status, with_name=False)
    line.append(f" {task.id:<{width}}  {agent_label(state, task):<{agents}}")
    line.append(f"  {format_duration(task.duration):>6}  {format_tokens(task.tokens)} tok")
    if task.status != "succeeded" and task.error:
        line.append(
            f"  {task.status}: {task.error}", style="red" if task.status == "failed" else "dim"
        )
    return line


def _plan_line(event: PlanCreated) -> Text:
    """``◆ essay  plan revision 2: essay/write (keeps essay/gather)``."""
    line = Text("◆", style="cyan")
    line.append(f" {event.task_id}  plan revision {event.revision}: ")
    line.append(", ".join(n.id for n in event.steps) or "no steps")
    if event.kept:
        line.append(f" (keeps {', '.join(event.kept)})", style="dim")
    return line


class LiveView(RunView):
    """A table of every task, redrawn in place on a terminal."""

    def __init__(self, console: Console) -> None:
        super().__init__()
        self._clock = SystemClock()
        self._live = Live(console=console, auto_refresh=False, redirect_stderr=False)
        self._last_draw = float("-inf")

    def changed(self, event: Event) -> None:
        """Redraw now unless the last redraw was under a frame ago."""
        if isinstance(event, TaskSucceeded | TaskFailed | TaskSkipped):
            self.streams.pop(event.task_id, None)
        self.streamed()

    def streamed(self) -> None:
        """Redraw now unless the last redraw was under a frame ago."""
        if self._clock.monotonic() - self._last_draw >= 1 / _FPS:
            self._draw()

    async def tick(self) -> None:
        """Redraw every frame so the elapsed time of running tasks moves."""
        while True:
            await asyncio.sleep(1 / _FPS)
            self._draw()

    def _draw(self) -> None:
        self._last_draw = self._clock.monotonic()
        if self.state is None:
            return
        if not self._live.is_started:  # started on the first event: a run that never starts
            self._live.start()  # (an invalid workflow) leaves no empty frame behind
        view = progress(self.state, self._clock.now(), self.streams)
        self._live.update(view, refresh=True)

    def __enter__(self) -> LiveView:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._draw()
        if self._live.is_started:
            self._live.stop()


def progress(
    state: RunState, now: datetime, streams: Mapping[TaskId, str] | None = None
) -> RenderableType:
    """The live view: a header line with the totals, then one row per task.

    A running task whose model streams shows the tail of its text as its note.
    """
    streams = streams or {}
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold dim")
    for name, justify in _COLUMNS:
        table.add_column(name, justify=justify, no_wrap=name != "note")
    for task, depth in task_rows(state):
        elapsed = task.duration
        if task.status == "running" and task.started_at is not None:
            elapsed = now - task.started_at
        note = task.error if task.status in ("failed", "skipped", "cancelled") else ""
        if task.status == "running" and task.id in streams:
            note = "…" + " ".join(streams[task.id].split())
        table.add_row(
            Text("  " * depth + task.id),
            status_text(task.status),
            Text(agent_label(state, task)),
            str(task.attempts) if task.attempts > 1 else "",
            format_duration(elapsed),
            str(task.model_calls),
            format_tokens(task.tokens),
            Text(note or "", style="red" if task.status == "failed" else "dim"),
        )
    return Group(_header(state, now), table)


_COLUMNS: Final[tuple[tuple[str, JustifyMethod], ...]] = (
    ("task", "left"),
    ("status", "left"),
    ("agent", "left"),
    ("try", "right"),
    ("elapsed", "right"),
    ("calls", "right"),
    ("tokens", "right"),
    ("note", "left"),
)


def _header(state: RunState, now: datetime) -> Text:
    total = len(state.tasks)
    done = total - state.count("pending") - state.count("running")
    elapsed = state.duration
    if state.status == "running" and state.started_at is not None:
        elapsed = now - state.started_at
    header = Text()
    header.append(state.workflow or state.goal or "run", style="bold")
    header.append(f"  run {state.run_id}  ")
    header.append_text(status_text(state.status))
    header.append(f"  {done}/{total} tasks  {format_duration(elapsed)}")
    header.append(f"  {format_tokens(state.input_tokens + state.output_tokens)} tokens")
    header.append(f"  {format_cost(state.cost)}")
    for throttle in state.throttles.values():
        header.append(f"\nthrottled: {throttle.describe()}", style="yellow")
    return header
