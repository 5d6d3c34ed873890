"""One attempt at an agent task: prompt, model calls, tool calls, output validation.

The agent's instructions and the task's instruction are rendered over the context the agent
may read; the model is called, tools it asks for are run, and a structured answer is validated
against the agent's output schema, with the errors sent back for a bounded number of repairs.
Every model call, tool call and rejected output is an event.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal, Protocol, cast

from pydantic import BaseModel, JsonValue, ValidationError, create_model

from podium.agent import Agent
from podium.clock import Clock
from podium.engine.journal import Replay
from podium.engine.limits import Wait
from podium.engine.recorder import Draft, Recorder
from podium.errors import (
    ModelError,
    OutputValidationError,
    TaskError,
    ToolError,
    validation_problems,
)
from podium.event import Event, ModelCalled, OutputRejected, ToolCalled, ToolDenied
from podium.frozen import fast_init
from podium.grounding import Choice, choose_from, is_small_model
from podium.ids import TaskId
from podium.input_limits import non_finite
from podium.models.base import CallInfo, Message, Model, ModelRequest, ModelResponse, ToolCall
from podium.synthesis import Answer, answer_model
from podium.task import Task
from podium.template import Templates
from podium.tool import Tool, ToolContext, json_schema
from podium.untrusted import NOTICE as UNTRUSTED_NOTICE
from podium.untrusted import fence, has_fence
from podium.verifier import Judgement

__all__ = ["AgentAnswer", "AgentCall", "Attempt", "Caller", "call_agent"]


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class AgentCall:
    """Everything one attempt needs."""

    task: Task
    task_id: TaskId
    """The qualified id (``revise/draft``, ``extract[2]``) used in events."""
    agent: Agent
    model: Model
    values: Mapping[str, Any]  # Any: context values and template helpers
    templates: Templates
    """The compiled templates of the task's workflow."""
    run_id: str
    attempt: int = 1
    on_token: Callable[[str], None] | None = None
    """Receives generated text as it streams (the live view)."""
    replay: Replay | None = None
    """Recorded calls of a resumed (or replayed) task, used before any live call."""
    approve_tool: Callable[[Tool, ToolCall], Awaitable[None]] | None = None
    """Waits for (or applies) a human's decision on a tool that needs approval: returns to
    go ahead, raises ``ApprovalRequired`` to pause the run or ``ToolError`` when denied."""
    iteration: int = 0
    questions: tuple[tuple[int, str], ...] = ()
    """A verifying task's yes/no questions, one per claim still open, with the claim's index:
    each is asked on its own, and the answers come back by that index."""
    waited: Wait | None = None
    """How long this attempt waited for a concurrency slot, and on which limit (``Slotted``
    sets it; ``task_started`` records it)."""


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class AgentAnswer:
    """What the agent answered: the output and, for a router, the chosen route."""

    output: JsonValue
    chosen: TaskId | None = None
    journal: tuple[Draft[Event], ...] = ()
    """Events of the last model call, to commit with the task's output."""
    is_waiting: bool = False
    """The output awaits a human's approval (see ``podium.engine.approval``)."""
    agent: Agent | None = None
    """The agent that answered when it is not the call's (a fallback's; ``Fallbacks`` sets
    it): the task's output is written in its name."""


Caller = Callable[[AgentCall, Recorder, Clock], Awaitable[AgentAnswer]]
"""The innermost call of an attempt: run one attempt at an agent task and return its answer.

The engine's seam for *where* an attempt runs: ``call_agent`` (the default) runs it in this
process; another engine may run it elsewhere (an activity on any worker,
``podium.engine.temporal``) and hand back the answer.
A caller records the attempt's model and tool calls through ``recorder`` (the answer's
``journal`` holds the last model call's events, committed with the task's output), takes time
only from ``clock``, and raises ``TaskError`` for an expected failure (the engine retries,
reroutes or fails the task as its policy says); it is called with the task's deadline running
and a concurrency slot held.
"""


class Attempt(Protocol):
    """One way to attempt an agent task: the innermost call, or a wrapper around another.

    Every attempt wrapper (``podium.engine.wrappers``: retries, deadline, concurrency slots,
    circuit breaker, fallbacks, approvals) implements this and holds the ``Attempt`` it wraps,
    as pydantic-ai's ``FallbackModel`` wraps models; ``compose_attempt`` builds the chain.
    An expected failure is returned, not raised; ``ApprovalRequired`` (a tool call waits for
    a human) and cancellation propagate.
    """

    async def __call__(self, call: AgentCall) -> AgentAnswer | Exception:
        """Attempt ``call``'s task; its answer, or the failure that ended the attempt."""
        ...


@dataclass(slots=True)
class _Conversation:
    """The messages of one attempt, and what the agent has already done in it."""

    messages: list[Message]
    repairs: int = 0
    results: dict[str, str] = field(default_factory=dict)
    """Tool results by call (name and arguments), to spot a call the model repeats."""
    must_answer: bool = False
    tool_calls: int = 0
    """Tool calls made so far (numbers them for idempotency keys)."""
    repair_from: int | None = None
    """Where the last repair request starts in ``messages``: a new one replaces it, so the
    conversation shows only the latest invalid answer and does not outgrow the window."""


async def call_agent(call: AgentCall, recorder: Recorder, clock: Clock) -> AgentAnswer:
    """Run one attempt at an agent task.

    A model that repeats a tool call it already has the result of, or that reaches its last
    turn, is asked to answer without calling tools (small models otherwise loop).

    Raises:
        TaskError: the model failed, a tool failed, or the output stayed invalid.
    """
    if call.task.verifies is not None:
        return await _judge(call, recorder, clock)
    choice = _choice(call)
    if choice is not None and not choice.sentences:  # nothing to choose from: say so
        return AgentAnswer(output=choice.not_found())
    schema = choice.schema() if choice is not None else _output_model(call)
    talk = _Conversation(messages=_prompt(call, schema, choice))
    for turn in range(call.agent.max_turns):
        last_turn = turn == call.agent.max_turns - 1
        must_answer = talk.must_answer or last_turn
        response, journal = await _complete(call, clock, talk, schema, must_answer=must_answer)
        if response.tool_calls:
            await recorder.emit_all([journal] if journal else [])
            talk.messages += await _run_tools(call, recorder, clock, response, talk)
            continue
        if schema is None:
            return AgentAnswer(output=response.text, journal=(journal,) if journal else ())
        parsed = await _validate(call, recorder, schema, response, journal, talk)
        if parsed is not None and choice is not None:
            output = choice.answer(parsed.model_dump()["claims"])
            return AgentAnswer(output=output, journal=(journal,) if journal else ())
        if parsed is not None:
            return _answer(call, parsed, journal)
    msg = f"agent {call.agent.name!r} did not answer within {call.agent.max_turns} model calls"
    raise TaskError(msg, task_id=call.task_id)


async def _judge(call: AgentCall, recorder: Recorder, clock: Clock) -> AgentAnswer:
    """Ask each of a verifying task's questions on its own (yes or no); the answers, each
    with the index of the claim it is about, are the output.

    Raises:
        TaskError: the model failed, or an answer stayed invalid.
    """
    answers: list[JsonValue] = []
    for index, asked in call.questions:
        talk = _Conversation(messages=_prompt(call, Judgement, question=asked))
        parsed: BaseModel | None = None
        while parsed is None:  # _validate raises once the repairs are spent
            response, journal = await _complete(call, clock, talk, Judgement, must_answer=True)
            parsed = await _validate(call, recorder, Judgement, response, journal, talk)
            if parsed is not None:
                await recorder.emit_all([journal] if journal else [])
        answers.append({"index": index, **parsed.model_dump(mode="json")})
    return AgentAnswer(output={"answers": answers})


async def _validate(
    call: AgentCall,
    recorder: Recorder,
    schema: type[BaseModel],
    response: ModelResponse,
    journal: Draft[ModelCalled] | None,
    talk: _Conversation,
) -> BaseModel | None:
    """The parsed answer, or None after asking for a repair.

    Raises:
        OutputValidationError: the answer is still invalid after the repair budget.
    """
    try:
        return _finite(schema.model_validate_json(_json_part(response.text)))
    except ValidationError as exc:
        talk.repairs += 1
        errors = _errors(exc)
        rejected = partial(
            OutputRejected,
            task_id=call.task_id,
            agent=call.agent.name,
            repair=talk.repairs,
            errors=errors,
        )
        await recorder.emit_all([*([journal] if journal else []), rejected])
        if talk.repairs > call.agent.max_repairs:
            msg = (
                f"agent {call.agent.name!r} gave output that does not match its schema "
                f"after {call.agent.max_repairs} repairs: {errors}"
            )
            raise OutputValidationError(msg, task_id=call.task_id) from exc
        if talk.repair_from is not None:
            del talk.messages[talk.repair_from :]
        talk.repair_from = len(talk.messages)
        talk.messages += _repair(response.text, errors)
        return None


def _choice(call: AgentCall) -> Choice | None:
    """What a grounded task's small model chooses its claims from (``podium.grounding``)."""
    spec = call.task.grounding
    if spec is None or spec.choose == "never":
        return None
    if spec.choose == "auto" and not is_small_model(call.model.name):
        return None
    question = call.templates.render(spec.question, call.values)
    sources = call.values.get(spec.sources)
    passages: Mapping[str, object] = (
        cast("Mapping[str, object]", sources) if isinstance(sources, Mapping) else {}
    )
    return choose_from(question, passages, max_claims=spec.max_claims)


def _prompt(
    call: AgentCall,
    schema: type[BaseModel] | None,
    choice: Choice | None = None,
    *,
    question: str | None = None,
) -> list[Message]:
    """The messages that open an attempt: the agent's instructions, then the task's (or, for
    a grounded choice or one verifier question, what podium asks instead)."""
    render = call.templates.render
    system = render(call.agent.instructions, call.values) if call.agent.instructions else ""
    if not system:
        system = f"You are {call.agent.name}. {call.agent.description}".strip()
    if choice is not None or question is not None:
        user = choice.prompt() if choice is not None else question or ""
        return [Message(role="system", content=system), Message(role="user", content=user)]
    user = render(call.task.instruction, call.values)
    if call.agent.tools or has_fence(user):  # it will see, or sees, untrusted text
        system += f"\n\n{UNTRUSTED_NOTICE}"
    if call.task.routes:
        options = ", ".join(call.task.routes)
        user += f"\n\nChoose exactly one of: {options}. Give the choice and a short reason."
    if schema is not None and not is_small_model(call.model.name):  # it is shown an example
        user += "\n\nAnswer with one JSON object matching this schema:\n"
        user += json.dumps(json_schema(schema), separators=(",", ":"))
    return [Message(role="system", content=system), Message(role="user", content=user)]


async def _complete(
    call: AgentCall,
    clock: Clock,
    talk: _Conversation,
    schema: type[BaseModel] | None,
    *,
    must_answer: bool,
) -> tuple[ModelResponse, Draft[ModelCalled] | None]:
    """Call the model; return its response and the ``model_called`` event to record.

    A resumed task first replays the answers its log holds (nothing to record for those).
    """
    recorded = call.replay.next_model_response() if call.replay else None
    if recorded is not None:
        return recorded, None
    request = ModelRequest(
        messages=tuple(talk.messages),
        tools=tuple(t.spec for t in call.agent.tools),
        tool_choice="none" if must_answer else "auto",
        output_schema=json_schema(schema) if schema is not None else None,
        max_output_tokens=call.agent.max_output_tokens,
        temperature=call.agent.temperature,
        on_token=call.on_token,
        caller=CallInfo(
            run_id=call.run_id,
            task_id=call.task_id,
            agent=call.agent.name,
            attempt=call.attempt,
        ),
    )
    started = clock.monotonic()
    try:
        response = await call.model.complete(request)
    except ModelError as exc:
        exc.task_id = exc.task_id or call.task_id
        raise
    called = partial(
        ModelCalled,
        task_id=call.task_id,
        agent=call.agent.name,
        model=response.model,
        input_tokens=response.usage.input_tokens,
        output_tokens=response.usage.output_tokens,
        latency_s=clock.monotonic() - started,
        cost=response.cost,
        response=_journal(response),
    )
    return response, called


async def _run_tools(
    call: AgentCall,
    recorder: Recorder,
    clock: Clock,
    response: ModelResponse,
    talk: _Conversation,
) -> list[Message]:
    messages = [Message(role="assistant", content=response.text, tool_calls=response.tool_calls)]
    for tool_call in response.tool_calls:
        key = json.dumps([tool_call.name, tool_call.arguments], sort_keys=True)
        if key in talk.results:
            result = f"{talk.results[key]} (you already called {tool_call.name} with these "
            result += "arguments: use this result and answer)"
            talk.must_answer = True
        else:
            talk.tool_calls += 1
            result = await _run_tool(call, recorder, clock, tool_call, talk.tool_calls)
            talk.results[key] = result
        messages.append(Message(role="tool", content=result, tool_call_id=tool_call.id))
    return messages


async def _run_tool(
    call: AgentCall, recorder: Recorder, clock: Clock, tool_call: ToolCall, number: int
) -> str:
    recorded = call.replay.next_tool_result(tool_call) if call.replay else None
    if recorded is not None:  # completed before the process died: not run again
        if recorded.error is not None:
            raise ToolError(recorded.error, task_id=call.task_id)
        return fence(_as_text(recorded.result), origin=f"tool {tool_call.name}")
    tool = call.agent.tool_named(tool_call.name)
    started = clock.monotonic()
    called = partial(
        ToolCalled,
        task_id=call.task_id,
        agent=call.agent.name,
        tool=tool_call.name,
        arguments=tool_call.arguments,
    )
    if tool is None:  # an agent calls only the tools it was given: the call is not made
        names = ", ".join(t.name for t in call.agent.tools) or "none"
        error = f"agent {call.agent.name!r} has no tool {tool_call.name!r}; its tools: {names}"
        denied = partial(
            ToolDenied,
            task_id=call.task_id,
            agent=call.agent.name,
            tool=tool_call.name,
            arguments=tool_call.arguments,
            reason=error,
        )
        await recorder.emit(denied)
        return f"error: {error}"
    if tool.approval is not None and call.approve_tool is not None:
        await call.approve_tool(tool, tool_call)
    context = ToolContext(
        run_id=call.run_id,
        task_id=call.task_id,
        idempotency_key=f"{call.run_id}/{call.task_id}#{call.iteration}/{tool_call.name}/{number}",
        may_be_repeat=call.replay is not None and not call.replay.is_strict,
    )
    try:
        result = await tool.call(tool_call.arguments, context)
    except ToolError as exc:
        exc.task_id = call.task_id
        await recorder.emit(
            partial(called, error=exc.message, latency_s=clock.monotonic() - started)
        )
        raise
    await recorder.emit(partial(called, result=result, latency_s=clock.monotonic() - started))
    return fence(_as_text(result), origin=f"tool {tool_call.name}")


def _as_text(result: JsonValue) -> str:
    return result if isinstance(result, str) else json.dumps(result, ensure_ascii=False)


def _output_model(call: AgentCall) -> type[BaseModel] | None:
    if call.task.routes:
        choice: Any = Literal[tuple(call.task.routes)]  # Any: a Literal built at run time
        return create_model(
            "RouteChoice",
            choice=(choice, ...),
            reason=(str, ...),
        )
    schema = call.agent.output_schema
    grounding = call.task.grounding
    if grounding is not None and schema is not None and issubclass(schema, Answer):
        return answer_model(grounding.max_claims)  # claims written by a larger model
    return schema


def _answer(call: AgentCall, parsed: BaseModel, journal: Draft[ModelCalled] | None) -> AgentAnswer:
    output = parsed.model_dump(mode="json")
    chosen = TaskId(output["choice"]) if call.task.routes else None
    return AgentAnswer(output=output, chosen=chosen, journal=(journal,) if journal else ())


def _json_part(text: str) -> str:
    """The JSON object in ``text``, tolerating a Markdown fence or prose around it."""
    start, end = text.find("{"), text.rfind("}")
    return text[start : end + 1] if 0 <= start < end else text


def _finite(parsed: BaseModel) -> BaseModel:
    """``parsed``, unless a number in it is NaN or infinite (JSON has none; the log could not
    keep it).

    Raises:
        ValidationError: where the non-finite number is, to send back for repair.
    """
    where = non_finite(parsed.model_dump())
    if where is None:
        return parsed
    loc = tuple(int(p) if p.isdigit() else p for p in where.split(".")) if where else ()
    error = {"type": "finite_number", "loc": loc, "input": None}
    raise ValidationError.from_exception_data(type(parsed).__name__, [error])  # pyright: ignore[reportArgumentType]


def _errors(exc: ValidationError) -> str:
    return "; ".join(validation_problems(exc))


def _repair(text: str, errors: str) -> list[Message]:
    return [
        Message(role="assistant", content=text),
        Message(
            role="user",
            content=f"That answer is invalid: {errors}. Answer again with the JSON object only.",
        ),
    ]


def _journal(response: ModelResponse) -> JsonValue:
    calls: list[JsonValue] = [
        {"id": c.id, "name": c.name, "arguments": c.arguments} for c in response.tool_calls
    ]
    return {"text": response.text, "tool_calls": calls}
