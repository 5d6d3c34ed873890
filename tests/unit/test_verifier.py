"""The verifier's deterministic first pass: numbers, names and words must be in the citation."""

from __future__ import annotations

from typing import Any

import pytest

from podium.synthesis import Claim
from podium.verifier import ClaimCheck, first_pass, is_settled, verdicts

SOURCES: dict[str, Any] = {  # Any: passages as JSON
    "m.md#1": {"text": "Sales reached about 300,000 units in 2024. VinFast leads with 40 percent."},
    "c.md#2": {"text": "Nguyen Van A is the chief financial officer of VinFast."},
}


def claim(text: str, *sources: str) -> Claim:
    return Claim.model_construct(text=text, sources=list(sources))


@pytest.mark.parametrize(
    ("text", "source", "expected"),
    [
        ("VinFast leads with 40 percent.", "m.md#1", ("supported", "word for word")),
        ("Sales reached about 300 million units in 2024.", "m.md#1", ("unsupported", "300")),
        ("VinFast leads with 55 percent of sales.", "m.md#1", ("unsupported", "55")),
        ("Yadea leads the market with 40 percent.", "m.md#1", ("unsupported", "yadea")),
        ("Zebras commonly migrate across grassland plains.", "m.md#1", ("unsupported", "zebra")),
        ("The units in 2024 were mostly sold to delivery riders.", "m.md#1", ("unsupported", "of")),
        ("In 2024 sales reached about 300,000 units.", "m.md#1", None),  # a reader decides
    ],
)
def test_the_first_pass_settles_what_the_cited_passage_can_settle(
    text: str, source: str, expected: tuple[str, str] | None
) -> None:
    settled = first_pass(claim(text, source), SOURCES)
    if expected is None:
        assert settled is None
    else:
        assert settled is not None
        assert settled[0] == expected[0] and expected[1] in settled[1]


def test_the_first_pass_overrules_a_verifier_that_says_supported() -> None:
    wrong = claim("Nguyen Van A is the chief technology officer of VinFast in 2023.", "c.md#2")
    result = verdicts(
        [wrong], [ClaimCheck(claim=wrong.text, verdict="supported", index=0)], SOURCES
    )
    assert result.claims[0].verdict == "unsupported"
    assert "2023" in result.claims[0].evidence


def test_a_paraphrase_needs_the_verifier_and_a_verbatim_sentence_does_not() -> None:
    verbatim = claim("VinFast leads with 40 percent.", "m.md#1")
    paraphrase = claim("In 2024 sales reached about 300,000 units.", "m.md#1")
    assert is_settled([verbatim], SOURCES)
    assert not is_settled([verbatim, paraphrase], SOURCES)
    skipped = verdicts([paraphrase], [], SOURCES)
    assert skipped.claims[0].verdict == "unsupported"  # no verdict from the verifier
