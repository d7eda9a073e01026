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
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from gorilla.data.functions import ToolCall
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
        """The endpoint's own function calling: the functions as OpenAI `tools`, the tool_choice they stand for
        ("auto" when no call is allowed, the one function by name, else "required"), and its `tool_calls` read
        back (arguments are JSON text; text that is not one JSON object is one GorillaError)."""
        request.check_cancel()
        tools = [{"type": "function", "function": {"name": f.name, "description": f.description,
                                                   "parameters": f.parameters}} for f in request.functions]
        if request.allow_none:
            choice: Any = "auto"
        elif len(tools) == 1:
            choice = {"type": "function", "function": {"name": request.functions[0].name}}
        else:
            choice = "required"
        body = {"model": self.model, "messages": [dict(m) for m in request.messages], "tools": tools,
                "tool_choice": choice, "parallel_tool_calls": request.parallel, "temperature": 0.0,
                "max_tokens": request.max_new_tokens}
        path = "/chat/completions"
        with self._errors(path):
            out = self._client.chat.completions.create(**body)
        try:
            message = out.choices[0].message
        except (AttributeError, IndexError, TypeError):
            raise GorillaError(f"{self.base_url}{path}: unexpected response (no choices[0].message)") from None
        return [_tool_call(c, self.base_url + path) for c in message.tool_calls or []], message.content or ""

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


def _tool_call(call: Any, where: str) -> ToolCall:
    """One of a response's `tool_calls` as a ToolCall (its arguments parsed from their JSON text)."""
    function = getattr(call, "function", None)
    name, text = getattr(function, "name", None), getattr(function, "arguments", None) or "{}"
    try:
        arguments = json.loads(text)
    except ValueError:
        arguments = None
    if not isinstance(name, str) or not isinstance(arguments, dict):
        raise GorillaError(f"{where}: a tool call without a name or JSON object arguments: {_one_line(str(text))[:200]}")
    return ToolCall(name, arguments)


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
