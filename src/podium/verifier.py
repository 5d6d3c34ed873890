"""Verification: each claim of a draft checked against the sources in the context.

Each claim first goes through a deterministic pass (``first_pass``) over the passages it
cites: a claim that is one of their sentences word for word is supported; one that states a
number or a name they do not hold, or shares too few of its content words with them, is
unsupported. Only the claims this pass leaves open (``open_claims``) go to the verifier agent
(a task with ``verifies: <draft key>``): it is asked one yes/no ``question`` per claim, and
each answer (a ``Judgement``) is matched to its claim by the claim's index in the draft, never
by the position of a verdict in a list the model wrote nor by its text. ``verdicts`` gives the
final word on every claim of the draft: the draft's own list of claims is authoritative (a
verifier cannot drop one), a claim that cites no retrieved passage while passages exist is
unsupported whatever the verifier said, the first pass overrules the verifier (a
"contradicted" stays contradicted), and a claim the verifier gave no answer on is
unsupported. Each final verdict is
recorded as a ``claim_verified`` event; unsupported and contradicted ones over all checked give
the hallucination rate (``podium metrics``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, computed_field

from podium.event import Verdict
from podium.sentences import content_words, names, numbers, split_sentences
from podium.synthesis import Claim, read_claim
from podium.tool import without_docstring

__all__ = [
    "ClaimCheck",
    "Judgement",
    "Verification",
    "draft_claims",
    "first_pass",
    "is_settled",
    "judged",
    "open_claims",
    "question",
    "verdicts",
]

_MIN_OVERLAP = 0.6
"""Share of a claim's content words the cited passages must hold for it to be plausible."""

_SENTENCE = re.compile(r"(?<=[.!?])\s+")


class ClaimCheck(BaseModel):
    """The verdict on one claim, with the evidence for it."""

    model_config = ConfigDict(frozen=True, json_schema_extra=without_docstring)
    claim: str
    verdict: Verdict
    evidence: str = ""
    sources: list[str] = Field(default_factory=list[str])
    """Passage ids the claim cites (filled in from the draft)."""
    index: int | None = None
    """The claim's index in the draft (0 is the first): what a verdict is matched by."""


class Judgement(BaseModel):
    """The verifier's answer to one question: do the cited passages say what the claim says?"""

    model_config = ConfigDict(frozen=True, json_schema_extra=without_docstring)
    answer: Literal["yes", "no"]


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


def draft_claims(draft: object) -> list[Claim]:
    """The claims a draft makes: an answer's ``claims``, else each sentence of its text."""
    if isinstance(draft, Mapping):
        fields = cast("Mapping[str, object]", draft)
        claims = fields.get("claims")
        if isinstance(claims, list):
            return [read_claim(c) for c in cast("list[object]", claims)]
        text = str(fields.get("answer", ""))
    else:
        text = str(draft) if draft else ""
    sentences = [str(s) for s in _SENTENCE.split(text.strip())]
    return [Claim.model_construct(text=s, sources=[]) for s in sentences if s]


def first_pass(
    claim: Claim, sources: Mapping[str, Any]
) -> tuple[Verdict, str] | None:  # Any: passages as JSON
    """The verdict the cited passages settle without a model, or None when a reader must judge.

    Args:
        claim: the claim, with the passage ids it cites.
        sources: the retrieved passages by id.

    Returns:
        ``("supported", why)`` for a sentence of a cited passage, word for word;
        ``("unsupported", why)`` when a number or name of the claim, or most of its content
        words, are in none of the cited passages; None otherwise (and with no citation).
    """
    texts = [_text(sources[s]) for s in claim.sources if s in sources]
    if not texts:
        return None
    said = " ".join(" ".join(t.split()) for t in texts)
    wanted = " ".join(claim.text.split())
    if any(wanted == s for t in texts for s in split_sentences(t)):
        return "supported", "a sentence of the cited passage, word for word"
    missing = sorted(numbers(claim.text) - numbers(said))
    if missing:
        return "unsupported", f"the cited passages do not state {', '.join(missing)}"
    held = content_words(said)
    absent = sorted(names(claim.text) - held)
    if absent:
        return "unsupported", f"the cited passages do not name {', '.join(absent)}"
    words = content_words(claim.text)
    shared = len(words & held)
    if words and shared < _MIN_OVERLAP * len(words):
        return "unsupported", f"the cited passages hold only {shared} of its {len(words)} words"
    return None


def open_claims(claims: Sequence[Claim], sources: Mapping[str, Any]) -> list[int]:  # Any: JSON
    """Indexes of the claims whose verdict the first pass leaves to the verifier agent."""
    return [
        index
        for index, c in enumerate(claims)
        if not (sources and not any(s in sources for s in c.sources)) and not first_pass(c, sources)
    ]


def is_settled(claims: Sequence[Claim], sources: Mapping[str, Any]) -> bool:  # Any: passages
    """Whether every claim's verdict is known without asking the verifier agent."""
    return not open_claims(claims, sources)


def question(claim: Claim, sources: Mapping[str, Any]) -> str:  # Any: passages as JSON
    """The one yes/no question the verifier agent is asked about ``claim``."""
    cited = [f"[{s}] {' '.join(_text(sources[s]).split())}" for s in claim.sources if s in sources]
    shown = "\n".join(cited) or "(it cites no passage)"
    return (
        f"Passages:\n{shown}\n\nClaim: {claim.text}\n\n"
        "Do the passages say what the claim says? Answer yes or no."
    )


def judged(index: int, claim: Claim, judgement: Judgement) -> ClaimCheck:
    """The verifier's verdict on claim ``index`` from its answer to that claim's question."""
    verdict: Verdict = "supported" if judgement.answer == "yes" else "unsupported"
    evidence = f"the verifier answered {judgement.answer}: do the passages say it?"
    return ClaimCheck(claim=claim.text, verdict=verdict, evidence=evidence, index=index)


def verdicts(
    claims: Sequence[Claim], checks: Sequence[ClaimCheck], sources: Mapping[str, Any]
) -> Verification:  # Any: passages as JSON
    """The final verdict on every claim of a draft.

    Args:
        claims: the draft's claims (authoritative).
        checks: what the verifier answered (none when ``is_settled``), matched to claims by
            their ``index`` (a check without one is matched to no claim).
        sources: the retrieved passages by id; when there are some, a claim must cite one.
    """
    by_index = {c.index: c for c in checks if c.index is not None}
    final: list[ClaimCheck] = []
    for index, claim in enumerate(claims):
        cited = [s for s in claim.sources if s in sources]
        check = by_index.get(index)
        verdict, evidence = _verdict(claim, check, sources, has_citation=bool(cited))
        final.append(
            ClaimCheck(
                claim=claim.text, verdict=verdict, evidence=evidence, sources=cited, index=index
            )
        )
    return Verification(claims=final)


def _verdict(
    claim: Claim, check: ClaimCheck | None, sources: Mapping[str, Any], *, has_citation: bool
) -> tuple[Verdict, str]:  # Any: passages as JSON
    if sources and not has_citation:
        return "unsupported", "cites no retrieved passage"
    settled = first_pass(claim, sources)
    if settled is not None:
        if check is not None and check.verdict == "contradicted" and settled[0] != "supported":
            return "contradicted", check.evidence or settled[1]
        return settled
    if check is None:
        return "unsupported", "the verifier gave no verdict on it"
    return check.verdict, check.evidence


def _text(passage: object) -> str:
    """A passage's text (a passage is JSON: a mapping with ``text``, or the text itself)."""
    if isinstance(passage, Mapping):
        return str(cast("Mapping[str, object]", passage).get("text", ""))
    return str(passage)
