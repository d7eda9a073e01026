"""The openai backend against small real HTTP servers on 127.0.0.1 that answer with scripted statuses.

(Its round trip against `gorilla serve` itself is in test_serve.py.)
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from gorilla.errors import GorillaError
from gorilla.models.base import Backend
from gorilla.models.openai import OpenAIBackend, OpenAIConfig
from gorilla.prompting import answer_regex, build_prompt, chat_messages, format_answer, parse_answer


class Scripted:
    """A real HTTP server that answers POSTs with the next (status, headers, body) from a script."""

    def __init__(self, script: list[tuple[int, dict[str, str], dict]]):
        self.script, self.requests, self.times = list(script), [], []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                outer.times.append(time.monotonic())
                status, headers, payload = outer.script.pop(0) if len(outer.script) > 1 else outer.script[0]
                if callable(payload):
                    payload = payload(body)
                data = json.dumps(payload).encode()
                self.send_response(status)
                for k, v in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def scripted() -> Iterator:
    servers: list[Scripted] = []

    def make(*script: tuple[int, dict[str, str], dict]) -> Scripted:
        servers.append(Scripted(list(script)))
        return servers[-1]

    yield make
    for s in servers:
        s.close()


def ok(text: str = "<<<domain>>>: d <<<api_call>>>: f() <<<api_provider>>>: p") -> tuple[int, dict, dict]:
    return 200, {}, {"choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "text": text}]}


def backend(url: str, **kw) -> OpenAIBackend:
    return OpenAIBackend(OpenAIConfig(base_url=url, model="m", api_key="sk-test", **kw))


def test_is_a_backend_and_sends_the_shared_prompt(scripted):
    srv = scripted(ok())
    b = backend(srv.url)
    assert isinstance(b, Backend)
    prompt = build_prompt("classify birds", ["{\"api_call\": \"f()\"}"])
    assert b.generate([prompt], max_new_tokens=7, stop=["###"]) == [ok()[2]["choices"][0]["message"]["content"]]
    path, headers, body = srv.requests[0]
    assert path == "/v1/chat/completions"
    assert headers["authorization"] == "Bearer sk-test"
    assert body["messages"] == chat_messages(prompt)
    assert body["messages"][1]["content"] == prompt and "Gorilla" in body["messages"][0]["content"]
    assert (body["model"], body["max_tokens"], body["temperature"], body["stop"]) == ("m", 7, 0.0, ["###"])


def test_completions_mode_and_order_under_concurrency(scripted):
    srv = scripted((200, {}, lambda body: {"choices": [{"text": body["prompt"].upper()}]}))
    prompts = [build_prompt(f"need number {i}") for i in range(12)]
    out = backend(srv.url, mode="completions", concurrency=4).generate(prompts)
    assert out == [p.upper() for p in prompts]
    assert all(path == "/v1/completions" for path, _, _ in srv.requests)


def test_api_key_from_environment(scripted, monkeypatch):
    srv = scripted(ok())
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    OpenAIBackend(OpenAIConfig(base_url=srv.url, model="m")).generate(["x"])
    assert srv.requests[0][1]["authorization"] == "Bearer sk-env"


def test_retries_5xx_and_429_then_succeeds(scripted):
    fast = {"Retry-After-Ms": "10"}  # the client's own backoff starts at 0.5 s
    srv = scripted((503, fast, {"error": {"message": "loading"}}), (500, fast, {}), (429, fast, {}), ok("fine"))
    assert backend(srv.url, max_retries=3).generate(["x"]) == ["fine"]
    assert len(srv.requests) == 4


def test_honours_retry_after(scripted):
    srv = scripted((429, {"Retry-After": "1"}, {"error": {"message": "slow down"}}), ok("fine"))
    assert backend(srv.url).generate(["x"]) == ["fine"]
    assert srv.times[1] - srv.times[0] >= 0.95  # the header's 1 s


def test_gives_up_after_max_retries_with_one_line(scripted):
    srv = scripted((502, {"Retry-After-Ms": "10"}, {"error": {"message": "bad gateway\nupstream down"}}))
    with pytest.raises(GorillaError) as e:
        backend(srv.url, max_retries=2).generate(["x"])
    assert len(srv.requests) == 3
    assert "502" in str(e.value) and "after 3 attempts" in str(e.value) and "\n" not in str(e.value)


def test_permanent_error_is_one_line_without_retry(scripted):
    srv = scripted((400, {"Retry-After": "1"}, {"object": "error", "message": "max_tokens is too large:\n 9999"}))
    with pytest.raises(GorillaError) as e:  # vLLM's error shape: {"message": ...} at the top
        backend(srv.url).generate(["x"])
    assert str(e.value) == f"{srv.url}/chat/completions: 400 max_tokens is too large: 9999"
    assert len(srv.requests) == 1


def test_401_is_one_clear_line_without_retry(scripted):
    srv = scripted((401, {}, {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}}))
    with pytest.raises(GorillaError) as e:
        backend(srv.url).generate(["x"])
    msg = str(e.value)
    assert "401" in msg and "Incorrect API key provided" in msg and "--api-key" in msg and "\n" not in msg
    assert len(srv.requests) == 1


def test_connection_refused_is_one_clear_line():
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(GorillaError) as e:  # refused is retried (a server still starting), then one line
        backend(f"http://127.0.0.1:{port}/v1", max_retries=1).generate(["x"])
    msg = str(e.value)
    assert f"cannot connect to http://127.0.0.1:{port}/v1" in msg and "--base-url" in msg and "\n" not in msg
    assert "after 2 attempts" in msg


def test_timeout_is_retried_then_one_line(scripted):
    def slow(body):
        time.sleep(0.5)
        return ok()[2]
    srv = scripted((200, {}, slow))
    with pytest.raises(GorillaError) as e:
        backend(srv.url, timeout_s=0.2, max_retries=1).generate(["x"])
    assert "timed out after 2 attempts" in str(e.value)


def test_model_is_asked_from_the_endpoint_when_not_given(scripted):
    import http.server

    class Models(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            data = json.dumps({"object": "list", "data": [{"id": "only-model"}]}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            data = json.dumps({"choices": [{"message": {"content": body["model"]}}]}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *a):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Models)
    threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True).start()
    try:
        b = OpenAIBackend(OpenAIConfig(base_url=f"http://127.0.0.1:{httpd.server_address[1]}/v1"))
        assert b.generate(["x"]) == ["only-model"] and b.name == "openai:only-model"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_allowed_calls_refused_without_guided_decoding(scripted):
    srv = scripted(ok())
    with pytest.raises(GorillaError, match="cannot constrain"):
        backend(srv.url).generate(["x"], allowed_calls=[["f()"]])
    assert srv.requests == []


@pytest.mark.parametrize("guided,key", [("vllm", "structured_outputs"), ("vllm-legacy", "guided_regex")])
def test_guided_decoding_sends_vllm_regex(scripted, guided, key):
    srv = scripted(ok())
    calls = ["torch.hub.load('pytorch/vision', 'resnet50', pretrained=True)", "pipeline('asr', model='a/b-c')"]
    backend(srv.url, guided=guided).generate(["x"], allowed_calls=[calls])
    body = srv.requests[0][2]
    regex = body[key]["regex"] if guided == "vllm" else body[key]
    assert regex == answer_regex(calls)


def test_answer_regex_admits_exactly_the_allowed_calls():
    calls = ["torch.hub.load('pytorch/vision', 'resnet50', pretrained=True)", "pipeline('asr', model='a/b-c')"]
    rx = re.compile(answer_regex(calls), re.S)
    for call in calls:
        text = " " + format_answer("Image", call, "PyTorch", "why (it fits)", "import torch\nm = 1")
        assert rx.fullmatch(text), text
        assert parse_answer(text).api_call == call
    for bad in ["torch.hub.load('pytorch/vision', 'resnet18', pretrained=True)", calls[0] + ".cuda()", "f()"]:
        assert not rx.fullmatch(format_answer("Image", bad, "PyTorch")), bad
    assert not rx.fullmatch(format_answer("Image", calls[0], "<<<api_call>>>: f()"))  # no forged second call


def test_concurrency_limit_bounds_requests_in_flight(scripted):
    lock, state = threading.Lock(), {"now": 0, "max": 0}

    def counted(body):
        with lock:
            state["now"] += 1
            state["max"] = max(state["max"], state["now"])
        time.sleep(0.05)
        with lock:
            state["now"] -= 1
        return {"choices": [{"message": {"content": body["messages"][1]["content"]}}]}

    srv = scripted((200, {}, counted))
    prompts = [f"p{i}" for i in range(12)]
    assert backend(srv.url, concurrency=3).generate(prompts) == prompts
    assert state["max"] == 3


# ---- function calling: tools out, tool_calls back ----------------------------------------------------------------


def tool_reply(*calls: tuple[str, object], content: str | None = None) -> tuple[int, dict, dict]:
    """A chat completion whose message carries `calls` as (name, arguments string or value)."""
    tool_calls = [{"id": f"call_{i}", "type": "function",
                   "function": {"name": n, "arguments": a if isinstance(a, str) else json.dumps(a)}}
                  for i, (n, a) in enumerate(calls)]
    message = {"role": "assistant", "content": content, **({"tool_calls": tool_calls} if tool_calls else {})}
    return 200, {}, {"choices": [{"index": 0, "message": message, "finish_reason": "tool_calls" if calls else "stop"}]}


def tool_request(names: tuple[str, ...] = ("get_weather", "convert"), **kw) -> object:
    from gorilla.data.functions import FunctionSpec
    from gorilla.models.base import ToolRequest

    functions = tuple(FunctionSpec.from_tool({"name": n, "description": f"{n} it", "parameters": {
        "type": "dict", "properties": {"city": {"type": "string"}}, "required": ["city"]}}) for n in names)
    return ToolRequest(({"role": "user", "content": "weather in Lisbon"},), functions, **kw)


def test_tools_go_out_and_tool_calls_come_back_decoded(scripted):
    from gorilla.data.functions import ToolCall

    srv = scripted(tool_reply(("get_weather", {"city": "Lisbon"}), ("convert", '{"city": "Paris"}')))
    calls, text = backend(srv.url).call_tools(tool_request(max_new_tokens=33))
    assert calls == [ToolCall("get_weather", {"city": "Lisbon"}), ToolCall("convert", {"city": "Paris"})]
    assert text == ""
    body = srv.requests[0][2]
    assert body["messages"] == [{"role": "user", "content": "weather in Lisbon"}] and body["max_tokens"] == 33
    assert body["tools"][0] == {"type": "function", "function": {"name": "get_weather", "description": "get_weather it",
                                "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                               "required": ["city"]}}}  # BFCL's "dict" sent as JSON Schema's object
    assert body["tool_choice"] == "auto" and "parallel_tool_calls" not in body


@pytest.mark.parametrize(("names", "kw", "choice"), [
    (("get_weather", "convert"), {"allow_none": False}, "required"),
    (("convert",), {"allow_none": False}, {"type": "function", "function": {"name": "convert"}}),
    (("get_weather", "convert"), {"parallel": False}, "auto"),
])
def test_tool_choice_and_parallel_sent_as_the_request_says(scripted, names, kw, choice):
    srv = scripted(tool_reply(content="no call needed"))
    calls, text = backend(srv.url).call_tools(tool_request(names, **kw))
    assert (calls, text) == ([], "no call needed")
    body = srv.requests[0][2]
    assert body["tool_choice"] == choice and body.get("parallel_tool_calls", True) == kw.get("parallel", True)


@pytest.mark.parametrize(("arguments", "words"), [
    ("{'city': 'Lisbon'}", "is not valid JSON"),  # Python's repr, not JSON: refused, never evaluated
    ('{"city": "Lis', "is not valid JSON"),
    ("[1, 2]", "is not a JSON object"),
    ('"Lisbon"', "is not a JSON object"),
])
def test_malformed_arguments_from_the_endpoint_are_one_clear_line(scripted, arguments, words):
    srv = scripted(tool_reply(("get_weather", arguments)))
    with pytest.raises(GorillaError) as e:
        backend(srv.url).call_tools(tool_request())
    message = str(e.value)
    assert "tool_calls[0].function.arguments" in message and words in message and "\n" not in message


def test_a_call_of_a_function_not_offered_is_refused(scripted):
    srv = scripted(tool_reply(("launch_rocket", {"city": "x"})))
    with pytest.raises(GorillaError, match=r"tool_calls\[0\]: calls 'launch_rocket', which is not among the tools"):
        backend(srv.url).call_tools(tool_request())


def test_blank_arguments_are_no_arguments_and_completions_mode_cannot_call_tools(scripted):
    from gorilla.data.functions import ToolCall

    srv = scripted(tool_reply(("get_weather", "")))
    assert backend(srv.url).call_tools(tool_request())[0] == [ToolCall("get_weather", {})]
    with pytest.raises(GorillaError, match="needs /chat/completions"):
        backend(srv.url, mode="completions").call_tools(tool_request())


def test_call_tools_sends_tools_and_reads_tool_calls(scripted):
    from gorilla.data.functions import FunctionSpec, ToolCall
    from gorilla.models.base import ToolRequest

    ping = FunctionSpec.from_tool({"name": "ping", "description": "Ping a host.", "parameters": {
        "type": "dict", "properties": {"host": {"type": "string"}}, "required": ["host"]}})
    calls = [{"id": "c1", "type": "function", "function": {"name": "ping", "arguments": '{"host": "a.org"}'}},
             {"id": "c2", "type": "function", "function": {"name": "ping", "arguments": '{"host": "b.org"}'}}]
    server = scripted((200, {}, {"choices": [{"index": 0, "message": {"role": "assistant", "content": None,
                                                                      "tool_calls": calls}}]}))
    messages = ({"role": "user", "content": "ping a.org and b.org"},)
    got = backend(server.url).call_tools(ToolRequest(messages, (ping,), allow_none=False, parallel=True))
    assert got == ([ToolCall("ping", {"host": "a.org"}), ToolCall("ping", {"host": "b.org"})], "")
    body = server.requests[0][2]
    assert body["tools"][0]["function"]["parameters"]["type"] == "object"  # BFCL's dict, normalised
    assert body["tool_choice"] == {"type": "function", "function": {"name": "ping"}}
    assert "parallel_tool_calls" not in body  # the default (true) is not sent
    bad = scripted((200, {}, {"choices": [{"index": 0, "message": {"role": "assistant", "content": None, "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "ping", "arguments": "host=a"}}]}}]}))
    with pytest.raises(GorillaError, match="is not valid JSON"):
        backend(bad.url).call_tools(ToolRequest(messages, (ping,)))
