"""PromptCache on the real embedded model: a call restored from a saved state reuses its
prefix and answers exactly what it answers from scratch (slow: it generates on CPU)."""

from __future__ import annotations

from collections.abc import Iterator

import llama_cpp
import pytest

from podium.models.local import (
    _default_model_path,  # pyright: ignore[reportPrivateUsage]
    open_llama,
)
from podium.models.prompt_cache import PromptCache

pytestmark = pytest.mark.slow

SYSTEM_A = "You are a careful analyst. " + "Cite sources and prefer numbers. " * 12
SYSTEM_B = "You are a clear writer. " + "Use short sentences and plain words. " * 12


@pytest.fixture(scope="module")
def llama() -> Iterator[llama_cpp.Llama]:
    model = open_llama(_default_model_path(), n_ctx=1024)
    yield model
    model.close()


def tokens(llama: llama_cpp.Llama, text: str) -> list[int]:
    return llama.tokenize(text.encode())


def answer(llama: llama_cpp.Llama, prompt: list[int]) -> str:
    done = llama.create_completion(prompt, max_tokens=8, temperature=0.0, seed=0)
    return done["choices"][0]["text"]  # type: ignore[index]


def test_a_turn_after_another_agent_reuses_its_own_prefix(llama: llama_cpp.Llama) -> None:
    cache = PromptCache()
    first = tokens(llama, SYSTEM_A + "Question: what are tides?")
    other = tokens(llama, SYSTEM_B + "Question: what is rain?")
    again = tokens(llama, SYSTEM_A + "Question: what is wind?")
    system = len(tokens(llama, SYSTEM_A))
    for prompt in (first, other):
        answer(llama, prompt)
        cache.save(llama)

    reused = cache.restore(llama, again)
    cached = answer(llama, again)
    llama.reset()  # nothing held: the prompt is evaluated from scratch
    fresh = answer(llama, again)

    assert reused >= system - 1  # the system prompt (tokenization may merge its last token)
    assert reused < len(again)
    assert cached == fresh


def test_the_least_recently_used_state_goes_first(llama: llama_cpp.Llama) -> None:
    first = tokens(llama, SYSTEM_A + "Question: what are tides?")
    answer(llama, first)
    probe = PromptCache()
    probe.save(llama)
    cache = PromptCache(capacity_bytes=probe.size + probe.size // 2)
    cache.save(llama)
    answer(llama, tokens(llama, SYSTEM_B + "Question: what is rain?"))
    cache.save(llama)  # over capacity: the first state is dropped

    system = len(tokens(llama, SYSTEM_A))
    assert cache.size < 2 * probe.size
    assert cache.restore(llama, tokens(llama, SYSTEM_A + "Question: what is wind?")) < system // 2
