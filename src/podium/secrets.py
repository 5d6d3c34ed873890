"""Secrets: values that must never reach the event log, traces, logs or ``podium show``.

A secret is the value of an environment variable that a setting names (``api_key_env:
OPENAI_API_KEY`` in a model spec, ``env:`` on an input), of a variable whose name says it
holds one (``*_API_KEY``, ``*_TOKEN``, ``*_SECRET``, ``*_PASSWORD``), or of an input marked
``secret: true``. Wherever such a value appears in an event (a model that echoes it, a tool
result, an error message), it is replaced by ``[redacted]`` before the event is recorded;
the run itself still uses the real value. The CLI's log handler masks the same values.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:  # the event types load pydantic: not for `podium --help`'s log handler
    from podium.event import Event

__all__ = ["REDACTED", "Secrets", "environment_secrets"]

REDACTED: Final = "[redacted]"
_SECRET_NAME = re.compile(r"(^|_)(API_?KEY|KEY|TOKEN|SECRET|PASSWORD|PASSWD)$", re.IGNORECASE)
_MIN_LENGTH = 4
"""Shorter values are not masked: replacing every ``abc`` in a log would hide the log."""


class Secrets:
    """A set of secret values, and how to mask them in text, JSON values and events."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._json_pattern: re.Pattern[str] | None = None
        self.add(*values)

    def add(self, *values: str) -> None:
        """Treat ``values`` as secrets too (short or blank ones are ignored)."""
        fresh = {v for v in values if len(v.strip()) >= _MIN_LENGTH} - self._values
        if not fresh:
            return
        self._values |= fresh
        longest_first = sorted(self._values, key=len, reverse=True)
        self._pattern = re.compile("|".join(re.escape(v) for v in longest_first))
        # In JSON text a value appears escaped ("a\"b", "\u00e9" with ensure_ascii).
        escaped = {json.dumps(v)[1:-1] for v in longest_first}
        escaped |= {json.dumps(v, ensure_ascii=False)[1:-1] for v in longest_first}
        self._json_pattern = re.compile(
            "|".join(re.escape(v) for v in sorted(escaped, key=len, reverse=True))
        )

    def __bool__(self) -> bool:
        return bool(self._values)

    def redact(self, text: str) -> str:
        """``text`` with every secret replaced by ``[redacted]``."""
        return self._pattern.sub(REDACTED, text) if self._pattern else text

    def redact_event(self, event: Event) -> Event:
        """``event`` with every secret in any of its fields replaced by ``[redacted]``."""
        if self._json_pattern is None:
            return event
        from podium.event import dump_event, load_event

        text = dump_event(event).decode()
        masked = self._json_pattern.sub(REDACTED, text)
        return event if masked == text else load_event(masked)


def environment_secrets(
    named: Iterable[str] = (), environ: Mapping[str, str] | None = None
) -> Secrets:
    """The values of the variables ``named`` (by ``*_env`` settings) and of those whose name
    says they hold a secret (``OPENAI_API_KEY``, ``GITHUB_TOKEN``, ``DB_PASSWORD``...)."""
    environ = os.environ if environ is None else environ
    wanted = set(named)
    return Secrets(v for k, v in environ.items() if k in wanted or _SECRET_NAME.search(k))
