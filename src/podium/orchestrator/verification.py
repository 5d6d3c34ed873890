"""Verifying tasks: an agent task with ``verifies: <draft key>`` checks a draft's claims.

Before the verifier is asked, the draft's citations are grounded in the retrieved passages
(``podium.synthesis.ground``; the grounded draft is written back, so the final answer never
cites a passage that does not exist). The verifier is then asked one yes/no question per claim
the deterministic pass leaves open (``questions``), and its answers come back by claim index;
``podium.verifier.verdicts`` gives the final verdict on every claim; the task's output is
that ``Verification`` (with its ``unsupported`` count, which a revision loop's ``until`` can
read), and each verdict is a ``claim_verified`` event committed with it, charged to the agent
and model that wrote the draft.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from functools import partial
from typing import Any

from pydantic import JsonValue, ValidationError

from podium.engine.frame import Frame
from podium.engine.kinds import AgentHost
from podium.engine.recorder import Draft
from podium.errors import TaskError
from podium.event import ClaimVerified
from podium.ids import TaskId
from podium.orchestrator.retrieval import SOURCES_KEY
from podium.synthesis import Claim, ground
from podium.task import Task
from podium.verifier import (
    ClaimCheck,
    Judgement,
    Verification,
    draft_claims,
    is_settled,
    judged,
    open_claims,
    question,
    verdicts,
)

__all__ = [
    "ground_and_settle",
    "ground_draft",
    "questions",
    "record_verdicts",
    "settled_verdicts",
]

_log = logging.getLogger(__name__)


async def ground_draft(run: AgentHost, task: Task, frame: Frame, qid: TaskId) -> None:
    """Check the draft's citations against the retrieved sources; write back what changed."""
    assert task.verifies is not None
    draft = frame.context.get(task.verifies)
    if not isinstance(draft, dict) or not isinstance(draft.get("claims"), list):
        return
    grounded, notes = ground(draft, _sources(frame))
    if not notes:
        return
    for note in notes:
        _log.info("grounding %s: %s", task.verifies, note)
    await run.recorder.write(frame.context, task.verifies, grounded, task_id=qid, writer=None)


async def ground_and_settle(
    run: AgentHost, task: Task, frame: Frame, qid: TaskId
) -> tuple[JsonValue, list[Draft[ClaimVerified]]] | None:
    """Ground the draft (``ground_draft``), then settle it if no model is needed
    (``settled_verdicts``): the ``ground`` node kind of ``podium.orchestrator.KINDS``."""
    await ground_draft(run, task, frame, qid)
    return settled_verdicts(run, task, frame, qid)


def settled_verdicts(
    run: AgentHost, task: Task, frame: Frame, qid: TaskId
) -> tuple[JsonValue, list[Draft[ClaimVerified]]] | None:
    """The verification when the deterministic pass settles every claim (no model call is
    needed: a claim chosen word for word from a passage is one), else None."""
    assert task.verifies is not None
    claims = draft_claims(frame.context.get(task.verifies))
    if not is_settled(claims, _sources(frame)):
        return None
    return record_verdicts(run, task, frame, qid, {"claims": []})


def questions(task: Task, frame: Frame) -> tuple[tuple[int, str], ...]:
    """The yes/no question to ask the verifier about each claim the first pass leaves open,
    with the claim's index in the draft."""
    assert task.verifies is not None
    claims = draft_claims(frame.context.get(task.verifies))
    sources = _sources(frame)
    return tuple((i, question(claims[i], sources)) for i in open_claims(claims, sources))


def record_verdicts(
    run: AgentHost, task: Task, frame: Frame, qid: TaskId, output: JsonValue
) -> tuple[JsonValue, list[Draft[ClaimVerified]]]:
    """The verification to write as the task's output, and a ``claim_verified`` per claim.

    Raises:
        TaskError: the verifier's answer is not a ``Verification``.
    """
    assert task.verifies is not None
    claims = draft_claims(frame.context.get(task.verifies))
    try:
        checks = _checks(output, claims)
    except ValidationError as exc:
        msg = (
            f"a verifying task's answer must be a podium.verifier:Verification "
            f"(give its agent that output_schema): {exc.errors()[0]['msg']}"
        )
        raise TaskError(msg, task_id=qid) from exc
    result = verdicts(claims, checks, _sources(frame))
    agent, model = _author(run, frame, task.verifies)
    events: list[Draft[ClaimVerified]] = [
        partial(
            ClaimVerified,
            task_id=qid,
            subject=frame.context.namespace + task.verifies,
            claim=check.claim,
            verdict=check.verdict,
            evidence=check.evidence,
            sources=tuple(check.sources),
            agent=agent,
            model=model,
            iteration=frame.iteration,
        )
        for check in result.claims
    ]
    return result.model_dump(mode="json"), events


def _checks(output: JsonValue, claims: list[Claim]) -> list[ClaimCheck]:
    """The verifier's verdicts: its answers by claim index (``{"answers": [{"index",
    "answer"}]}``), or a ``Verification`` whose checks carry their claim's index."""
    answers = output.get("answers") if isinstance(output, dict) else None
    if isinstance(answers, list):
        found: list[ClaimCheck] = []
        for item in answers:
            index = item.get("index") if isinstance(item, dict) else None
            if isinstance(index, int) and 0 <= index < len(claims):
                found.append(judged(index, claims[index], Judgement.model_validate(item)))
        return found
    return list(Verification.model_validate(output).claims)


def _sources(frame: Frame) -> Mapping[str, Mapping[str, Any]]:  # Any: passages as JSON
    value = frame.context.get(SOURCES_KEY)
    if not isinstance(value, dict):
        return {}
    return {k: v for k, v in value.items() if isinstance(v, dict)}


def _author(run: AgentHost, frame: Frame, key: str) -> tuple[str | None, str | None]:
    """The agent that last wrote ``key`` (grounding rewrites do not count) and its model."""
    for version in reversed(frame.context.versions(key)):
        name = version.provenance.agent
        if name is None:
            continue
        agent = frame.workflow.agent(name)
        model = run.model_for(agent, frame.workflow).name if agent is not None else None
        return name, model
    return None, None
