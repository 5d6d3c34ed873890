"""Reliability policies as data: retries, timeouts, fallbacks and circuit breakers.

A workflow declares team defaults under ``defaults`` and each agent may override them under
``policy``, field by field (a ``retry`` given by both is merged field by field too):

```yaml
defaults:
  retry: {max_attempts: 4, initial_backoff: 2s}
  timeout: 90s
  circuit: {failure_threshold: 5, reset_timeout: 30s}
agents:
  writer:
    policy:
      retry: {retry_on: [rate_limit, server, timeout]}
      fallbacks: [agent:backup_writer, model:local]
```

Durations take seconds as numbers (``90``, ``1.5``), a number with a unit (``500ms``, ``2s``,
``5m``, ``1h``, or several: ``1m30s``), or ISO 8601 (``PT2S``, ``P1DT2H``) and the other
formats pydantic reads. The policy is data; the engine applies it (``podium.engine``).
"""

from __future__ import annotations

import random
import re
from datetime import timedelta
from typing import Annotated, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
)

from podium.errors import ModelError, ModelErrorKind, TaskError, ToolError

__all__ = [
    "DEFAULT_RETRY",
    "CircuitPolicy",
    "Duration",
    "FailureKind",
    "Fallback",
    "Policy",
    "RetryPolicy",
    "failure_kind",
    "parse_fallback",
]

FailureKind = Literal[ModelErrorKind, "tool"]
"""What kind of failure an attempt had, for ``RetryPolicy.retry_on``: a model error's ``kind``;
``timeout`` also for a tool or a whole attempt that ran out of time; ``server`` also for a tool
whose server died or could not be reached; ``tool`` for a tool that failed otherwise;
``other`` for the rest (e.g. output that stayed invalid)."""

_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_WITH_UNITS = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+")
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_NAME = re.compile(r"^[A-Za-z_][\w-]*$")
_M = TypeVar("_M", bound=BaseModel)
_TIMEDELTA = TypeAdapter(timedelta)


def _duration(value: object) -> object:
    """``2s``, ``1m30s``, ``500ms`` -> timedelta; other forms are left to pydantic.

    Raises:
        ValueError: a string that is no duration (pydantic's own message is cryptic).
    """
    if not isinstance(value, str):
        return value
    if _WITH_UNITS.fullmatch(value.strip()):
        return timedelta(seconds=sum(float(n) * _UNIT_SECONDS[u] for n, u in _PART.findall(value)))
    try:
        return _TIMEDELTA.validate_python(value)
    except ValidationError:
        msg = "a duration is seconds (90), a number with a unit (2s, 5m, 1m30s) or ISO 8601 (PT2S)"
        raise ValueError(msg) from None


Duration = Annotated[timedelta, BeforeValidator(_duration)]
"""A ``timedelta`` that YAML may also write as ``2s``, ``5m``, ``1m30s`` or ``500ms``."""


def _normal_fallback(text: str) -> str:
    kind, name = parse_fallback(text)
    return f"{kind}:{name}"


Fallback = Annotated[str, AfterValidator(_normal_fallback)]
"""``agent:NAME`` or ``model:NAME`` (a bare name is an agent), stored in that form."""


class RetryPolicy(BaseModel):
    """Exponential backoff with jitter: how often a failed attempt is tried again.

    The error says whether it is retryable (``TaskError.retryable``) and may say how long the
    failing party asked us to wait (``retry_after``, e.g. an HTTP ``Retry-After``), which wins
    over the computed backoff (capped by ``max_backoff``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    max_attempts: int = Field(default=3, ge=1)
    """Attempts in all, the first included (1 means no retry)."""
    initial_backoff: Duration = Field(default=timedelta(seconds=1), ge=timedelta(0))
    """The wait before the second attempt, before jitter."""
    multiplier: float = Field(default=2.0, ge=1)
    """How much each further wait grows."""
    max_backoff: Duration = Field(default=timedelta(seconds=30), ge=timedelta(0))
    """The longest wait."""
    jitter: bool = True
    """Whether to draw each wait uniformly from [backoff / 2, backoff], so that many clients
    failing together do not retry together."""
    retry_on: tuple[FailureKind, ...] | None = None
    """Which failures are retried (see ``FailureKind``); None: those whose error says it is
    retryable (rate limits, timeouts, server errors)."""

    def delay(self, error: TaskError, attempt: int, rng: random.Random) -> timedelta | None:
        """How long to wait before attempt ``attempt + 1``, or None if it should not happen."""
        if attempt >= self.max_attempts or not self.is_retryable(error):
            return None
        if error.retry_after is not None:
            return min(error.retry_after, self.max_backoff)
        backoff = self.initial_backoff * (self.multiplier ** (attempt - 1))
        backoff = min(backoff, self.max_backoff)
        if self.jitter:
            backoff = backoff * rng.uniform(0.5, 1.0)
        return backoff

    def is_retryable(self, error: TaskError) -> bool:
        """Whether this policy tries again after ``error`` (attempts left aside)."""
        if self.retry_on is None:
            return error.retryable
        return failure_kind(error) in self.retry_on


DEFAULT_RETRY = RetryPolicy()
"""Three attempts, waiting about 1 s and then 2 s, for retryable failures."""


class CircuitPolicy(BaseModel):
    """When a circuit breaker opens, and when it lets a probe through.

    After ``failure_threshold`` consecutive failures that say a model endpoint or an agent is
    unhealthy, its circuit opens: tasks go straight to their fallbacks. After
    ``reset_timeout`` it half-opens and lets one call through: success closes it, failure
    opens it again.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    failure_threshold: int = Field(default=5, ge=1)
    reset_timeout: Duration = Field(default=timedelta(seconds=30), gt=timedelta(0))


class Policy(BaseModel):
    """How an agent's tasks survive failures: retries, a timeout, fallbacks, circuit breaking.

    Each fallback is ``agent:NAME`` (the task runs with that agent: its instructions, model,
    tools and scopes) or ``model:NAME`` (the same agent on another model: a model name such as
    ``local`` or ``openai:gpt-4o-mini``, or a name from the workflow's ``models``); a bare
    name is an agent. Fallbacks are tried in order once the agent's attempts are spent or its
    circuit is open, each with its own retries.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    retry: RetryPolicy | None = None
    """None: the engine's retry policy (three attempts for retryable failures)."""
    timeout: Duration | None = Field(default=None, gt=timedelta(0))
    """Deadline of one attempt, capped by the task's own ``timeout``; None: the task's."""
    fallbacks: tuple[Fallback, ...] = ()
    """Targets tried in order."""
    circuit: CircuitPolicy | None = None
    """For the agent's circuit (under ``defaults``: also for model circuits); None: defaults."""

    def merged(self, override: Policy | None) -> Policy:
        """This policy with the fields ``override`` sets replacing its own.

        ``retry`` and ``circuit`` set on both sides merge field by field.
        """
        if override is None:
            return self
        changes = {name: getattr(override, name) for name in override.model_fields_set}
        if self.retry is not None and override.retry is not None:
            changes["retry"] = _overlay(self.retry, override.retry)
        if self.circuit is not None and override.circuit is not None:
            changes["circuit"] = _overlay(self.circuit, override.circuit)
        return self.model_copy(update=changes)


def _overlay(base: _M, override: _M) -> _M:
    return base.model_copy(update={n: getattr(override, n) for n in override.model_fields_set})


def parse_fallback(text: str) -> tuple[Literal["agent", "model"], str]:
    """``agent:NAME`` / ``model:NAME`` / a bare agent name -> (kind, name).

    Raises:
        ValueError: the text is none of these.
    """
    kind, colon, name = text.strip().partition(":")
    if not colon and _NAME.match(kind):
        return "agent", kind
    if kind == "agent" and _NAME.match(name):
        return "agent", name
    if kind == "model" and name:
        return "model", name
    msg = f"fallback {text!r} must be agent:NAME, model:NAME or an agent's name"
    raise ValueError(msg)


def failure_kind(error: TaskError) -> FailureKind:
    """Classify a failed attempt for ``RetryPolicy.retry_on``."""
    if isinstance(error, ModelError):
        return error.kind
    if isinstance(error.__cause__, TimeoutError):
        return "timeout"
    if isinstance(error.__cause__, ConnectionError):
        return "server"  # a tool's server (MCP) died or could not be reached
    if isinstance(error, ToolError):
        return "tool"
    return "other"
