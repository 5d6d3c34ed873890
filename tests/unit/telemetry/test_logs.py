"""Log records carry the run and task they come from; the JSON formatter writes JSON lines."""

from __future__ import annotations

import io
import json
import logging
import sys

import pytest

from podium import Agent, ScriptedModel, SqliteStore, Task, Workflow
from podium.engine import LocalEngine
from podium.models.base import ModelRequest
from podium.telemetry.logs import (
    RUN_ID,
    TASK_ID,
    ContextFilter,
    JsonFormatter,
    TextFormatter,
    bind_task,
    configure_logging,
)

logger = logging.getLogger("podium.tests.telemetry")


async def test_a_record_logged_inside_a_task_carries_its_run_and_task_ids() -> None:
    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Collect()
    handler.addFilter(ContextFilter())
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)

    def answer(request: ModelRequest) -> str:
        logger.info("answering %s", request.caller.task_id if request.caller else None)
        return "ok"

    flow = Workflow(
        name="w",
        agents=(Agent(name="a"),),
        tasks=[
            Task(id="one", agent="a", instruction="x"),
            Task(id="two", agent="a", instruction="y"),
        ],
    )
    try:
        async with SqliteStore(":memory:") as store:
            result = await LocalEngine(store=store, model=ScriptedModel(answer)).execute(flow)
    finally:
        logger.removeHandler(handler)
    assert result.ok
    assert sorted((r.run_id, r.task_id) for r in records) == [  # type: ignore[attr-defined]
        (result.run_id, "one"),
        (result.run_id, "two"),
    ]
    assert {r.getMessage() for r in records} == {"answering one", "answering two"}
    assert RUN_ID.get() is None and TASK_ID.get() is None  # reset once the run is over


def test_the_json_formatter_writes_one_parsable_object_a_line() -> None:
    record = logging.LogRecord("podium.x", logging.ERROR, __file__, 1, "failed %s", ("t",), None)
    try:
        raise ValueError("boom")
    except ValueError:
        record.exc_info = sys.exc_info()
    with bind_task("t1"):
        ContextFilter().filter(record)
    line = JsonFormatter().format(record)
    assert "\n" not in line
    parsed = json.loads(line)
    assert parsed["level"] == "ERROR"
    assert parsed["logger"] == "podium.x"
    assert parsed["message"] == "failed t"
    assert parsed["run_id"] is None and parsed["task_id"] == "t1"
    assert "ValueError: boom" in parsed["exc"]
    assert parsed["time"].endswith("+00:00")


def test_the_readable_format_shows_the_ids() -> None:
    record = logging.LogRecord("podium.x", logging.WARNING, __file__, 1, "hi", (), None)
    ContextFilter().filter(record)
    assert "[- -]: hi" in TextFormatter().format(record)


def test_configure_logging_writes_json_lines_off_a_terminal_and_replaces_itself(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", list(root.handlers))
    monkeypatch.setattr(root, "level", root.level)
    stream = io.StringIO()
    configure_logging("INFO", io.StringIO())
    handler = configure_logging("INFO", stream)
    assert sum(h is handler for h in root.handlers) == 1
    assert len([h for h in root.handlers if type(h) is type(handler)]) == 1
    logging.getLogger("podium.y").info("hello %d", 1)
    assert json.loads(stream.getvalue())["message"] == "hello 1"
