"""Speed of the embedded model, and what ``LocalModel`` adds on top of llama.cpp.

Prints, averaged over ``RUNS`` runs each:
- tokens/second through ``LocalModel.complete``, plain and constrained by a JSON schema;
- time to first token and decode rate, from llama's streaming ``create_chat_completion``;
- LocalModel's overhead: ``LocalModel.complete`` wall time minus a raw ``create_chat_completion``
  on the same prompt with the same ``max_tokens`` and seed (same tokens generated);
- two agents taking turns on the model, each with its own long system prompt: time to first
  token and decode rate through ``LocalModel``, with its prompt cache and without
  (``prompt_cache_bytes=0``).

Run: ``python benchmarks/local_model.py``
"""

from __future__ import annotations

import asyncio
import statistics
import time
from enum import StrEnum
from typing import TYPE_CHECKING, cast

import llama_cpp
from pydantic import BaseModel

from podium.models.base import Message, ModelRequest
from podium.models.local import LocalModel, open_llama

if TYPE_CHECKING:
    from collections.abc import Iterator

    from llama_cpp.llama_types import (
        ChatCompletionRequestMessage,
        CreateChatCompletionResponse,
        CreateChatCompletionStreamResponse,
    )

RUNS = 5
MAX_TOKENS = 64
SEED = 0
TEMPERATURE = 0.2
REPEAT_PENALTY = 1.1  # what LocalModel passes, so both sides generate the same tokens
PROMPT = "Explain in a few sentences why the sky is blue."
REVIEW = "Classify: 'The pasta in Rome was wonderful and the staff were friendly.'"


class Mood(StrEnum):
    HAPPY = "happy"
    SAD = "sad"
    NEUTRAL = "neutral"


class Review(BaseModel):
    mood: Mood
    keywords: list[str]


def ask(text: str, *, constrained: bool = False) -> ModelRequest:
    schema = Review.model_json_schema() if constrained else None
    return ModelRequest(messages=(Message(role="user", content=text),), output_schema=schema)


async def tokens_per_second(model: LocalModel, request: ModelRequest) -> tuple[float, float]:
    """Return (mean output tokens per run, output tokens / wall second) over RUNS calls."""
    tokens, seconds = 0, 0.0
    for _ in range(RUNS):
        start = time.perf_counter()
        response = await model.complete(request)
        seconds += time.perf_counter() - start
        tokens += response.usage.output_tokens
    return tokens / RUNS, tokens / seconds


def raw_call(llama: llama_cpp.Llama, text: str, max_tokens: int) -> tuple[float, int]:
    """Return (wall seconds, output tokens) of one raw create_chat_completion."""
    messages = cast("list[ChatCompletionRequestMessage]", [{"role": "user", "content": text}])
    start = time.perf_counter()
    raw = cast(
        "CreateChatCompletionResponse",
        llama.create_chat_completion(
            messages=messages,
            max_tokens=max_tokens,
            seed=SEED,
            temperature=TEMPERATURE,
            repeat_penalty=REPEAT_PENALTY,
        ),
    )
    return time.perf_counter() - start, raw["usage"]["completion_tokens"]


def streamed(llama: llama_cpp.Llama, text: str) -> tuple[float, float]:
    """Return (seconds to first token, decode tokens/second) of one cold streaming call."""
    llama.reset()  # forget the cached prompt, so the first token pays for prompt processing
    messages = cast("list[ChatCompletionRequestMessage]", [{"role": "user", "content": text}])
    start = time.perf_counter()
    chunks = cast(
        "Iterator[CreateChatCompletionStreamResponse]",
        llama.create_chat_completion(
            messages=messages,
            max_tokens=MAX_TOKENS,
            seed=SEED,
            temperature=TEMPERATURE,
            repeat_penalty=REPEAT_PENALTY,
            stream=True,
        ),
    )
    arrivals = [time.perf_counter() for c in chunks if c["choices"][0]["delta"].get("content")]
    decode_rate = (len(arrivals) - 1) / (arrivals[-1] - arrivals[0]) if len(arrivals) > 1 else 0
    return arrivals[0] - start, decode_rate


async def timed_complete(model: LocalModel, text: str, max_tokens: int) -> tuple[float, int]:
    """Return (wall seconds, output tokens) of one LocalModel.complete."""
    request = ModelRequest(
        messages=(Message(role="user", content=text),), max_output_tokens=max_tokens
    )
    start = time.perf_counter()
    response = await model.complete(request)
    return time.perf_counter() - start, response.usage.output_tokens


async def overhead(model: LocalModel, llama: llama_cpp.Llama, *, max_tokens: int, runs: int) -> str:
    """Time LocalModel.complete against a raw call generating the same tokens; describe it.

    The two calls of a run alternate order, so drift in machine load cancels out.
    """
    ours: list[float] = []
    theirs: list[float] = []
    for index in range(runs):
        if index % 2:
            raw_seconds, raw_tokens = raw_call(llama, PROMPT, max_tokens)
            seconds, tokens = await timed_complete(model, PROMPT, max_tokens)
        else:
            seconds, tokens = await timed_complete(model, PROMPT, max_tokens)
            raw_seconds, raw_tokens = raw_call(llama, PROMPT, max_tokens)
        assert tokens == raw_tokens, "same prompt, seed and settings should give the same tokens"
        ours.append(seconds)
        theirs.append(raw_seconds)
    extra = [(a - b) * 1000 for a, b in zip(ours, theirs, strict=True)]
    ours_ms, theirs_ms = statistics.mean(ours) * 1000, statistics.mean(theirs) * 1000
    return (
        f"max_tokens={max_tokens:<3} x{runs}: LocalModel.complete {ours_ms:7.1f} ms,"
        f" raw call {theirs_ms:7.1f} ms, overhead"
        f" {statistics.mean(extra):+6.1f} ms mean / {statistics.median(extra):+6.1f} ms median"
    )


SYSTEMS = (
    "You are researcher, a careful analyst. " + "Cite sources, prefer numbers. " * 30,
    "You are writer, a clear technical writer. " + "Short sentences, plain words. " * 30,
)


async def turns(model: LocalModel, calls: int = 8) -> tuple[float, float]:
    """Median (seconds to first token, tokens/second after it) of agents taking turns; the
    first two calls (one per agent) are not counted."""
    ttfts, rates = [], []
    for index in range(calls):
        arrivals: list[float] = []
        request = ModelRequest(
            messages=(
                Message(role="system", content=SYSTEMS[index % 2]),
                Message(role="user", content=f"Task {index}: a few words about tides."),
            ),
            max_output_tokens=24,
            on_token=lambda _, arrivals=arrivals: arrivals.append(time.perf_counter()),
        )
        start = time.perf_counter()
        await model.complete(request)
        if index >= 2 and len(arrivals) > 1:
            ttfts.append(arrivals[0] - start)
            rates.append((len(arrivals) - 1) / (arrivals[-1] - arrivals[0]))
    return statistics.median(ttfts), statistics.median(rates)


async def main() -> None:
    model = LocalModel(max_output_tokens=MAX_TOKENS, seed=SEED)
    start = time.perf_counter()
    await model.complete(ask(PROMPT))
    first_call = time.perf_counter() - start
    llama = open_llama(model.model_path, n_ctx=2048)
    raw_call(llama, PROMPT, MAX_TOKENS)  # warm-up: page the weights in for this instance too

    plain_tokens, plain_rate = await tokens_per_second(model, ask(PROMPT))
    json_tokens, json_rate = await tokens_per_second(model, ask(REVIEW, constrained=True))
    stream = [streamed(llama, PROMPT) for _ in range(RUNS)]
    full = await overhead(model, llama, max_tokens=MAX_TOKENS, runs=RUNS)
    short = await overhead(model, llama, max_tokens=1, runs=4 * RUNS)

    print(
        f"model {model.name} ({model.model_path.name}), {RUNS} runs each, max_tokens={MAX_TOKENS}"
    )
    print(f"first LocalModel call (load + generate):        {first_call * 1000:7.1f} ms")
    print(f"LocalModel, plain text:   {plain_rate:6.1f} tokens/s ({plain_tokens:.0f} tokens/run)")
    print(f"LocalModel, JSON schema:  {json_rate:6.1f} tokens/s ({json_tokens:.0f} tokens/run)")
    print("  (output tokens / wall time of complete(), prompt processing included)")
    ttft = statistics.mean(s[0] for s in stream)
    decode = statistics.mean(s[1] for s in stream)
    print(f"raw stream, time to first token (cold prompt):  {ttft * 1000:7.1f} ms")
    print(f"raw stream, decode rate after the first token:  {decode:7.1f} tokens/s")
    print("LocalModel overhead (LocalModel.complete minus raw create_chat_completion):")
    print(f"  {full}")
    print(f"  {short}  (low-noise: almost no generation)")
    for capacity, label in ((0, "without prompt cache"), (64 * 2**20, "with prompt cache   ")):
        ttft, rate = await turns(LocalModel(seed=SEED, prompt_cache_bytes=capacity))
        line = f"first token {ttft * 1000:7.1f} ms, then {rate:5.1f} tokens/s"
        print(f"two agents taking turns, {label}: {line}")


if __name__ == "__main__":
    asyncio.run(main())
