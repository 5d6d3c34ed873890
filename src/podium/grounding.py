"""Grounding by construction: an answer's claims chosen from the sentences of retrieved passages.

A 135M-parameter model retypes facts wrongly ("300 million" for 300,000) and cites passages it
never saw. So on a small model a grounded task (``Task.grounding``) does not let it write
claims: ``choose_from`` ranks the sentences of the retrieved passages by how much of the
question they cover, the model is shown the best few, numbered, and answers
``{"claims": [2, 5]}`` under a grammar that admits only those numbers. Each chosen sentence
becomes a claim citing the passage it was taken from, so a claim cannot hold a number no
passage holds, nor cite a passage that was not retrieved.

When no sentence covers enough of the question, the answer says the documents do not answer
it, with no claim and no model call. When two shown sentences from different documents say
different numbers about the same thing, both are cited and the answer says they disagree.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, JsonValue, create_model

from podium.sentences import content_words, is_question, names, numbers, split_sentences

__all__ = ["Choice", "Sentence", "choose_from", "is_small_model"]

_SHOWN = 8
"""Sentences a small model chooses from (each costs ~30 prompt tokens)."""
_MIN_COVERAGE = 0.5
"""Share of the question (by word weight) a sentence must hold to be an answer."""
_TASK_WORDS = content_words(
    "write short brief report summary summarise summarize give tell list describe explain "
    "compare overview outline about please find main key thing know"
)
"""Words of a request ("write a short report on ...") that say what to do, not what about."""
_NAME_WEIGHT = 2.0
"""A name in the question (Yadea, Hanoi) counts this many times an ordinary word."""
_CONTEXT = 0.3
"""Weight of the sentence's passage in its coverage: "It takes 95 minutes" answers a question
about a ferry when the sentences around it are about that ferry."""
_HOW = re.compile(r"\bhow\s+(long|old|far|big|large|high|often|soon|fast)\b", re.IGNORECASE)
_SIMILAR = 0.5
"""Shared content words (of the shorter sentence) for two sentences to be about one thing."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Sentence:
    """One sentence of a retrieved passage, as a small model is shown it."""

    source: str
    """The id of the passage it is taken from."""
    index: int
    """Its position in the passage, from 1."""
    text: str
    coverage: float
    """How much of the question it holds, 0 to 1."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Choice:
    """The sentences a small model picks the claims of its answer from, for one question."""

    question: str
    sentences: tuple[Sentence, ...]
    """Best first; the model sees them numbered from 1."""
    max_claims: int

    def schema(self) -> type[BaseModel]:
        """The answer's model: numbers of shown sentences, up to ``max_claims``; at least 2 for a
        question and 3 for a request such as a report (as many as are shown, if fewer): a
        135M model that may pick one sentence often picks the wrong one."""
        shown: Any = Literal[tuple(range(1, len(self.sentences) + 1))]  # Any: built at run time
        most = self.max_claims  # a repeated number is dropped from the answer
        least = min(2 if is_question(self.question) else 3, most, len(self.sentences))
        return create_model(
            "Choice",
            __config__=ConfigDict(extra="forbid"),
            claims=(list[shown], Field(min_length=least, max_length=most)),  # pyright: ignore[reportInvalidTypeForm] - a Literal built at run time
        )

    def prompt(self) -> str:
        """The question and the numbered sentences, with one example answer (no schema)."""
        lines = [f"{n}. {s.text}" for n, s in enumerate(self.sentences, start=1)]
        return "\n".join(
            [
                f"Question: {self.question}",
                "",
                "Sentences from the documents:",
                *lines,
                "",
                "Which sentences answer the question? Give their numbers, best first.",
                'Reply with JSON only, like {"claims": [1]}',
            ]
        )

    def answer(self, chosen: Sequence[int]) -> dict[str, JsonValue]:
        """The answer made of the chosen sentences (repeats dropped), each citing its passage;
        a shown sentence that disagrees with a chosen one is cited too."""
        picked = [self.sentences[n - 1] for n in dict.fromkeys(chosen)]
        picked = picked or [self.sentences[0]]
        conflicts = _conflicts(picked, self.sentences)
        claims: list[JsonValue] = [
            {"text": s.text, "sources": [s.source]} for s in (*picked, *conflicts)
        ]
        text = " ".join(s.text for s in picked)
        if conflicts:
            text += " The sources disagree: " + "; ".join(
                f"{s.source} says: {s.text}" for s in conflicts
            )
        return {"answer": text, "claims": claims}

    def not_found(self) -> dict[str, JsonValue]:
        """The answer when no passage answers the question: it says so and claims nothing."""
        text = (
            "The documents do not answer this: no retrieved passage covers enough of the "
            f"question ({self.question.strip()})."
        )
        return {"answer": text, "claims": []}


def is_small_model(name: str) -> bool:
    """Whether claims are chosen, not written, on the model called ``name`` under
    ``choose: auto``: the embedded local model (``local...``)."""
    return name == "local" or name.startswith("local:")


def choose_from(
    question: str, sources: Mapping[str, Any], *, max_claims: int
) -> Choice:  # Any: passages as JSON
    """The sentences of ``sources`` that best answer ``question``, best first.

    Args:
        question: what the answer answers (a request such as "write a report on X" is
            read for its subject).
        sources: the retrieved passages by id (each with a ``text``), best match first.
        max_claims: at most this many claims are chosen.

    Returns:
        The choice; its ``sentences`` are empty when none covers enough of the question.
    """
    every = [
        (source, index, text)
        for source, passage in sources.items()
        if _is_passage(passage)
        for index, text in enumerate(split_sentences(_passage_text(passage)), start=1)
    ]
    weights = _weights(question, [text for _, _, text in every])
    passages = {
        source: _coverage(weights, _passage_text(passage))
        for source, passage in sources.items()
        if _is_passage(passage)
    }
    ranked: list[Sentence] = []
    for source, index, text in every:
        coverage = (1 - _CONTEXT) * _coverage(weights, text) + _CONTEXT * passages[source]
        if coverage >= _MIN_COVERAGE:
            sentence = Sentence(source=source, index=index, text=text, coverage=coverage)
            ranked.append(sentence)
    ranked.sort(key=lambda s: -s.coverage)  # stable: retrieval order breaks ties
    return Choice(question=question, sentences=tuple(_distinct(ranked)), max_claims=max_claims)


def _weights(question: str, texts: Sequence[str]) -> dict[str, float]:
    """Each subject word of the question, weighted by its rarity among ``texts`` (a word no
    passage holds weighs most: the documents are unlikely to be about it). The measure of a
    "how long / how old / how far" question is what it asks, not what it is about."""
    wanted = content_words(_HOW.sub(" ", question)) - _TASK_WORDS
    named = names(question)
    bags = [content_words(t) for t in texts]
    count = len(bags) or 1
    return {
        w: (_NAME_WEIGHT if w in named else 1.0)
        * math.log(1 + count / (0.5 + sum(1 for b in bags if w in b)))
        for w in wanted
    }


def _coverage(weights: Mapping[str, float], text: str) -> float:
    total = sum(weights.values())
    held = content_words(text)
    return sum(w for word, w in weights.items() if word in held) / total if total else 0.0


def _distinct(ranked: Sequence[Sentence]) -> list[Sentence]:
    """The first ``_SHOWN`` sentences, a sentence the same as one before it left out."""
    seen: set[frozenset[str]] = set()
    shown: list[Sentence] = []
    for sentence in ranked:
        key = content_words(sentence.text)
        if key not in seen:
            seen.add(key)
            shown.append(sentence)
        if len(shown) == _SHOWN:
            break
    return shown


def _conflicts(picked: Sequence[Sentence], shown: Sequence[Sentence]) -> list[Sentence]:
    """Shown sentences of another document that say other numbers about what one picked says."""
    found: list[Sentence] = []
    for other in shown:
        if other in picked or other in found:
            continue
        if any(_disagree(sentence, other) for sentence in picked):
            found.append(other)
    return found


def _disagree(one: Sentence, other: Sentence) -> bool:
    if _document(one.source) == _document(other.source):
        return False
    one_numbers, other_numbers = numbers(one.text), numbers(other.text)
    if not one_numbers or not other_numbers or one_numbers == other_numbers:
        return False
    one_words = content_words(one.text) - one_numbers
    other_words = content_words(other.text) - other_numbers
    shorter = min(len(one_words), len(other_words))
    shared = len(one_words & other_words)
    return shared >= 2 and shared >= _SIMILAR * shorter


def _document(passage_id: str) -> str:
    return passage_id.rsplit("#", 1)[0]


def _passage_text(passage: object) -> str:
    """A passage's text (a passage is JSON: a mapping with ``text``)."""
    if not isinstance(passage, Mapping):
        return ""
    return str(cast("Mapping[str, object]", passage).get("text", ""))


def _is_passage(value: object) -> bool:
    """Whether ``value`` is a passage (a JSON mapping), as opposed to stray data."""
    return isinstance(value, Mapping)
