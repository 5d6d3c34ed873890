"""Logs that say which run and task they come from.

The engine binds ``RUN_ID`` for a whole run and ``TASK_ID`` while a task runs (asyncio tasks
copy contextvars, so concurrent tasks each see their own); ``ContextFilter`` copies both onto
every record; ``JsonFormatter`` writes one JSON object a line, ``TextFormatter`` a readable
line. Only the CLI and the server install them (``configure_logging``): the library only logs.
Secrets (``podium.secrets``: those of the environment, and those the running run binds) are
masked in every record the installed handler writes.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Generator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import TextIO

from podium.secrets import Secrets, environment_secrets

__all__ = [
    "RUN_ID",
    "SECRETS",
    "TASK_ID",
    "ContextFilter",
    "JsonFormatter",
    "TextFormatter",
    "bind_run",
    "bind_task",
    "configure_logging",
]

RUN_ID: ContextVar[str | None] = ContextVar("podium_run_id", default=None)
TASK_ID: ContextVar[str | None] = ContextVar("podium_task_id", default=None)
SECRETS: ContextVar[Secrets | None] = ContextVar("podium_secrets", default=None)


@contextmanager
def bind_run(run_id: str, secrets: Secrets | None = None) -> Generator[None]:
    """Log records made inside carry ``run_id`` and have the run's ``secrets`` masked."""
    token = RUN_ID.set(run_id)
    masked = SECRETS.set(secrets)
    try:
        yield
    finally:
        SECRETS.reset(masked)
        RUN_ID.reset(token)


class bind_task:  # lower case: used as a function, ``with bind_task(task_id):``
    """Log records made inside carry ``task_id``.

    A class, not a ``@contextmanager`` generator: the engine binds every task it runs, and a
    generator costs some three times as much to enter and leave.
    """

    __slots__ = ("_task_id", "_token")

    def __init__(self, task_id: str) -> None:
        self._task_id = task_id

    def __enter__(self) -> None:
        self._token = TASK_ID.set(self._task_id)

    def __exit__(self, *exc_info: object) -> None:
        TASK_ID.reset(self._token)


class ContextFilter(logging.Filter):
    """Copies the current run and task ids onto each record (``run_id``, ``task_id``) and
    masks secrets in its message: ``secrets``, and those the current run binds."""

    def __init__(self, secrets: Secrets | None = None) -> None:
        super().__init__()
        self.secrets = secrets or Secrets()

    def filter(self, record: logging.LogRecord) -> bool:
        record.run_id = RUN_ID.get()
        record.task_id = TASK_ID.get()
        for secrets in (self.secrets, SECRETS.get()):
            if secrets:
                record.msg = secrets.redact(record.getMessage())
                record.args = None
                if record.exc_info and not record.exc_text:
                    record.exc_text = logging.Formatter().formatException(record.exc_info)
                record.exc_info = None
                record.exc_text = secrets.redact(record.exc_text) if record.exc_text else None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, run_id, task_id, exc."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "run_id": getattr(record, "run_id", None),
            "task_id": getattr(record, "task_id", None),
        }
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exc"] = record.exc_text
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """``time LEVEL logger [run task]: message`` for people at a terminal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(ids)s]: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        run_id = getattr(record, "run_id", None) or "-"
        task_id = getattr(record, "task_id", None) or "-"
        record.ids = f"{run_id} {task_id}"
        return super().format(record)


def configure_logging(level: str, stream: TextIO | None = None) -> logging.Handler:
    """Send records at ``level`` and above to ``stream`` (stderr): JSON lines unless it is a
    terminal. Every record carries the run and task ids. Returns the handler installed."""
    stream = stream if stream is not None else sys.stderr
    handler = _PodiumHandler(stream)
    handler.addFilter(ContextFilter(environment_secrets()))
    is_tty = getattr(stream, "isatty", lambda: False)()
    handler.setFormatter(TextFormatter() if is_tty else JsonFormatter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _PodiumHandler)]:
        root.removeHandler(old)  # configured again (main() called twice): replace, not add
    root.addHandler(handler)
    root.setLevel(level)
    return handler


class _PodiumHandler(logging.StreamHandler[TextIO]):
    """The handler ``configure_logging`` installs (so a second call replaces it)."""
