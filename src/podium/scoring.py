"""Scoring: a suite of questions over documents, and how well a run answered each.

A suite (YAML) names a folder of documents and questions, each with the facts a right answer
holds (``facts``: plain text, or ``/a regex/``) and facts a right answer must not hold
(``wrong``)::

    name: e-bikes
    docs: docs                 # relative to the suite file
    questions:
      - question: Who leads the market?
        facts: [VinFast, "/40 ?(%|percent)/"]
        wrong: [Yadea leads]

``podium.evaluate`` (``podium.evaluation``) runs each question as a goal on a team, and
``score_run`` scores the run: gold-fact recall, wrong facts, citation validity (a claim's
cited passages hold its numbers and most of its content words), the hallucination rate podium
reported for the final answer, time and tokens.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from podium.errors import ConfigError, validation_problems
from podium.run import RunResult, RunState, project
from podium.sentences import content_words, numbers
from podium.synthesis import read_claim

__all__ = ["CaseScore", "EvalCase", "Suite", "SuiteScore", "load_suite", "score_run"]

_MIN_WORDS = 0.6
"""Share of a claim's content words its cited passages must hold for the citation to be valid."""


class EvalCase(BaseModel):
    """One question of a suite, with what its answer must and must not say."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    question: str = Field(min_length=1)
    facts: tuple[str, ...] = ()
    """Each a text the answer holds (case and spacing ignored), or ``/a regex/``."""
    wrong: tuple[str, ...] = ()
    """Facts a right answer must not state (a made-up number, a wrong name)."""


class Suite(BaseModel):
    """Documents and the questions to ask about them."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = "suite"
    docs: Path
    """The documents' folder (relative paths are relative to the suite file)."""
    questions: tuple[EvalCase, ...] = Field(min_length=1)


def load_suite(path: str | Path) -> Suite:
    """Read a suite file.

    Raises:
        ConfigError: the file is missing, not YAML, or not a suite (every problem, with where).
    """
    file = Path(path)
    try:
        raw: Any = yaml.safe_load(file.read_text(encoding="utf-8"))  # Any: parsed YAML
        suite = Suite.model_validate(raw)
    except OSError as exc:
        raise ConfigError(f"cannot read the suite {str(file)!r}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"the suite {str(file)!r} is not valid YAML: {exc}") from exc
    except ValidationError as exc:
        problems = "; ".join(validation_problems(exc))
        raise ConfigError(f"the suite {str(file)!r} is invalid: {problems}") from exc
    docs = suite.docs if suite.docs.is_absolute() else file.parent / suite.docs
    if not docs.is_dir():
        raise ConfigError(f"the suite {str(file)!r}: docs {str(suite.docs)!r} is not a folder")
    return suite.model_copy(update={"docs": docs})


@dataclass(frozen=True, slots=True, kw_only=True)
class CaseScore:
    """How one question was answered."""

    question: str
    run_id: str
    status: str
    answer: str
    found: tuple[str, ...]
    """Gold facts the answer holds."""
    missed: tuple[str, ...]
    wrong: tuple[str, ...]
    """Must-not facts the answer holds."""
    invented: tuple[str, ...]
    """Numbers the answer states that no retrieved passage holds."""
    claims: int
    valid_citations: int
    """Claims whose cited passages hold their numbers and most of their words."""
    hallucination_rate: float | None
    """What podium reported for the final answer (unsupported claims ÷ claims)."""
    seconds: float
    tokens: int

    @property
    def recall(self) -> float | None:
        """Gold facts found ÷ gold facts; None when the question lists none."""
        total = len(self.found) + len(self.missed)
        return len(self.found) / total if total else None


@dataclass(frozen=True, slots=True, kw_only=True)
class SuiteScore:
    """A suite's totals over its questions."""

    cases: tuple[CaseScore, ...]

    @property
    def recall(self) -> float | None:
        """Gold facts found ÷ gold facts, over every question."""
        found = sum(len(c.found) for c in self.cases)
        total = found + sum(len(c.missed) for c in self.cases)
        return found / total if total else None

    @property
    def wrong_facts(self) -> int:
        """Must-not facts stated, over every question."""
        return sum(len(c.wrong) for c in self.cases)

    @property
    def invented_numbers(self) -> int:
        """Numbers stated that no retrieved passage holds, over every answer."""
        return sum(len(c.invented) for c in self.cases)

    @property
    def citation_validity(self) -> float | None:
        """Validly cited claims ÷ claims, over every answer."""
        claims = sum(c.claims for c in self.cases)
        return sum(c.valid_citations for c in self.cases) / claims if claims else None

    @property
    def hallucination_rate(self) -> float | None:
        """Mean of the final-answer hallucination rates podium reported."""
        rates = [c.hallucination_rate for c in self.cases if c.hallucination_rate is not None]
        return sum(rates) / len(rates) if rates else None

    @property
    def seconds_per_question(self) -> float:
        """Mean wall time of a question's run."""
        return sum(c.seconds for c in self.cases) / len(self.cases) if self.cases else 0.0


def score_run(case: EvalCase, result: RunResult) -> CaseScore:
    """Score the run that answered ``case``."""
    state = project(result.run_id, result.events)
    output: Any = result.output  # Any: an Answer as JSON, or whatever the team answers
    fields = cast("dict[str, object]", output) if isinstance(output, dict) else None
    answer = str(fields.get("answer", "")) if fields is not None else str(result.output or "")
    raw_claims = fields.get("claims") if fields is not None else None
    listed = cast("list[object]", raw_claims) if isinstance(raw_claims, list) else []
    claims = [read_claim(c) for c in listed]
    text = " ".join([answer, *(c.text for c in claims)])
    found = tuple(f for f in case.facts if _holds(text, f))
    retrieved = " ".join(str(p.get("text", "")) for p in state.sources.values())
    duration = state.duration
    return CaseScore(
        question=case.question,
        run_id=result.run_id,
        status=result.status,
        answer=answer,
        found=found,
        missed=tuple(f for f in case.facts if f not in found),
        wrong=tuple(f for f in case.wrong if _holds(text, f)),
        invented=tuple(sorted(numbers(text) - numbers(retrieved))),
        claims=len(claims),
        valid_citations=sum(1 for c in claims if _is_valid(c.text, c.sources, state)),
        hallucination_rate=state.final_hallucination_rate,
        seconds=duration.total_seconds() if duration else 0.0,
        tokens=state.input_tokens + state.output_tokens,
    )


def _holds(text: str, fact: str) -> bool:
    if len(fact) > 2 and fact.startswith("/") and fact.endswith("/"):
        return re.search(fact[1:-1], text, re.IGNORECASE) is not None
    return " ".join(fact.lower().split()) in " ".join(text.lower().split())


def _is_valid(claim: str, cited: Sequence[str], state: RunState) -> bool:
    passages = [str(state.sources[s].get("text", "")) for s in cited if s in state.sources]
    if not passages:
        return False
    said = " ".join(passages)
    if not numbers(claim) <= numbers(said):
        return False
    words = content_words(claim)
    return not words or len(words & content_words(said)) >= _MIN_WORDS * len(words)
