"""Remote agents: a member of the team that another system serves over A2A.

```yaml
agents:
  translator:
    a2a: http://127.0.0.1:9999/               # where its agent card is (/.well-known/...)
  reviewer:
    a2a:
      url: http://127.0.0.1:8766/agents/review/
      headers: {Authorization: "Bearer ${REVIEW_TOKEN}"}   # ${NAME}: from the environment
      timeout: 5m
```

When a run starts, each remote agent's card is fetched: its skills become the agent's
capabilities (and its description the agent's, unless the file gives them), so the router and
the planner choose it like any local agent. Its tasks are sent to it as A2A messages by
``podium.protocols.a2a.client`` (the ``a2a`` extra), as model calls: journaled (a resumed run
does not ask again), retried, counted in budgets and traced like any model call.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from podium.policy import Duration

__all__ = ["A2aPeerSpec"]


class A2aPeerSpec(BaseModel):
    """How to reach a remote A2A agent."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(pattern=r"^https?://")
    """The agent's base URL; its card is at ``URL/.well-known/agent-card.json``."""
    headers: dict[str, str] = Field(default_factory=dict)
    """Sent with every request (``${NAME}`` is read from the environment)."""
    timeout: Duration = timedelta(minutes=10)
    """How long one task of the remote agent may take."""

    @model_validator(mode="before")
    @classmethod
    def _from_url(cls, data: Any) -> Any:  # Any: raw input before validation
        return {"url": data} if isinstance(data, str) else data
