"""Sentences and what they hold: the words, numbers and names a claim stands on.

Grounding (``podium.grounding``), verification (``podium.verifier``) and evaluation
(``podium.evaluation``) read text the same way: passages are cut into sentences, and a
sentence is compared with another by its content words (lower-cased, a plural ``s`` dropped,
common words left out), its numbers (``300,000``, ``15``, ``2024``, ``3.5``) and its names
(capitalised words that are not common words).
"""

from __future__ import annotations

import re

__all__ = ["content_words", "is_question", "names", "numbers", "split_sentences", "stem"]

_APOSTROPHES = "'\u2019"
_WORD = re.compile(rf"[^\W_]+(?:[{_APOSTROPHES}][^\W_]+)?")
_NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)*")
_NAME = re.compile(rf"(?<![\w{_APOSTROPHES}-])[A-Z][\w{_APOSTROPHES}-]*[a-zA-Z0-9]")
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]*[A-Z0-9])")
_MARKUP = re.compile(r"^\s*(?:#{1,6}\s+|[-*+]\s+|\d+[.)]\s+|>\s*)")
_ABBREVIATIONS = re.compile(r"\b(?:e\.g|i\.e|etc|vs|Mr|Mrs|Ms|Dr|Inc|Ltd|No|approx)\.$")
_MIN_SENTENCE_CHARS = 20
_QUESTION = re.compile(
    r"^\s*(who|whom|whose|what|when|where|which|why|how|is|are|was|were|does|do|did|can|has|"
    r"have)\b",
    re.IGNORECASE,
)
STOPWORDS = frozenset(
    """a about above after again all also am an and any are as at be because been before being
    between both but by can could did do does doing down during each few for from further had
    has have having he her here hers him his how if in into is it its itself just me more most
    my no nor not now of off on once only or other our out over own same she should so some
    such than that the their them then there these they this those through to too under until
    up very was we were what when where which while who whom why will with would you your yours
    one per many much""".split()  # noqa: SIM905 - a word list reads best as words
)
"""Words that carry no content of their own."""
_IRREGULAR = {
    "sold": "sale", "sell": "sale", "selling": "sale", "sells": "sale", "bought": "buy",
    "led": "lead", "grew": "grow", "grown": "grow", "growth": "grow",
    "began": "begin", "begun": "begin", "paid": "pay", "spent": "spend", "won": "win",
    "people": "person", "women": "woman", "men": "man", "children": "child",
}  # fmt: skip
"""Forms that no ending rule brings together, by their stem."""


def split_sentences(text: str) -> list[str]:
    """The sentences of a passage, in order: Markdown markers dropped, headings left out.

    A line that is a heading, or a fragment shorter than a short sentence, is not a sentence.
    """
    sentences: list[str] = []
    for block in re.split(r"\n\s*\n", text):
        lines = [line for line in block.splitlines() if line.strip()]
        if not lines or all(line.lstrip().startswith("#") for line in lines):
            continue
        prose = " ".join(_MARKUP.sub("", line).strip() for line in lines if not _heading(line))
        if not prose:
            continue
        sentences += [s for s in _cut(prose) if len(s) >= _MIN_SENTENCE_CHARS]
    return sentences


def is_question(text: str) -> bool:
    """Whether ``text`` is a question ("Who leads...?", "What was...?") rather than a task."""
    return text.rstrip().endswith("?") or _QUESTION.match(text) is not None


def stem(word: str) -> str:
    """``word`` lower-cased with common endings dropped, so that forms of one word meet
    ("leads", "leader" -> "lead"; "charge", "charging" -> "charg")."""
    word = word.lower().replace("\u2019", "'").removesuffix("'s")
    if word.isdigit() or word in STOPWORDS:
        return word
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    if len(word) > 4 and word.endswith("ies"):
        word = word[:-3] + "y"
    elif len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    for ending in ("ing", "ed", "er"):
        if word.endswith(ending) and len(word) - len(ending) >= 4:
            word = word[: -len(ending)]
            break
    return word[:-1] if word.endswith("e") and len(word) > 4 else word


def content_words(text: str) -> frozenset[str]:
    """The stems of the words of ``text`` that carry content (numbers included)."""
    found = (stem(w) for w in _WORD.findall(text))
    return frozenset(w for w in found if w not in STOPWORDS and (len(w) > 2 or w.isdigit()))


def numbers(text: str) -> frozenset[str]:
    """The numbers ``text`` states, normalised ("300,000" -> "300000"; "3.50" stays)."""
    return frozenset(n.replace(",", "") for n in _NUMBER.findall(text))


def names(text: str) -> frozenset[str]:
    """The capitalised words of ``text`` that are not common words (likely names), as stems."""
    found = (stem(m.group()) for m in _NAME.finditer(text))
    return frozenset(w for w in found if w not in STOPWORDS)


def _heading(line: str) -> bool:
    """A Markdown heading, or a short line that does not end a sentence (a title)."""
    text = line.strip()
    if text.startswith("#"):
        return True
    return not text.endswith((".", "!", "?", ":", ";", ",")) and len(text.split()) < 12


def _cut(prose: str) -> list[str]:
    """``prose`` cut at sentence ends (not after "e.g." or "Dr.")."""
    parts: list[str] = []
    for piece in _SENTENCE_END.split(" ".join(prose.split())):
        if parts and _ABBREVIATIONS.search(parts[-1]):
            parts[-1] = f"{parts[-1]} {piece}"
        else:
            parts.append(piece)
    return [p.strip() for p in parts if p.strip()]
