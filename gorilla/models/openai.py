"""The `openai` backend: any OpenAI-compatible endpoint (vLLM, llama.cpp server, TGI, hosted APIs).

Scale comes from the server; this side only has to be a good client, and the `openai` library is
one: a connection pool, timeouts, and retries with exponential backoff (0.5 s doubling, at most 8 s)
on 408/409/429/5xx, timeouts and dropped connections, honouring Retry-After. A URL where nothing
listens is retried too (a server that is still starting refuses connections), so a wrong
`--base-url` fails after the retries, a few seconds at the default 2. What this module adds is
Gorilla's: at most `concurrency` requests in flight, the shared prompt as chat messages
(`gorilla.prompting`), vLLM's guided decoding through `extra_body`, and one clear line for every
failure that escapes the retries (a wrong key, nothing listening, an error status). `openai` is
imported when a backend is made, not with this module, so `gorilla --help` stays light.

Constrained decoding (`allowed_calls`) cannot be enforced token by token on a generic endpoint.
vLLM can enforce a regular expression (its structured outputs), so with `guided="vllm"` the whole
answer is constrained to Gorilla's marker format with `api_call` one of the allowed calls;
`guided="vllm-legacy"` sends the same regex as `guided_regex` (vLLM before 0.12). With
`guided="off"` (the default) a request with `allowed_calls` raises GorillaError.

Function calling (`call_tools`) is the endpoint's own: the conversation, the functions as OpenAI `tools`
and a `tool_choice` go to /chat/completions, and the `tool_calls` that come back are read as ToolCalls,
their arguments decoded with `json.loads` (an arguments string that is not a JSON object is one error).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from gorilla.data.functions import FunctionSpec, ToolCall
from gorilla.errors import GorillaError
from gorilla.models.base import Backend, Decoding, ToolRequest
from gorilla.prompting import answer_regex, chat_messages

MODES = ("chat", "completions")
GUIDED = ("off", "vllm", "vllm-legacy")
NO_KEY = "EMPTY"  # what vLLM's docs send to a server started without --api-key; the client needs some key


@dataclass(frozen=True)
class OpenAIConfig:
    """Where the endpoint is and how hard to try. `api_key` None falls back to $OPENAI_API_KEY."""

    base_url: str = "http://127.0.0.1:8000/v1"
    model: str | None = None  # None: the endpoint's only model, from GET /models
    api_key: str | None = None
    mode: str = "chat"  # chat: /chat/completions with prompting.chat_messages; completions: /completions, raw prompt
    timeout_s: float = 120.0  # per attempt
    max_retries: int = 2  # after the first attempt (the openai client's default): a wrong URL fails in seconds
    concurrency: int = 8
    guided: str = "off"


class OpenAIBackend(Backend):
    """`gorilla.models.base.Backend` over HTTP; thread-safe, one `openai.OpenAI` client per backend."""

    def __init__(self, config: OpenAIConfig | None = None, **overrides: Any):
        import openai

        cfg = config or OpenAIConfig()
        if overrides:
            cfg = OpenAIConfig(**{**cfg.__dict__, **overrides})
        if cfg.mode not in MODES:
            raise GorillaError(f"--api-mode: expected one of {', '.join(MODES)}, got {cfg.mode!r}")
        if cfg.guided not in GUIDED:
            raise GorillaError(f"--guided: expected one of {', '.join(GUIDED)}, got {cfg.guided!r}")
        if cfg.concurrency < 1:
            raise GorillaError(f"--concurrency must be at least 1, got {cfg.concurrency}")
        self.config = cfg
        self.base_url = cfg.base_url.rstrip("/")
        key = cfg.api_key if cfg.api_key is not None else os.environ.get("OPENAI_API_KEY")
        self._client = openai.OpenAI(base_url=self.base_url, api_key=key or NO_KEY, max_retries=cfg.max_retries,
                                     timeout=openai.Timeout(cfg.timeout_s, connect=min(10.0, cfg.timeout_s)))
        self._model = cfg.model

    @property
    def model(self) -> str:
        """The model id sent with each request; asks the endpoint when none was given."""
        if self._model is None:
            with self._errors("/models"):
                listed = self._client.models.list()
            ids = [getattr(m, "id", None) for m in getattr(listed, "data", None) or []]
            if len(ids) != 1 or not ids[0]:
                raise GorillaError(f"{self.base_url}: pass --model, the endpoint serves "
                                   f"{', '.join(map(str, ids)) if ids else 'no models'}")
            self._model = str(ids[0])
        return self._model

    @property
    def name(self) -> str:
        """`openai:<model>` in manifests; "auto" until the endpoint was asked which model it serves."""
        return f"openai:{self._model or 'auto'}"

    def _generate(self, prompts: list[str], decoding: Decoding) -> list[str]:
        """One request per prompt, at most `concurrency` in flight; results in prompt order."""
        calls = decoding.allowed_calls
        if calls is not None and self.config.guided == "off":
            raise GorillaError("the openai backend cannot constrain api_call on a generic endpoint: pass "
                               "--constrain off (a vLLM endpoint can: OpenAIConfig(guided='vllm'), gorilla serve --guided vllm)")
        model = self.model
        bodies = [self._body(p, model, decoding, calls[i] if calls is not None else None) for i, p in enumerate(prompts)]

        def send(body: dict[str, Any]) -> str:
            """One request, unless the caller withdrew the batch meanwhile (a request sent runs to its end)."""
            decoding.check_cancel()
            return self._complete(body)

        if len(bodies) == 1:
            return [send(bodies[0])]
        pool = ThreadPoolExecutor(max_workers=min(self.config.concurrency, len(bodies)))
        try:
            return list(pool.map(send, bodies))
        finally:
            pool.shutdown(wait=True, cancel_futures=True)  # one failure stops the requests not yet sent

    def call_tools(self, request: ToolRequest) -> tuple[list[ToolCall], str]:
        """(calls, the message's text) from one /chat/completions request with the functions as `tools`."""
        if self.config.mode != "chat":
            raise GorillaError("--api-mode completions cannot call tools: function calling needs /chat/completions")
        request.check_cancel()
        body: dict[str, Any] = {"model": self.model, "max_tokens": request.max_new_tokens, "temperature": 0.0,
                                "messages": [dict(m) for m in request.messages]}
        if request.functions:
            body["tools"] = [_tool(f) for f in request.functions]
            body["tool_choice"] = _tool_choice(request)
            if not request.parallel:  # sent only when off: servers that do not know the field still work by default
                body["parallel_tool_calls"] = False
        with self._errors("/chat/completions"):
            out = self._client.chat.completions.create(**body)
        try:
            message = out.choices[0].message
        except (AttributeError, IndexError, TypeError):
            raise GorillaError(f"{self.base_url}/chat/completions: unexpected response (no choices[0].message): "
                               f"{_one_line(str(out))[:200]}") from None
        names = [f.name for f in request.functions]
        calls = [self._read_call(c, i, names) for i, c in enumerate(message.tool_calls or [])]
        return calls, message.content or ""

    def _read_call(self, call: Any, i: int, names: Sequence[str]) -> ToolCall:
        """One of the endpoint's tool_calls as a ToolCall: a function among the tools, arguments a JSON object
        (a blank string counts as no arguments); anything else is one line naming the call."""
        where = f"{self.base_url}/chat/completions: tool_calls[{i}]"
        fn = getattr(call, "function", None)
        name, text = getattr(fn, "name", None), getattr(fn, "arguments", None)
        if name not in names:
            raise GorillaError(f"{where}: calls {name!r}, which is not among the tools ({', '.join(names)})")
        if not isinstance(text, str):
            raise GorillaError(f"{where}.function.arguments: expected a JSON string, got {type(text).__name__}")
        try:
            arguments = json.loads(text) if text.strip() else {}
        except ValueError as e:
            raise GorillaError(f"{where}.function.arguments is not valid JSON ({e}): {_one_line(text)[:200]}") from None
        if not isinstance(arguments, dict):
            raise GorillaError(f"{where}.function.arguments is not a JSON object: {_one_line(text)[:200]}")
        return ToolCall(name, arguments)

    def close(self) -> None:
        """Close the client's connection pool (the `with` form does it)."""
        self._client.close()

    def __enter__(self) -> OpenAIBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _body(self, prompt: str, model: str, decoding: Decoding, calls: Sequence[str] | None) -> dict[str, Any]:
        """The request's arguments: the shared prompt (as chat messages in chat mode) and vLLM's regex."""
        body: dict[str, Any] = {"model": model, "max_tokens": decoding.max_new_tokens,
                                "temperature": decoding.temperature}
        if decoding.stop:
            body["stop"] = list(decoding.stop)
        if self.config.mode == "chat":
            body["messages"] = chat_messages(prompt)
        else:
            body["prompt"] = prompt
        if calls is not None:
            if not calls:
                raise GorillaError("allowed_calls: empty list of calls for a prompt")
            regex = answer_regex(calls)
            body["extra_body"] = ({"structured_outputs": {"regex": regex}} if self.config.guided == "vllm"
                                  else {"guided_regex": regex})
        return body

    def _complete(self, body: dict[str, Any]) -> str:
        """One prompt's text; a response without it is one line, not an AttributeError deep in a thread."""
        chat = self.config.mode == "chat"
        path = "/chat/completions" if chat else "/completions"
        with self._errors(path):
            out = (self._client.chat.completions if chat else self._client.completions).create(**body)
        try:
            choice = out.choices[0]
            text = choice.message.content if chat else choice.text
        except (AttributeError, IndexError, KeyError, TypeError):
            raise GorillaError(f"{self.base_url}{path}: unexpected response (no choices[0] text): "
                               f"{_one_line(str(out))[:200]}") from None
        return text or ""

    @contextmanager
    def _errors(self, path: str) -> Iterator[None]:
        """Whatever the client raises once its retries are spent becomes a one-line GorillaError."""
        import openai

        url, cfg = self.base_url + path, self.config
        attempts = f"after {cfg.max_retries + 1} attempts"
        try:
            yield
        except openai.APITimeoutError:
            raise GorillaError(f"{url}: timed out {attempts} (timeout {cfg.timeout_s:g}s per attempt)") from None
        except openai.APIConnectionError as e:
            cause = _one_line(str(e.__cause__ or "")) or "connection refused"
            raise GorillaError(f"cannot connect to {self.base_url}: {cause} ({attempts}; is the server running? "
                               "check --base-url)") from None
        except (openai.AuthenticationError, openai.PermissionDeniedError) as e:
            raise GorillaError(f"{url}: {e.status_code} {_error_message(e)}: check --api-key or $OPENAI_API_KEY") from None
        except openai.APIStatusError as e:
            tried = f" {attempts}" if _retried(e.status_code) else ""
            raise GorillaError(f"{url}: {e.status_code} {_error_message(e)}{tried}") from None
        except openai.APIError as e:  # e.g. a 200 whose body is not the JSON a completion is
            raise GorillaError(f"{url}: {_one_line(str(e))[:200]}") from None


def _tool(spec: FunctionSpec) -> dict[str, Any]:
    """A function as an OpenAI tool."""
    return {"type": "function", "function": {"name": spec.name, "description": spec.description,
                                             "parameters": spec.parameters}}


def _tool_choice(request: ToolRequest) -> str | dict[str, Any]:
    """OpenAI's tool_choice for a request: "auto" when answering without a call is allowed, the function when exactly
    one must be called, else "required"."""
    if request.allow_none:
        return "auto"
    if len(request.functions) == 1:
        return {"type": "function", "function": {"name": request.functions[0].name}}
    return "required"


def _retried(status: int) -> bool:
    """The statuses the openai client retries before giving up (so the message can say so)."""
    return status in (408, 409, 429) or status >= 500


def _error_message(e: Any) -> str:
    """OpenAI's {"error": {"message"}} (the client unwraps "error"), vLLM's {"message"}, FastAPI's
    {"detail"}, a plain-text body, or the reason phrase."""
    body = e.body
    msg = body.get("message") or body.get("detail") if isinstance(body, Mapping) else body
    return _one_line(str(msg))[:300] if msg else e.response.reason_phrase


def _one_line(text: str) -> str:
    """Server text folded to one line: every GorillaError is one line on the terminal."""
    return " ".join(text.split())
