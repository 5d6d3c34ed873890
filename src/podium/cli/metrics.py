"""``podium metrics``: completion, latency, errors, satisfaction and cost over a time window.

Read-only: it folds the logs of the runs that started in the window (and in the window of the
same length before, for the trend) with ``podium.telemetry.metrics``. ``--routing`` shows what
the router learned from outcomes instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Final, Literal, cast

import typer
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

import podium
from podium import GroupMetrics, MetricsReport, PodiumError, Preference, default_store, store_exists
from podium.cli.age import parse_age
from podium.cli.output import (
    format_time,
    jsonable,
    print_json,
    report_error,
    stdout_console,
)
from podium.cli.runs import StoreOption

__all__ = ["metrics_command"]

GroupBy = Literal["workflow", "agent", "model"]
_GROUPINGS: Final[dict[str, GroupBy]] = {"workflow": "workflow", "agent": "agent", "model": "model"}
_Format = Callable[[float | None], str]


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def _secs(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}s"


def _usd(value: float | None) -> str:
    return "n/a" if value is None else f"${value:.4f}"


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.2f}".rstrip("0").rstrip(".")


_COLUMNS: Final[tuple[tuple[str, str, _Format, bool], ...]] = (
    ("done", "completion_rate", _pct, True),
    ("err", "error_rate", _pct, False),
    ("task p50", "task_p50_s", _secs, False),
    ("task p95", "task_p95_s", _secs, False),
    ("call p50", "call_p50_s", _secs, False),
    ("call p95", "call_p95_s", _secs, False),
    ("halluc", "hallucination_rate", _pct, False),
    ("csat", "satisfaction", _num, True),
    ("$/run", "cost_mean", _usd, False),
    ("$ total", "cost_total", _usd, False),
    ("tokens", "tokens_total", _num, False),
)
"""Header, metric, format, and whether a rise is good (green) or bad (red)."""


def metrics_command(
    *,
    window: Annotated[
        str,
        typer.Option(
            "--window",
            metavar="AGE",
            help="Count the runs that started this long ago until now: 7d, 24h, 90m.",
        ),
    ] = "7d",
    by: Annotated[
        str,
        typer.Option("--by", metavar="workflow|agent|model", help="Group the metrics by this."),
    ] = "workflow",
    store: StoreOption = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the metrics as JSON instead of tables.")
    ] = False,
    routing: Annotated[
        bool,
        typer.Option("--routing", help="Show the router's learned preferences per capability."),
    ] = False,
) -> None:
    """Metrics of the runs that started in the window, per workflow, agent or model.

    Completion rate, task and model-call latency (p50/p95), error rate, hallucination rate,
    user satisfaction (`podium feedback`), cost and tokens, each with its change since the
    window of the same length before (↑ ↓). Definitions: docs/metrics.md.
    """
    length = parse_age(window)
    if by not in _GROUPINGS:
        raise typer.BadParameter(f"{by!r}: give workflow, agent or model", param_hint="--by")
    path = store or default_store()
    if routing:
        _print_routing(path, length, json_output=json_output)
        return
    try:
        # a store file not made yet (no run recorded) is not created
        source = path if store_exists(path) else ":memory:"
        report = asyncio.run(podium.metrics(window=length, by=_GROUPINGS[by], store=source))
    except PodiumError as error:
        raise typer.Exit(report_error(error)) from None
    if json_output:
        print_json(_report_json(report))
        return
    _print_report(stdout_console(), report)


def _report_json(report: MetricsReport) -> object:
    data = jsonable(report)
    assert isinstance(data, dict)
    for group in [data["overall"], *data["groups"]]:  # type: ignore[misc]  # JSON from a dataclass
        assert isinstance(group, dict)
        current = cast("dict[str, object]", group)["current"]
        assert isinstance(current, dict)
        if current["claims_checked"] == 0:
            current["hallucination_rate"] = "n/a"
    return data


def _print_report(console: Console, report: MetricsReport) -> None:
    since = format_time(report.window.start)
    head = f"{report.overall.current.runs} runs started since {since}"
    counts = report.overall.current
    head += f" · {counts.finished} finished · {counts.in_progress} in progress"
    head += f" · {counts.feedback_count} ratings · trend vs the {_span(report)} before"
    console.print(Text(head), soft_wrap=True)
    if counts.runs == 0:
        return
    console.print(_table(report.by, [report.overall, *report.groups]))


def _span(report: MetricsReport) -> str:
    hours = (report.window.end - report.window.start) / timedelta(hours=1)
    return f"{hours / 24:g}d" if hours >= 24 else f"{hours:g}h"


def _table(by: str, groups: list[GroupMetrics]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, header_style="bold", pad_edge=False, padding=(0, 1, 0, 0))
    table.add_column(by, no_wrap=True)
    table.add_column("runs", justify="right", no_wrap=True)
    for header, *_ in _COLUMNS:
        table.add_column(header, justify="right", no_wrap=True)
    for group in groups:
        runs = f"{group.current.runs}"
        if group.current.in_progress:
            runs += f" ({group.current.in_progress}▶)"
        cells = [_cell(group, name, fmt, is_up_good) for _, name, fmt, is_up_good in _COLUMNS]
        table.add_row(Text(group.group), runs, *cells)
    return table


def _cell(group: GroupMetrics, name: str, fmt: _Format, is_up_good: bool) -> Text:
    value: float | None = getattr(group.current, name)
    text = Text(fmt(value))
    delta = group.trend.get(name)
    if delta is None or getattr(group.previous, "runs", 0) == 0:
        return text
    if abs(delta) < 1e-9:
        return text.append(" →", style="dim")
    is_good = (delta > 0) == is_up_good
    return text.append(" ↑" if delta > 0 else " ↓", style="green" if is_good else "red")


def _print_routing(path: str | Path, window: timedelta, *, json_output: bool) -> None:
    try:
        preferences = asyncio.run(podium.routing_preferences(window=window, store=path))
    except PodiumError as error:
        raise typer.Exit(report_error(error)) from None
    if json_output:
        print_json(preferences)
        return
    stdout_console().print(_routing_table(preferences))


def _routing_table(preferences: list[Preference]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, header_style="bold", pad_edge=False, padding=(0, 1, 0, 0))
    table.add_column("capability", no_wrap=True)
    table.add_column("agent", no_wrap=True)
    for name in ("runs", "success", "latency", "cost/run", "satisfaction", "share"):
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column("reason")
    for p in preferences:
        table.add_row(
            Text(p.capability),
            Text(p.agent),
            f"{p.runs}",
            _pct(p.success_rate),
            _secs(p.mean_latency_s),
            _usd(p.mean_cost),
            _num(p.satisfaction),
            _pct(p.expected_share),
            Text(p.reason),
        )
    return table
