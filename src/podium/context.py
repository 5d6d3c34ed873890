"""Context: the run's shared blackboard of versioned keys, each write with its provenance.

Every write is kept as a new version with who wrote it (run, task, agent, time). Agents see and
write only the keys their scopes allow; a write outside an agent's ``writes`` is refused with
``ContextAccessError``. Keys declared with a merge policy combine concurrent writes (append,
a reducer, or last writer wins). ``render`` turns the context into prompt text within a token
budget, leaving out the oldest keys first and saying what it cut.

The engine stages a write, appends the event recording it (``context_written``, or the
``task_succeeded`` of the task whose output it is) to the store, and only then applies it, so
the context never holds a value the log does not.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import JsonValue

from podium.agent import Agent
from podium.errors import ConfigError, ContextAccessError
from podium.event import ContextWritten
from podium.frozen import fast_init
from podium.ids import RunId, TaskId
from podium.workflow.model import KeySpec

__all__ = ["Context", "ContextView", "Provenance", "Version", "estimate_tokens"]

Reducer = Callable[[JsonValue, JsonValue], JsonValue]


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class Provenance:
    """Who wrote a version, and when."""

    run_id: RunId
    task_id: TaskId | None
    agent: str | None
    at: datetime


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class Version:
    """One value a key held."""

    key: str
    version: int
    value: JsonValue
    provenance: Provenance


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class ContextView:
    """Context rendered for a prompt, with what was cut to fit the budget."""

    text: str
    tokens: int
    omitted: tuple[str, ...] = ()
    truncated: tuple[str, ...] = ()


def estimate_tokens(text: str) -> int:
    """A tokenizer-free estimate: about four characters a token."""
    return len(text) // 4 + 1


class Context:
    """The versioned blackboard of one run (or one sub-workflow's namespace in it)."""

    def __init__(
        self,
        run_id: RunId,
        keys: Mapping[str, KeySpec] | None = None,
        *,
        namespace: str = "",
    ) -> None:
        self.run_id = run_id
        self.namespace = namespace
        self._specs = dict(keys or {})
        self._reducers = {k: _load_reducer(k, s) for k, s in self._specs.items() if s.reducer}
        self._versions: dict[str, list[Version]] = {}
        self._order: list[str] = []

    def get(self, key: str, default: JsonValue = None) -> JsonValue:
        """The latest value of ``key``, or ``default``."""
        versions = self._versions.get(key)
        return versions[-1].value if versions else default

    def __contains__(self, key: str) -> bool:
        return key in self._versions

    def versions(self, key: str) -> tuple[Version, ...]:
        """Every version ``key`` held, oldest first."""
        return tuple(self._versions.get(key, ()))

    def latest(self) -> dict[str, JsonValue]:
        """Every key's latest value, in the order keys were last written."""
        return {key: self._versions[key][-1].value for key in self._order}

    def select(self, names: Iterable[str], reader: Agent | None = None) -> dict[str, JsonValue]:
        """Latest values of ``names`` that exist and that ``reader`` may read."""
        versions = self._versions
        return {
            name: versions[name][-1].value
            for name in names
            if name in versions and (reader is None or reader.may_read(name))
        }

    def stage(
        self,
        key: str,
        value: JsonValue,
        *,
        provenance: Provenance,
        writer: Agent | None = None,
    ) -> Version:
        """Check a write and compute the version it would create, without applying it.

        Raises:
            ContextAccessError: ``writer`` may not write ``key``; nothing is written.
        """
        if writer is not None and not writer.may_write(key):
            allowed = ", ".join(writer.writes) or "nothing"
            msg = (
                f"agent {writer.name!r} may not write context key {key!r} "
                f"(task {provenance.task_id!r}); its writes scope allows: {allowed}"
            )
            raise ContextAccessError(msg)
        previous = self._versions.get(key)
        merged = self._merge(key, previous[-1].value if previous else None, value, previous)
        number = previous[-1].version + 1 if previous else 1
        return Version(key=key, version=number, value=merged, provenance=provenance)

    def apply(self, version: Version) -> None:
        """Make a staged (and logged) version the key's latest."""
        history = self._versions.setdefault(version.key, [])
        history.append(version)
        if self._order and self._order[-1] == version.key:
            return
        if len(history) > 1:
            self._order.remove(version.key)
        self._order.append(version.key)

    def apply_event(self, event: ContextWritten) -> None:
        """Apply a ``context_written`` event of this namespace from a run's log (a write a
        ``task_succeeded`` records comes as one through ``podium.event.recorded_write``)."""
        provenance = Provenance(
            run_id=event.run_id, task_id=event.task_id, agent=event.agent, at=event.at
        )
        key = event.key.removeprefix(self.namespace)
        self.apply(
            Version(key=key, version=event.version, value=event.value, provenance=provenance)
        )

    def render(
        self,
        *,
        max_tokens: int,
        keys: Iterable[str] | None = None,
        reader: Agent | None = None,
    ) -> ContextView:
        """Render keys (all readable ones by default) as prompt text within ``max_tokens``.

        The most recently written keys are kept; the oldest are left out first, and if the
        newest alone is too long it is cut. The text ends with a note saying what was cut.
        """
        chosen = set(keys) if keys is not None else None
        sections = [
            (key, self._section(key))
            for key in self._order
            if (chosen is None or key in chosen) and (reader is None or reader.may_read(key))
        ]
        return _fit(sections, max_tokens)

    def _section(self, key: str) -> str:
        latest = self._versions[key][-1]
        by = latest.provenance.agent or "input"
        return f"## {key} (v{latest.version}, by {by})\n{_as_text(latest.value)}"

    def _merge(
        self, key: str, old: JsonValue, new: JsonValue, previous: list[Version] | None
    ) -> JsonValue:
        spec = self._specs.get(key)
        if spec is None or spec.merge in ("single", "last_writer_wins"):
            return new
        if spec.merge == "append":
            items = list(old) if isinstance(old, list) else ([] if previous is None else [old])
            return [*items, new]
        return self._reducers[key](old, new) if previous else new


def _fit(sections: list[tuple[str, str]], max_tokens: int) -> ContextView:
    """Fit ``sections`` and the note saying what was cut within ``max_tokens``."""
    budget = max_tokens
    while True:
        view = _fit_sections(sections, budget)
        if view.tokens <= max_tokens or budget <= 1:
            return view
        budget -= view.tokens - max_tokens


def _fit_sections(sections: list[tuple[str, str]], max_tokens: int) -> ContextView:
    kept: list[tuple[str, str]] = []
    used = 0
    for key, text in reversed(sections):
        cost = estimate_tokens(text)
        if used + cost > max_tokens:
            break
        kept.append((key, text))
        used += cost
    kept.reverse()
    omitted = tuple(key for key, _ in sections[: len(sections) - len(kept)])
    truncated: tuple[str, ...] = ()
    if not kept and sections:
        key, text = sections[-1]
        omitted = omitted[:-1]
        kept = [(key, text[: max(max_tokens * 4 - 80, 0)] + "\n[...cut]")]
        truncated = (key,)
    body = "\n\n".join(text for _, text in kept)
    note = _note(omitted, truncated)
    text = f"{body}\n\n{note}" if note else body
    return ContextView(
        text=text, tokens=estimate_tokens(text), omitted=omitted, truncated=truncated
    )


def _note(omitted: tuple[str, ...], truncated: tuple[str, ...]) -> str:
    parts: list[str] = []
    if omitted:
        parts.append(f"left out older keys: {', '.join(omitted)}")
    if truncated:
        parts.append(f"cut to fit: {', '.join(truncated)}")
    return f"[context trimmed to fit the prompt budget; {'; '.join(parts)}]" if parts else ""


def _as_text(value: Any) -> str:  # Any: JSON value of any shape
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, indent=1)


def _load_reducer(key: str, spec: KeySpec) -> Reducer:
    module_name, _, attr = (spec.reducer or "").partition(":")
    try:
        reducer = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError, ValueError) as exc:
        msg = f"context key {key!r}: reducer {spec.reducer!r} cannot be imported: {exc}"
        raise ConfigError(msg) from exc
    if not callable(reducer):
        raise ConfigError(f"context key {key!r}: reducer {spec.reducer!r} is not callable")
    return reducer  # type: ignore[no-any-return]  # checked callable above
