"""PromptCache: the KV states of an embedded model's recent prompts, reused by later calls.

llama.cpp keeps the KV cache of its previous call, and llama-cpp-python evaluates only the part
of the next prompt that differs from it. When agents take turns on the one shared model, each
call's prompt starts differently from the previous call's (another agent's system prompt and
instructions), so each call pays for its whole prompt again. ``PromptCache`` keeps the KV
state of the last few calls and, before a call, restores the one that shares the longest
prefix with its prompt when that beats what the model holds: only the rest is evaluated.

It saves only sequence 0's KV cells (``llama_state_seq_get_data``), not what
``Llama.save_state`` copies (the logits of a whole batch, 100 MB for SmolLM2); at least the
prompt's last token is always evaluated again, so sampling starts from fresh logits.
"""

from __future__ import annotations

import ctypes
from collections import OrderedDict
from collections.abc import Sequence
from typing import Final

import llama_cpp

__all__ = ["PromptCache"]

_SEQUENCE: Final = llama_cpp.llama_seq_id(0)
"""llama-cpp-python runs every call on sequence 0."""


class PromptCache:
    """The KV states of recent calls of one llama, by the tokens they hold; least recently
    used dropped first. Not thread-safe: used while holding the model.

    Args:
        capacity_bytes: how much state to keep (SmolLM2-135M takes about 23 kB a token).
    """

    def __init__(self, capacity_bytes: int = 64 * 2**20) -> None:
        self._capacity = capacity_bytes
        self._states: OrderedDict[tuple[int, ...], bytes] = OrderedDict()
        self._size = 0

    @property
    def size(self) -> int:
        """Bytes of state kept."""
        return self._size

    def restore(self, llama: llama_cpp.Llama, prompt: Sequence[int]) -> int:
        """Before a call on ``prompt``: load the saved state that shares the longest prefix with
        it, if that is longer than the prefix the model holds now.

        Returns:
            How many tokens of ``prompt`` the model need not evaluate again.
        """
        usable = len(prompt) - 1  # the last token is evaluated again for fresh logits
        held = min(_common_prefix(llama.input_ids[: llama.n_tokens].tolist(), prompt), usable)
        best, found = held, None
        for tokens in self._states:
            shared = min(_common_prefix(tokens, prompt), usable)
            if shared > best:
                best, found = shared, tokens
        if found is None:
            return held
        self._states.move_to_end(found)
        data = self._states[found]
        buffer = (ctypes.c_uint8 * len(data)).from_buffer_copy(data)
        if llama_cpp.llama_state_seq_set_data(llama.ctx, buffer, len(data), _SEQUENCE) == 0:
            llama.n_tokens = 0  # the sequence is in no known state: evaluate everything
            return 0
        llama.input_ids[: len(found)] = found
        llama.n_tokens = best  # llama-cpp-python drops the cells past it before evaluating
        return best

    def save(self, llama: llama_cpp.Llama) -> None:
        """After a call: keep the state the model holds (its prompt and answer)."""
        tokens = tuple(llama.input_ids[: llama.n_tokens].tolist())
        if not tokens:
            return
        if tokens in self._states:
            self._states.move_to_end(tokens)
            return
        size = llama_cpp.llama_state_seq_get_size(llama.ctx, _SEQUENCE)
        buffer = (ctypes.c_uint8 * size)()
        written = llama_cpp.llama_state_seq_get_data(llama.ctx, buffer, size, _SEQUENCE)
        if written == 0 or written > self._capacity:
            return
        self._states[tokens] = bytes(buffer)[:written]
        self._size += written
        while self._size > self._capacity:
            _, dropped = self._states.popitem(last=False)
            self._size -= len(dropped)


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    shared = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        shared += 1
    return shared
