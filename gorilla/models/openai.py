"""The `openai` backend: any OpenAI-compatible endpoint (vLLM, llama.cpp server, TGI, hosted APIs).

Scale comes from the server; this side only has to be a good client: a bounded number of requests
in flight, timeouts, retries with exponential backoff on 429/5xx (honouring Retry-After), and one
clear line when the key is wrong or nothing listens at the URL.

Constrained decoding (`allowed_calls`) cannot be enforced token by token on a generic endpoint.
vLLM can enforce a regular expression (its structured outputs), so with `guided="vllm"` the whole
answer is constrained to Gorilla's marker format with `api_call` one of the allowed calls;
`guided="vllm-legacy"` sends the same regex as `guided_regex` (vLLM before 0.12). With
`guided="off"` (the default) a request with `allowed_calls` raises GorillaError.
"""

from __future__ import annotations

import email.utils
import os
import random
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx

from gorilla.errors import GorillaError
from gorilla.models.base import Backend, Decoding
from gorilla.prompting import FIELDS, chat_messages

RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
MODES = ("chat", "completions")
GUIDED = ("off", "vllm", "vllm-legacy")


@dataclass(frozen=True)
class OpenAIConfig:
    """Where the endpoint is and how hard to try. `api_key` None falls back to $OPENAI_API_KEY."""

    base_url: str = "http://127.0.0.1:8000/v1"
    model: str | None = None  # None: the endpoint's only model, from GET /models
    api_key: str | None = None
    mode: str = "chat"  # chat: /chat/completions with prompting.chat_messages; completions: /completions with the raw prompt
    timeout_s: float = 120.0
    max_retries: int = 5
    backoff_s: float = 0.5  # first retry delay; doubles each attempt, with jitter
    max_backoff_s: float = 30.0  # cap on any one wait, Retry-After included
    concurrency: int = 8
    guided: str = "off"


class OpenAIBackend(Backend):
    """`gorilla.models.base.Backend` over HTTP; thread-safe, one connection pool per backend."""

    def __init__(self, config: OpenAIConfig | None = None, **overrides: Any):
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
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._client = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(cfg.timeout_s, connect=min(10.0, cfg.timeout_s)),
            limits=httpx.Limits(max_connections=cfg.concurrency, max_keepalive_connections=cfg.concurrency),
        )
        self._model = cfg.model

    @property
    def model(self) -> str:
        """The model id sent with each request; asks the endpoint when none was given."""
        if self._model is None:
            ids = [m.get("id") for m in self._request("GET", "/models").get("data", []) if isinstance(m, dict)]
            if len(ids) != 1:
                raise GorillaError(f"{self.base_url}: pass --model, the endpoint serves "
                                   f"{', '.join(map(str, ids)) if ids else 'no models'}")
            self._model = str(ids[0])
        return self._model

    @property
    def name(self) -> str:
        return f"openai:{self._model or 'auto'}"

    def _generate(self, prompts: list[str], decoding: Decoding) -> list[str]:
        """One request per prompt, at most `concurrency` in flight; results in prompt order."""
        calls = decoding.allowed_calls
        if calls is not None and self.config.guided == "off":
            raise GorillaError("the openai backend cannot constrain api_call on a generic endpoint: pass "
                               "--constrain off (a vLLM endpoint can: OpenAIConfig(guided='vllm'), gorilla serve --guided vllm)")
        model = self.model
        bodies = [self._body(p, model, decoding.max_new_tokens, decoding.temperature, decoding.stop,
                             calls[i] if calls is not None else None)
                  for i, p in enumerate(prompts)]
        if len(bodies) == 1:
            return [self._complete(bodies[0])]
        pool = ThreadPoolExecutor(max_workers=min(self.config.concurrency, len(bodies)))
        try:
            return list(pool.map(self._complete, bodies))
        finally:
            pool.shutdown(wait=True, cancel_futures=True)  # one failure stops the requests not yet sent

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> OpenAIBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _body(self, prompt: str, model: str, max_tokens: int, temperature: float, stop: Sequence[str],
              calls: Sequence[str] | None) -> dict[str, Any]:
        body: dict[str, Any] = {"model": model, "max_tokens": max_tokens, "temperature": temperature}
        if stop:
            body["stop"] = list(stop)
        if self.config.mode == "chat":
            body["messages"] = chat_messages(prompt)
        else:
            body["prompt"] = prompt
        if calls is not None:
            regex = answer_regex(calls)
            body.update({"structured_outputs": {"regex": regex}} if self.config.guided == "vllm"
                        else {"guided_regex": regex})
        return body

    def _complete(self, body: dict[str, Any]) -> str:
        path = "/chat/completions" if self.config.mode == "chat" else "/completions"
        data = self._request("POST", path, body)
        try:
            choice = data["choices"][0]
            text = choice["message"]["content"] if self.config.mode == "chat" else choice["text"]
        except (KeyError, IndexError, TypeError):
            raise GorillaError(f"{self.base_url}{path}: unexpected response (no choices[0] text): "
                               f"{_one_line(str(data))[:200]}") from None
        return text or ""

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """One call with retries; every failure that escapes is a one-line GorillaError."""
        url = self.base_url + path
        cfg = self.config
        for attempt in range(cfg.max_retries + 1):
            last = attempt == cfg.max_retries
            try:
                r = self._client.request(method, url, json=body)
            except httpx.ConnectError as e:
                raise GorillaError(f"cannot connect to {self.base_url}: {_one_line(str(e)) or 'connection refused'}"
                                   " (is the server running? check --base-url)") from None
            except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as e:
                if last:
                    kind = "timed out" if isinstance(e, httpx.TimeoutException) else _one_line(str(e)) or type(e).__name__
                    raise GorillaError(f"{url}: {kind} after {attempt + 1} attempts "
                                       f"(timeout {cfg.timeout_s:g}s per attempt)") from None
                time.sleep(_backoff(attempt, cfg))
                continue
            if r.status_code == 200:
                try:
                    return r.json()
                except ValueError:
                    raise GorillaError(f"{url}: response is not JSON: {_one_line(r.text)[:200]}") from None
            if r.status_code in (401, 403):
                raise GorillaError(f"{url}: {r.status_code} {_error_message(r)}: check --api-key or $OPENAI_API_KEY")
            if r.status_code in RETRY_STATUS and not last:
                time.sleep(_retry_after(r, cfg) or _backoff(attempt, cfg))
                continue
            tried = f" after {attempt + 1} attempts" if r.status_code in RETRY_STATUS else ""
            raise GorillaError(f"{url}: {r.status_code} {_error_message(r)}{tried}")
        raise AssertionError("unreachable")  # the loop returns or raises on its last attempt


def answer_regex(calls: Sequence[str]) -> str:
    """Gorilla's marker format with api_call exactly one of `calls` (for vLLM's regex-guided decoding).

    The other fields are free text without `<` so a marker cannot be forged inside them; the
    call is followed directly by the provider marker, so nothing can extend it.
    """
    if not calls:
        raise GorillaError("allowed_calls: empty list of calls for a prompt")
    alternatives = "|".join(_escape(c) for c in sorted(set(calls)))
    free = "[^<]*"
    domain, call, provider, explanation, code = FIELDS
    return (f" ?<<<{domain}>>>:{free}<<<{call}>>>: ?(?:{alternatives}),? ?<<<{provider}>>>:{free}"
            f"(<<<{explanation}>>>:{free}(<<<{code}>>>:{free})?)?")


_SPECIAL = set("\\.^$*+?()[]{}|/-")


def _escape(text: str) -> str:
    """Backslash only the regex metacharacters (portable across Python, xgrammar and outlines)."""
    return "".join("\\" + c if c in _SPECIAL else c for c in text)


def _backoff(attempt: int, cfg: OpenAIConfig) -> float:
    base = min(cfg.max_backoff_s, cfg.backoff_s * 2 ** attempt)
    return base * (0.5 + random.random() / 2)  # jitter: many clients do not retry in lockstep


def _retry_after(r: httpx.Response, cfg: OpenAIConfig) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP date), capped at max_backoff_s."""
    value = r.headers.get("retry-after")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    return min(cfg.max_backoff_s, max(0.0, seconds))


def _error_message(r: httpx.Response) -> str:
    """OpenAI's {"error": {"message"}}, vLLM's {"message"}, or the reason phrase."""
    try:
        data = r.json()
    except ValueError:
        return _one_line(r.text)[:200] or r.reason_phrase
    err = data.get("error") if isinstance(data, dict) else None
    msg = err.get("message") if isinstance(err, dict) else err if isinstance(err, str) else None
    if msg is None and isinstance(data, dict):
        msg = data.get("message") or data.get("detail")
    return _one_line(str(msg))[:300] if msg else r.reason_phrase


def _one_line(text: str) -> str:
    return " ".join(text.split())
