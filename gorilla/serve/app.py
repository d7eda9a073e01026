"""An OpenAI-compatible HTTP front for the Gorilla pipeline (starlette; run it with uvicorn).

Any OpenAI client can ask Gorilla for an API call: the last user message (chat) or the prompt
(completions) is the query; the answer is Gorilla's marker text, with the parsed fields and the
ids of the retrieved documents in an extra `gorilla` object on the response.

A chat request with `tools` is function calling instead, in OpenAI's shape: the conversation and the
functions go to the answerer's `tools` method (a `ToolTurn`), and its calls come back as the message's
`tool_calls` (arguments as a JSON string), `finish_reason: "tool_calls"`; streamed, as OpenAI streams them.

The app knows nothing of models or retrieval: it is built around one injected `Answerer`
(query and token budget in, `Reply` out; `ToolTurn` in, calls out), so tests can serve a real pipeline
on a tiny model and `gorilla serve` the embedded one. Limits, all answered in OpenAI's error JSON:
  - `api_key` set: requests to /v1/* without `Authorization: Bearer <key>` get 401 (/health is open);
  - bodies over `max_body_bytes` get 413; queries over the pipeline's one bound (MAX_QUERY_BYTES) and
    `max_tokens` over `max_tokens_limit` get 400, and so do tools lists over gorilla.data.tools' bounds;
  - at most `max_concurrency` answers are computed at once and `max_queue` more wait their turn;
    beyond that a request gets 503 with Retry-After, which OpenAI clients retry;
  - a request whose client has gone is dropped when its turn comes, and one being answered is stopped at
    the next token (the answerer's `cancel` flag), so abandoned requests do not hold the model;
  - malformed bodies (invalid or too deeply nested JSON, text that is not valid Unicode) get 400, and
    anything unexpected a 500, always in OpenAI's error JSON; a stream that fails ends with an error
    event and `data: [DONE]`.
Model output is only ever returned as text, never executed.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, TypeVar

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from gorilla.data.functions import FunctionSpec, ToolCall
from gorilla.data.tools import ToolsError, read_tool_choice, read_tools
from gorilla.errors import Cancelled, GorillaError
from gorilla.pipeline import check_query
from gorilla.prompting import DOC_LEAD, INSTRUCTION_TAG, NO_CALL_REPLY, instruction_of

log = logging.getLogger("gorilla.serve")
FINISH = "stop"  # an answer is one call: constrained decoding always closes it, so it never stops for length
DISCONNECT_POLL_S = 0.05  # how often a running answer checks that its client is still there
ROLES = ("system", "developer", "user", "assistant", "tool")
T = TypeVar("T")


@dataclass
class Reply:
    """What the server sends back for one query."""

    text: str  # Gorilla's marker format
    fields: dict[str, str] = field(default_factory=dict)  # domain, api_call, api_provider, explanation, code
    retrieved: list[str] = field(default_factory=list)  # ids of the documents put in the prompt
    problems: list[str] = field(default_factory=list)  # what the parser could not recover
    hub: str | None = None
    source: str | None = None  # the retrieved document whose call the answer uses
    api_name: str | None = None  # that document's api_name
    raw: str = ""  # the model's own text, before parsing


class Answerer(Protocol):
    """The one thing the app calls; it runs in a worker thread, so it may block. `cancel()` turns True once the
    client has gone: an answerer that can, stops then and raises `gorilla.errors.Cancelled`."""

    def __call__(self, query: str, max_tokens: int, cancel: Callable[[], bool]) -> Reply: ...


@dataclass(frozen=True)
class ToolTurn:
    """One function-calling request as the answerer gets it, checked: the conversation (each message's text as
    a string; an assistant's earlier `tool_calls` and a tool message's `tool_call_id` kept), the functions, the
    tool_choice in OpenAI's spelling ("auto", "none", "required" or {"type": "function", "function": {"name"}}),
    whether several calls may be made, and the token budget."""

    messages: tuple[dict[str, Any], ...]
    functions: tuple[FunctionSpec, ...]
    tool_choice: str | dict[str, Any]
    parallel: bool
    max_tokens: int


class ToolResult(Protocol):
    """What an answerer's `tools` returns (gorilla.toolcalls.ToolAnswer is one): the calls, none for a text reply."""

    calls: list[ToolCall]
    text: str


class ToolAnswerer(Protocol):
    """An answerer that can also call tools; an app whose answerer has no `tools` method answers `tools` with 400."""

    def tools(self, turn: ToolTurn, cancel: Callable[[], bool]) -> ToolResult: ...


@dataclass(frozen=True)
class ServeConfig:
    model_id: str = "gorilla"
    api_key: str | None = None
    max_body_bytes: int = 64 * 1024
    max_tokens_limit: int = 512
    default_max_tokens: int = 80
    max_concurrency: int = 1  # one model on a CPU: parallel answers only slow each other down
    max_queue: int = 16


class ApiError(Exception):
    """An HTTP error in OpenAI's shape: {"error": {"message", "type", "param", "code"}}."""

    def __init__(self, status: int, message: str, type_: str = "invalid_request_error", param: str | None = None,
                 code: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type_, param, code
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


class Gate:
    """Admission control: `running` answers at once, `waiting` queued, the rest refused with 503; requests whose
    client left are `dropped` before they run or `cancelled` while they run."""

    def __init__(self, max_concurrency: int, max_queue: int):
        self._slots = asyncio.Semaphore(max_concurrency)
        self.capacity = max_concurrency + max_queue
        self.admitted = 0
        self.running = 0
        self.dropped = 0
        self.cancelled = 0

    def admit(self) -> None:
        if self.admitted >= self.capacity:
            raise ApiError(503, f"server busy: {self.admitted} requests in progress or queued; retry shortly",
                           "server_error", code="overloaded", headers={"Retry-After": "1"})
        self.admitted += 1

    async def run(self, fn: Callable[[Callable[[], bool]], T], gone: Callable[[], Awaitable[bool]]) -> T:
        """Call `fn(cancel)` in a worker thread once a slot is free (the caller has been admitted), unless the
        client is `gone()` by then; while it runs, a watcher sets `cancel` as soon as the client goes."""
        try:
            async with self._slots:
                if await gone():
                    self.dropped += 1
                    raise Cancelled("client gone before its turn")
                self.running += 1
                flag = threading.Event()
                watcher = asyncio.ensure_future(_watch(gone, flag))
                try:
                    return await run_in_threadpool(fn, flag.is_set)
                except Cancelled:
                    self.cancelled += 1
                    raise
                finally:
                    watcher.cancel()
                    self.running -= 1
        finally:
            self.admitted -= 1


async def _watch(gone: Callable[[], Awaitable[bool]], flag: threading.Event) -> None:
    """Set `flag` once the client has gone (polled: ASGI says so only to whoever reads the request channel)."""
    while not await gone():
        await asyncio.sleep(DISCONNECT_POLL_S)
    flag.set()


def create_app(answer: Answerer, config: ServeConfig | None = None) -> Starlette:
    """The ASGI app; `answer` is called once per request with the query and its token budget."""
    cfg = config or ServeConfig()
    return Starlette(routes=_routes(_Endpoints(answer, cfg), cfg.api_key),
                     exception_handlers={HTTPException: _http_error})


def _routes(endpoints: _Endpoints, api_key: str | None) -> list[Route]:
    """/health stays open (probes carry no key); every /v1 route needs the key when one is set."""
    return [
        Route("/health", _endpoint(endpoints.health, None), methods=["GET"]),
        Route("/v1/models", _endpoint(endpoints.models, api_key), methods=["GET"]),
        Route("/v1/chat/completions", _endpoint(endpoints.chat, api_key), methods=["POST"]),
        Route("/v1/completions", _endpoint(endpoints.completions, api_key), methods=["POST"]),
    ]


def _endpoint(handler: Callable[[Request], Any], api_key: str | None) -> Callable[[Request], Any]:
    """`handler` behind the key check, with every ApiError it raises answered in OpenAI's error JSON."""
    async def endpoint(request: Request) -> Response:
        """The handler's response, or its error as OpenAI's error JSON (never starlette's plain text)."""
        try:
            _check_key(request, api_key)
            return await handler(request)
        except ApiError as e:
            return e.response()
        except Exception:  # a bug must still answer in OpenAI's shape, not starlette's plain-text 500
            log.exception("request failed")
            return ApiError(500, "internal error; see the server log", "server_error").response()
    return endpoint


async def _http_error(request: Request, exc: Exception) -> Response:
    """Unknown routes and wrong methods, in the same error shape as everything else."""
    status = getattr(exc, "status_code", 500)
    return ApiError(status, f"{request.method} {request.url.path}: {getattr(exc, 'detail', 'error')}").response()


class _Endpoints:
    """The handlers around one answerer: request limits first, then admission through the Gate, then the answer
    as one JSON body or an SSE stream."""

    def __init__(self, answer: Answerer, cfg: ServeConfig) -> None:
        self.answer, self.cfg = answer, cfg
        self._gate: Gate | None = None

    @property
    def gate(self) -> Gate:
        """Made on first use, inside the server's event loop, where its semaphore is used."""
        if self._gate is None:
            self._gate = Gate(self.cfg.max_concurrency, self.cfg.max_queue)
        return self._gate

    async def health(self, request: Request) -> Response:
        """Liveness plus load: how many answers run and wait, so a probe sees the queue filling."""
        g = self.gate
        return JSONResponse({"status": "ok", "model": self.cfg.model_id, "running": g.running,
                             "waiting": g.admitted - g.running, "dropped": g.dropped, "cancelled": g.cancelled})

    async def models(self, request: Request) -> Response:
        """The one model served, so OpenAI clients that list models first find it."""
        return JSONResponse({"object": "list", "data": [_model_card(self.cfg.model_id)]})

    async def chat(self, request: Request) -> Response:
        """POST /v1/chat/completions: the last user message is the query."""
        return await self._complete(request, chat=True)

    async def completions(self, request: Request) -> Response:
        """POST /v1/completions: the prompt is the query."""
        return await self._complete(request, chat=False)

    async def _complete(self, request: Request, chat: bool) -> Response:
        """Both completion routes: body size, model, n, max_tokens and stream are checked, then the query is
        taken (the last user message or the prompt) and its length checked, all before the request is admitted.
        A chat request with tools (or tool_choice) is a tool turn, checked as fully before admission."""
        body = await _read_json(request, self.cfg.max_body_bytes)
        req = _parse_common(body, self.cfg)
        if chat and (body.get("tools") is not None or body.get("tool_choice") is not None):
            turn = _tool_turn(body, req)
            tools = getattr(self.answer, "tools", None)
            if tools is None:
                raise ApiError(400, "this server does not call tools", param="tools")
            return await self._respond(request, req, lambda cancel: tools(turn, cancel), chat, tools=True)
        query = (_within_query_bound(_chat_query(body.get("messages")), "the last user message") if chat
                 else _within_query_bound(_completion_query(body.get("prompt")), "prompt", "prompt"))
        return await self._respond(request, req, lambda cancel: self.answer(query, req.max_tokens, cancel), chat)

    async def _respond(self, request: Request, req: _Request, fn: Callable[[Callable[[], bool]], Any], chat: bool,
                       tools: bool = False) -> Response:
        """Admit (or refuse with 503), then run `fn(cancel)` in a worker thread once a slot is free and while the
        client is still there; its Reply (or tool result) as one body or a stream."""
        g = self.gate
        g.admit()
        work = g.run(fn, request.is_disconnected)
        if req.stream:
            return _stream_response(work, self.cfg.model_id, chat, tools)
        reply = await _guarded(work)
        model = self.cfg.model_id
        return JSONResponse(_tool_body(reply, model) if tools else _completion_body(reply, model, chat))


def _stream_response(work: Any, model_id: str, chat: bool, tools: bool = False) -> StreamingResponse:
    """The answer as server-sent events. The work runs as a task of its own, so it finishes and frees its slot
    even if the client goes away mid-stream."""
    task = asyncio.ensure_future(_guarded(work))
    task.add_done_callback(lambda t: t.cancelled() or t.exception())  # retrieve the exception: no "never retrieved"
    return StreamingResponse(_stream(task, model_id, chat, tools), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@dataclass(frozen=True)
class _Request:
    max_tokens: int
    stream: bool


def _check_key(request: Request, key: str | None) -> None:
    """401 unless the Bearer token is `key` (compared in constant time, so timing does not leak it); None: open."""
    if key is None:
        return
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), key.encode()):
        raise ApiError(401, "missing or invalid API key: send 'Authorization: Bearer <key>' "
                            "(the key given to gorilla serve --api-key)", "invalid_request_error",
                       code="invalid_api_key")


async def _read_json(request: Request, limit: int) -> dict[str, Any]:
    """The body as a JSON object, refusing (413) anything over `limit` bytes before parsing it."""
    too_big = ApiError(413, f"request body over the {limit}-byte limit (gorilla serve --max-body-bytes)",
                       code="request_too_large")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_big
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > limit:
            raise too_big
    try:
        body = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise ApiError(400, f"request body is not valid JSON: {e}") from None
    except RecursionError:  # the stdlib parser recurses once per level: 60 KB of "[" exhausts the stack
        raise ApiError(400, "request body nests JSON too deeply") from None
    if not isinstance(body, dict):
        raise ApiError(400, "request body must be a JSON object")
    return body


def _parse_common(body: dict[str, Any], cfg: ServeConfig) -> _Request:
    """The fields both completion routes share, checked against this server's limits before any work is queued."""
    model = body.get("model")
    if model is not None and model != cfg.model_id:
        raise ApiError(404, f"model {model!r} is not served here; this server serves {cfg.model_id!r}",
                       param="model", code="model_not_found")
    n = body.get("n", 1)
    if n not in (1, None):
        raise ApiError(400, "only n=1 is supported", param="n")
    key = "max_completion_tokens" if body.get("max_completion_tokens") is not None else "max_tokens"
    max_tokens = body.get(key)
    if max_tokens is None:
        max_tokens = min(cfg.default_max_tokens, cfg.max_tokens_limit)
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        raise ApiError(400, f"{key} must be a positive integer", param=key)
    if max_tokens > cfg.max_tokens_limit:
        raise ApiError(400, f"{key}={max_tokens} is over this server's limit of {cfg.max_tokens_limit} "
                            "(gorilla serve --max-tokens-limit)", param=key)
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise ApiError(400, "stream must be true or false", param="stream")
    return _Request(max_tokens=max_tokens, stream=stream)


def _chat_query(messages: Any) -> str:
    """The last user message's text (string content, or the text parts of a content list)."""
    if not isinstance(messages, list) or not messages:
        raise ApiError(400, "messages must be a non-empty list", param="messages")
    for i in range(len(messages) - 1, -1, -1):
        m = messages[i]
        if not isinstance(m, dict):
            raise ApiError(400, f"messages[{i}] must be an object", param="messages")
        if m.get("role") != "user":
            continue
        content = m.get("content")
        if isinstance(content, list):
            content = " ".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
        if not isinstance(content, str):
            raise ApiError(400, f"messages[{i}].content must be a string or a list of text parts", param="messages")
        return _query_text(content, f"messages[{i}].content")
    raise ApiError(400, "no message with role 'user' in messages", param="messages")


def _completion_query(prompt: Any) -> str:
    """The prompt's text; a one-element list is accepted, since OpenAI clients may send a batch of one."""
    if isinstance(prompt, list) and len(prompt) == 1:
        prompt = prompt[0]
    if not isinstance(prompt, str):
        raise ApiError(400, "prompt must be one string (one query per request)", param="prompt")
    return _query_text(prompt, "prompt")


def _query_text(text: str, where: str) -> str:
    """The user's need: plain text as is; a Gorilla prompt (e.g. from the openai backend) is cut to its
    instruction, since this server retrieves its own documents."""
    if INSTRUCTION_TAG in text:
        text = instruction_of(text).split(DOC_LEAD)[0]
    text = " ".join(text.split())
    if not text:
        raise ApiError(400, f"{where} is empty: send what you want to do, e.g. 'transcribe my podcast'")
    return _unicode(text, where, "messages" if where.startswith("messages") else "prompt")


def _unicode(text: str, where: str, param: str) -> str:
    """`text` when it encodes as UTF-8: JSON's "\ud800" escape decodes to a lone surrogate, which tokenizers reject."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise ApiError(400, f"{where} is not valid Unicode text (a lone surrogate at character {e.start + 1})",
                       param=param) from None
    return text


async def _guarded(work: Awaitable[T]) -> T:
    """Pipeline errors as API errors: bad input is the client's (400), anything else is ours (500)."""
    try:
        return await work
    except GorillaError as e:
        raise ApiError(400, str(e)) from None
    except Cancelled:  # nobody is left to read it; uvicorn logs the status
        raise ApiError(499, "client closed the request", code="client_closed") from None
    except Exception:
        log.exception("answer failed")
        raise ApiError(500, "internal error while answering; see the server log", "server_error") from None


async def _stream(task: asyncio.Future[Any], model_id: str, chat: bool, tools: bool = False) -> AsyncIterator[bytes]:
    """SSE: a role chunk at once, the answer once the pipeline has it (it parses whole answers), then [DONE].
    Whatever fails once the 200 has gone out ends the stream the way clients expect: an error event, then
    [DONE] (without it, OpenAI clients wait for more or raise a parse error)."""
    rid, created = _new_id(chat), int(time.time())
    if chat:  # a tool turn's role chunk says nothing of content yet: OpenAI sends content null before tool_calls
        yield _event(_chunk(rid, created, model_id, chat, {"role": "assistant", "content": None if tools else ""}, None))
    try:
        reply = await asyncio.shield(task)
        if tools:
            events = [_event(_chunk(rid, created, model_id, chat, delta, finish, extra))
                      for delta, finish, extra in _tool_deltas(reply)]
        else:
            events = [_event(_chunk(rid, created, model_id, chat, {"content": reply.text}, None)),
                      _event(_chunk(rid, created, model_id, chat, {}, FINISH, {"gorilla": _extra(reply)}))]
    except ApiError as e:
        events = [_event(e.body())]
    except Exception:
        log.exception("stream failed")
        events = [_event(ApiError(500, "internal error while answering; see the server log", "server_error").body())]
    for event in events:
        yield event
    yield b"data: [DONE]\n\n"


def _chunk(rid: str, created: int, model_id: str, chat: bool, delta: dict[str, Any], finish: str | None,
           extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """One streamed chunk in OpenAI's chat or text completion shape."""
    if chat:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        obj = {"id": rid, "object": "chat.completion.chunk", "created": created, "model": model_id, "choices": [choice]}
    else:
        choice = {"index": 0, "text": delta.get("content", ""), "finish_reason": finish, "logprobs": None}
        obj = {"id": rid, "object": "text_completion", "created": created, "model": model_id, "choices": [choice]}
    return {**obj, **(extra or {})}


def _event(obj: dict[str, Any]) -> bytes:
    """One SSE event, encoded here (strictly) so that text that cannot be sent fails inside `_stream`'s guard."""
    return f"data: {json.dumps(obj, ensure_ascii=False)}\n\n".encode()


def _completion_body(reply: Reply, model_id: str, chat: bool) -> dict[str, Any]:
    """A non-streamed answer in OpenAI's chat or text completion shape, plus the `gorilla` object."""
    if chat:
        choice = {"index": 0, "message": {"role": "assistant", "content": reply.text},
                  "finish_reason": FINISH, "logprobs": None}
        kind = "chat.completion"
    else:
        choice = {"index": 0, "text": reply.text, "finish_reason": FINISH, "logprobs": None}
        kind = "text_completion"
    return {"id": _new_id(chat), "object": kind, "created": int(time.time()), "model": model_id,
            "choices": [choice], "gorilla": _extra(reply)}


def _extra(reply: Reply) -> dict[str, Any]:
    """The `gorilla` object: the reply's fields beyond what OpenAI's choice already carries."""
    extra = asdict(reply)
    del extra["text"]
    return extra


def _model_card(model_id: str) -> dict[str, Any]:
    """The model as /v1/models lists it."""
    return {"id": model_id, "object": "model", "created": 0, "owned_by": "gorilla"}


def _new_id(chat: bool) -> str:
    """A fresh response id with OpenAI's prefix for the kind of completion."""
    return f"{'chatcmpl' if chat else 'cmpl'}-{uuid.uuid4().hex}"


# ---- tools (function calling) -------------------------------------------------------------------------------------


def _tool_turn(body: dict[str, Any], req: _Request) -> ToolTurn:
    """A chat body with tools as a ToolTurn: tools, tool_choice and parallel_tool_calls checked
    (gorilla.data.tools), the conversation checked and each user message held to the query bound."""
    if body.get("tools") is None:
        raise ApiError(400, "tool_choice is only allowed when tools are given", param="tool_choice")
    try:
        functions = read_tools(body["tools"])
        choice = read_tool_choice(body.get("tool_choice"), functions)
    except ToolsError as e:
        raise ApiError(400, str(e), param=e.field) from None
    parallel = body.get("parallel_tool_calls", True)
    if not isinstance(parallel, bool):
        raise ApiError(400, "parallel_tool_calls must be true or false", param="parallel_tool_calls")
    messages = _conversation(body.get("messages"))
    return ToolTurn(messages, functions, choice, parallel, req.max_tokens)


def _conversation(messages: Any) -> tuple[dict[str, Any], ...]:
    """The messages of a tool turn as {"role", "content": str} (plus an assistant's tool_calls, a tool
    message's tool_call_id); at least one user message, each within the query bound."""
    if not isinstance(messages, list) or not messages:
        raise ApiError(400, "messages must be a non-empty list", param="messages")
    out = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            raise ApiError(400, f"messages[{i}] must be an object", param="messages")
        role = m.get("role")
        if role not in ROLES:
            raise ApiError(400, f"messages[{i}].role must be one of {', '.join(ROLES)}, got {role!r}", param="messages")
        text = _message_text(m.get("content"), f"messages[{i}].content", optional=role == "assistant")
        if role == "user":
            _within_query_bound(text, f"messages[{i}].content")
        msg: dict[str, Any] = {"role": role, "content": text}
        if role == "assistant" and m.get("tool_calls") is not None:
            msg["tool_calls"] = _earlier_calls(m["tool_calls"], f"messages[{i}].tool_calls")
        if role == "tool":
            if not isinstance(m.get("tool_call_id"), str):
                raise ApiError(400, f"messages[{i}].tool_call_id must be a string", param="messages")
            msg["tool_call_id"] = m["tool_call_id"]
        out.append(msg)
    if not any(m["role"] == "user" for m in out):
        raise ApiError(400, "no message with role 'user' in messages", param="messages")
    return tuple(out)


def _message_text(content: Any, where: str, optional: bool) -> str:
    """A message's text: a string or the text parts of a content list; null only where OpenAI allows it (an
    assistant message that made calls). Lone surrogates are refused (tokenizers reject them)."""
    if content is None and optional:
        return ""
    if isinstance(content, list):
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    if not isinstance(content, str):
        raise ApiError(400, f"{where} must be a string or a list of text parts", param="messages")
    return _unicode(content, where, "messages")


def _within_query_bound(text: str, where: str, param: str = "messages") -> str:
    """A query within the pipeline's bound (MAX_QUERY_BYTES, the only one: the server adds none of its own),
    whitespace collapsed."""
    try:
        return check_query(text)
    except GorillaError as e:
        raise ApiError(400, f"{where}: {e}", param=param, code="query_too_long") from None


def _earlier_calls(calls: Any, where: str) -> list[dict[str, Any]]:
    """An assistant message's earlier tool_calls, checked and kept in OpenAI's shape (an endpoint behind the
    openai backend needs them to pair each tool message with its call)."""
    if not isinstance(calls, list):
        raise ApiError(400, f"{where} must be a list", param="messages")
    out = []
    for j, c in enumerate(calls):
        fn = c.get("function") if isinstance(c, dict) else None
        if not (isinstance(fn, dict) and isinstance(c.get("id"), str) and isinstance(fn.get("name"), str)
                and isinstance(fn.get("arguments"), str)):
            raise ApiError(400, f'{where}[{j}] must be {{"id", "type": "function", "function": {{"name", '
                                '"arguments": a JSON string}}}}', param="messages")
        out.append({"id": c["id"], "type": "function", "function": {"name": fn["name"], "arguments": fn["arguments"]}})
    return out


def _tool_calls(calls: Sequence[ToolCall]) -> list[dict[str, Any]]:
    """The calls as OpenAI's message.tool_calls: fresh ids, arguments as a JSON string."""
    return [{"id": f"call_{uuid.uuid4().hex[:24]}", "type": "function",
             "function": {"name": c.name, "arguments": json.dumps(c.arguments, ensure_ascii=False)}} for c in calls]


def _no_call_text(result: ToolResult) -> str:
    """The content of a turn without calls: the model's text, or a sentence where that text is the grammar's "[]"."""
    return NO_CALL_REPLY if result.text.strip() in ("", "[]") else result.text


def _tool_body(result: ToolResult, model_id: str) -> dict[str, Any]:
    """A tool turn's answer: tool_calls (content null, finish_reason "tool_calls"), or the text when no call
    was made; the model's raw text in the `gorilla` object."""
    message: dict[str, Any] = {"role": "assistant", "content": None if result.calls else _no_call_text(result)}
    if result.calls:
        message["tool_calls"] = _tool_calls(result.calls)
    choice = {"index": 0, "message": message, "finish_reason": "tool_calls" if result.calls else FINISH,
              "logprobs": None}
    return {"id": _new_id(True), "object": "chat.completion", "created": int(time.time()), "model": model_id,
            "choices": [choice], "gorilla": {"raw": result.text}}


def _tool_deltas(result: ToolResult) -> list[tuple[dict[str, Any], str | None, dict[str, Any] | None]]:
    """(delta, finish_reason, extra) of each chunk after the role chunk, as OpenAI streams calls: per call one
    chunk with index, id, type and name (arguments ""), then one with the arguments; a text reply is one
    content chunk. The last chunk carries the finish_reason and the `gorilla` object."""
    deltas: list[dict[str, Any]] = []
    for i, call in enumerate(_tool_calls(result.calls)):
        fn = call["function"]
        deltas.append({"tool_calls": [{"index": i, "id": call["id"], "type": "function",
                                       "function": {"name": fn["name"], "arguments": ""}}]})
        deltas.append({"tool_calls": [{"index": i, "function": {"arguments": fn["arguments"]}}]})
    if not result.calls:
        deltas.append({"content": _no_call_text(result)})
    finish = "tool_calls" if result.calls else FINISH
    return [(d, None, None) for d in deltas] + [({}, finish, {"gorilla": {"raw": result.text}})]
