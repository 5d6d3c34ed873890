"""Verification: each claim of a draft checked against the sources in the context.

A verifier agent (a task with ``verifies: <draft key>``) answers with a ``Verification``: per
claim, ``supported``, ``unsupported`` or ``contradicted``, with the evidence. ``verdicts``
turns that into the final word on every claim of the draft: the draft's own list of claims is
authoritative (a verifier cannot drop one), a claim that cites no retrieved passage while
passages exist is unsupported whatever the verifier said, and a claim the verifier skipped is
unsupported. Each final verdict is recorded as a ``claim_verified`` event; unsupported and
contradicted ones over all checked give the hallucination rate (``podium metrics``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, computed_field

from podium.event import Verdict
from podium.synthesis import Claim, read_claim
from podium.tool import without_docstring

__all__ = ["ClaimCheck", "Verification", "draft_claims", "verdicts"]

_SENTENCE = re.compile(r"(?<=[.!?])\s+")


class ClaimCheck(BaseModel):
    """The verdict on one claim, with the evidence for it."""

    model_config = ConfigDict(frozen=True, json_schema_extra=without_docstring)
    claim: str
    verdict: Verdict
    evidence: str = ""
    sources: list[str] = Field(default_factory=list[str])
    """Passage ids the claim cites (filled in from the draft)."""


class Verification(BaseModel):
    """A verifier's answer: a verdict per claim, in the draft's order. Counts are derived."""

    model_config = ConfigDict(frozen=True, json_schema_extra=without_docstring)
    claims: list[ClaimCheck] = Field(default_factory=list[ClaimCheck], max_length=20)

    @computed_field
    @property
    def supported(self) -> int:
        """Claims the sources support."""
        return sum(1 for c in self.claims if c.verdict == "supported")

    @computed_field
    @property
    def unsupported(self) -> int:
        """Claims the sources do not support, contradicted ones included (what must change)."""
        return sum(1 for c in self.claims if c.verdict != "supported")


def draft_claims(draft: Any) -> list[Claim]:  # Any: JSON read from the context
    """The claims a draft makes: an answer's ``claims``, else each sentence of its text."""
    if isinstance(draft, Mapping) and isinstance(draft.get("claims"), list):
        return [read_claim(c) for c in draft["claims"]]
    text = str(draft.get("answer", "")) if isinstance(draft, Mapping) else str(draft or "")
    return [Claim.model_construct(text=s, sources=[]) for s in _SENTENCE.split(text.strip()) if s]


def verdicts(
    claims: Sequence[Claim], checks: Sequence[ClaimCheck], sources: Mapping[str, Any]
) -> Verification:  # Any: passages as JSON
    """The final verdict on every claim of a draft.

    Args:
        claims: the draft's claims (authoritative).
        checks: what the verifier answered, matched to claims by text, else by position when
            it answered as many verdicts as there are claims.
        sources: the retrieved passages by id; when there are some, a claim must cite one.
    """
    by_text = {c.claim.strip().lower(): c for c in checks}
    final: list[ClaimCheck] = []
    for index, claim in enumerate(claims):
        cited = [s for s in claim.sources if s in sources]
        check = by_text.get(claim.text.strip().lower())
        if check is None and len(checks) == len(claims):  # same count: matched by position
            check = checks[index]
        if sources and not cited:
            verdict, evidence = "unsupported", "cites no retrieved passage"
        elif check is None:
            verdict, evidence = "unsupported", "the verifier gave no verdict on it"
        else:
            verdict, evidence = check.verdict, check.evidence
        final.append(
            ClaimCheck(claim=claim.text, verdict=verdict, evidence=evidence, sources=cited)
        )
    return Verification(claims=final)
