"""Synthesis: the final answer, as claims that cite the passages they rest on.

A synthesizer agent answers with an ``Answer``: the text, and the claims it makes, each citing
passage ids (``report.md#3``) from the context key ``sources`` (filled by a plan task's
retrieval, see ``podium.knowledge``). ``ground`` keeps an answer honest before it is verified:
a citation of a passage that was never retrieved is dropped, and a claim left without one is
given the retrieved passage that shares the most words with it, when one shares enough.
Claims that still cite nothing are then found unsupported by the verifier
(``podium.verifier``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, cast

from pydantic import BaseModel, ConfigDict, Field, JsonValue, create_model, field_validator

from podium.tool import without_docstring

__all__ = ["Answer", "Claim", "answer_model", "ground", "read_claim", "words"]

_WORD = re.compile(r"[^\W_]{3,}")
_STOPWORDS = frozenset(
    """the and for are but not you all any can had her was one our out has have this that with
    from they will would there their what which when where who how its into more than then them
    these those been also such very about over only other some each most""".split()  # noqa: SIM905 - a word list reads best as words
)
_MIN_SHARED = 2
"""A passage must share at least this many words with a claim to be attached to it."""


class Claim(BaseModel):
    """One statement of an answer and the passages (ids) that support it."""

    model_config = ConfigDict(frozen=True, json_schema_extra=without_docstring)
    text: str = Field(min_length=20)
    """A whole statement (at least a short sentence), not a name or a heading."""
    sources: list[str] = Field(default_factory=list[str], max_length=5)
    """Ids of passages from the context key ``sources``, e.g. ``market.md#2``."""


class Answer(BaseModel):
    """A final answer: the text, and the claims it makes with their citations."""

    model_config = ConfigDict(frozen=True, json_schema_extra=without_docstring)
    answer: str = Field(min_length=1)
    claims: list[Claim] = Field(min_length=1, max_length=12)

    @field_validator("claims")
    @classmethod
    def _distinct(cls, claims: list[Claim]) -> list[Claim]:
        """A claim made twice is refused (a small model repeats one up to the limit)."""
        seen: dict[str, int] = {}
        for number, claim in enumerate(claims, start=1):
            key = " ".join(claim.text.lower().split())
            if key in seen:
                msg = f"claims {seen[key]} and {number} are the same claim; make each claim once"
                raise ValueError(msg)
            seen[key] = number
        return claims


def answer_model(max_claims: int) -> type[Answer]:
    """``Answer`` with at most ``max_claims`` claims: an answer's length is bounded by its
    token budget, and a JSON answer cut off at that budget cannot be read."""
    return create_model(
        "Answer",
        __base__=Answer,
        claims=(list[Claim], Field(min_length=1, max_length=max_claims)),
    )


def words(text: str) -> frozenset[str]:
    """The content words of ``text``, lower-cased (for overlap between claims and passages)."""
    return frozenset(w for w in _WORD.findall(text.lower()) if w not in _STOPWORDS)


def ground(
    answer: Mapping[str, Any], sources: Mapping[str, Mapping[str, Any]]
) -> tuple[dict[str, JsonValue], tuple[str, ...]]:  # Any: JSON read from the context
    """``answer`` with citations checked against ``sources``, and a note for each change.

    Args:
        answer: an ``Answer`` as JSON (``{"answer", "claims": [{"text", "sources"}]}``).
        sources: the retrieved passages by id (each with a ``text``).

    Returns:
        The grounded answer as JSON and what was changed, one line each.
    """
    notes: list[str] = []
    claims: list[JsonValue] = []
    for index, raw in enumerate(answer.get("claims") or [], start=1):
        claim = read_claim(raw)
        cited = [s for s in dict.fromkeys(claim.sources) if s in sources]
        for unknown in (s for s in claim.sources if s not in sources):
            notes.append(f"claim {index} cited {unknown!r}, which is no retrieved passage")
        if not cited and sources:
            best = _best_passage(claim.text, sources)
            if best is not None:
                cited = [best]
                notes.append(f"claim {index} cited nothing; attached {best!r}")
        claims.append({"text": claim.text, "sources": list(cited)})
    grounded: dict[str, JsonValue] = {"answer": str(answer.get("answer", "")), "claims": claims}
    return grounded, tuple(notes)


def read_claim(raw: Any) -> Claim:  # Any: a claim as JSON, from any draft
    """A claim as a draft holds it, read leniently: checking a claim must not fail on its
    form (a short one, sources that are not a list), only judge its content."""
    if not isinstance(raw, Mapping):
        return Claim.model_construct(text=str(raw), sources=[])
    fields = cast("Mapping[str, object]", raw)
    sources = fields.get("sources")
    cited = [str(s) for s in cast("list[object]", sources)] if isinstance(sources, list) else []
    return Claim.model_construct(text=str(fields.get("text", "")), sources=cited)


def _best_passage(text: str, sources: Mapping[str, Mapping[str, Any]]) -> str | None:
    wanted = words(text)
    scored = [
        (len(wanted & words(str(passage.get("text", "")))), passage_id)
        for passage_id, passage in sources.items()
    ]
    shared, best = max(scored, default=(0, ""))
    return best if shared >= _MIN_SHARED else None
