"""Function calling through `gorilla serve`: OpenAI's `tools` on a real server on 127.0.0.1, answered by the tiny
random LLaMA under the call grammar (gorilla.toolcalls), spoken to by the real `openai` client, and by our own
openai backend in front of it (a second server whose model is the first one: the round trip)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from conftest import schema_problem, serving

from gorilla.errors import Cancelled
from gorilla.prompting import NO_CALL_REPLY
from gorilla.serve import Reply, ServeConfig, create_app
from gorilla.serve.app import ToolTurn

KEY = "sk-gorilla-tools"
MODEL = "gorilla-tiny"
WEATHER = "What's the weather going to be in Lisbon for the next 3 days?"
TOOLS = [
    {"type": "function", "function": {
        "name": "get_weather", "description": "Get the weather forecast for a city for the next days.",
        "parameters": {"type": "object", "properties": {
            "city": {"type": "string", "description": "The city, e.g. Paris."},
            "days": {"type": "integer", "description": "How many days ahead."},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
            "required": ["city", "days"]}}},
    {"type": "function", "function": {
        "name": "convert_currency", "description": "Convert an amount of money from one currency to another.",
        "parameters": {"type": "object", "properties": {
            "amount": {"type": "number"}, "from_currency": {"type": "string"}, "to_currency": {"type": "string"}},
            "required": ["amount", "from_currency", "to_currency"]}}},
    {"type": "function", "function": {
        "name": "set_alarm", "description": "Set an alarm clock.",
        "parameters": {"type": "object", "properties": {
            "time": {"type": "string", "description": "HH:MM"},
            "weekdays": {"type": "array", "items": {"type": "string", "enum": ["mon", "tue", "wed", "thu", "fri"]}},
            "repeat": {"type": "boolean"}},
            "required": ["time", "weekdays", "repeat"]}}},
]
SCHEMAS = {t["function"]["name"]: t["function"]["parameters"] for t in TOOLS}


def check_arguments(args: Any, schema: dict[str, Any], where: str) -> None:
    """A call's arguments satisfy its schema: an object, every required key, no unknown key, each value typed."""
    assert isinstance(args, dict), where
    assert (problem := schema_problem(args, schema)) is None, f"{where}: {problem}"


def check_calls(calls: Any) -> list[tuple[str, dict[str, Any]]]:
    """OpenAI tool_calls as the client parsed them: ids, type, a known function, arguments a JSON string whose
    object fits the function's schema; returned as (name, arguments)."""
    out = []
    assert calls, "no tool_calls"
    for c in calls:
        assert c.id.startswith("call_") and c.type == "function" and c.function.name in SCHEMAS
        assert isinstance(c.function.arguments, str)
        args = json.loads(c.function.arguments)
        check_arguments(args, SCHEMAS[c.function.name], c.function.name)
        out.append((c.function.name, args))
    return out


@pytest.fixture(scope="module")
def answer(data_dir, tiny):
    """The real answerer: the pipeline (BM25 over torchhub, for requests without tools) and, for tool turns,
    gorilla.toolcalls on the same tiny LLaMA."""
    from gorilla.pipeline import Gorilla, PipelineConfig
    from gorilla.serve.answer import PipelineAnswerer

    config = PipelineConfig(hub="torchhub", retriever="bm25", k=1, constrain="off", max_new_tokens=16,
                            data_dir=str(data_dir))
    return PipelineAnswerer(Gorilla(config, backend=tiny))


@pytest.fixture(scope="module")
def base_url(answer) -> Iterator[str]:
    cfg = ServeConfig(model_id=MODEL, api_key=KEY, max_tokens_limit=96, default_max_tokens=64)
    with serving(create_app(answer, cfg)) as url:
        yield url


@pytest.fixture
def client(base_url) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url, api_key=KEY, max_retries=0, timeout=60)


def ask(client: openai.OpenAI, content: str = WEATHER, **kw: Any) -> Any:
    return client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": content}],
                                          tools=TOOLS, **kw)


def test_auto_answers_with_tool_calls_that_fit_their_schemas(client):
    r = ask(client)
    choice = r.choices[0]
    assert r.object == "chat.completion" and choice.finish_reason == "tool_calls"
    assert choice.message.role == "assistant" and choice.message.content is None
    check_calls(choice.message.tool_calls)
    assert r.model_extra["gorilla"]["raw"].startswith("[")  # the model's own text, kept beside the calls


def test_required_named_and_none(client):
    for request in (WEATHER, "Convert 250 US dollars to euros", "Wake me at 07:30 on weekdays"):
        check_calls(ask(client, request, tool_choice="required").choices[0].message.tool_calls)
    named = ask(client, tool_choice={"type": "function", "function": {"name": "set_alarm"}})
    assert {name for name, _ in check_calls(named.choices[0].message.tool_calls)} == {"set_alarm"}
    none = ask(client, tool_choice="none").choices[0]
    assert none.finish_reason == "stop" and not none.message.tool_calls and none.message.content == NO_CALL_REPLY


def test_parallel_tool_calls_false_gives_one_call(client):
    for choice in ("required", {"type": "function", "function": {"name": "convert_currency"}}):
        r = ask(client, "Convert 10, 20 and 30 dollars to euros", tool_choice=choice, parallel_tool_calls=False)
        assert len(check_calls(r.choices[0].message.tool_calls)) == 1


def test_a_conversation_with_earlier_calls_and_their_results(client):
    messages = [{"role": "system", "content": "You call functions."},
                {"role": "user", "content": "Convert 250 US dollars to euros"},
                {"role": "assistant", "content": None, "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {
                        "name": "convert_currency",
                        "arguments": '{"amount": 250, "from_currency": "USD", "to_currency": "EUR"}'}}]},
                {"role": "tool", "tool_call_id": "call_1", "content": '{"result": 231.5}'},
                {"role": "user", "content": WEATHER}]
    r = client.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS, tool_choice="required")
    check_calls(r.choices[0].message.tool_calls)


def test_streaming_reassembles_into_the_same_calls(client, base_url):
    whole = check_calls(ask(client, tool_choice="required").choices[0].message.tool_calls)
    with client.chat.completions.stream(model=MODEL, messages=[{"role": "user", "content": WEATHER}], tools=TOOLS,
                                        tool_choice="required") as stream:
        for _ in stream:
            pass
        final = stream.get_final_completion()
    assert final.choices[0].finish_reason == "tool_calls"
    assert check_calls(final.choices[0].message.tool_calls) == whole  # greedy: the same calls, streamed or not
    body = {"model": MODEL, "messages": [{"role": "user", "content": WEATHER}], "tools": TOOLS,
            "tool_choice": "required", "stream": True}
    with httpx.stream("POST", f"{base_url}/chat/completions", json=body, timeout=60,
                      headers={"Authorization": f"Bearer {KEY}"}) as r:
        lines = [line for line in r.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line.removeprefix("data: ")) for line in lines[:-1]]
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert deltas[0] == {"role": "assistant", "content": None}
    first = deltas[1]["tool_calls"][0]  # index, id, type and name first; arguments follow
    assert first["index"] == 0 and first["id"].startswith("call_") and first["type"] == "function"
    assert first["function"] == {"name": whole[0][0], "arguments": ""}
    assert json.loads(deltas[2]["tool_calls"][0]["function"]["arguments"]) == whole[0][1]
    assert [c["choices"][0]["finish_reason"] for c in chunks] == [None] * (len(chunks) - 1) + ["tool_calls"]


def test_streaming_none_is_a_text_reply(client):
    stream = ask(client, tool_choice="none", stream=True)
    chunks = list(stream)
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert not any(c.choices[0].delta.tool_calls for c in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == NO_CALL_REPLY  # a sentence, not "[]"


def test_without_tools_the_answer_is_unchanged(client, answer):
    query = "I want to classify the birds in my garden photos"
    r = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": query}], max_tokens=16)
    assert r.choices[0].message.content == answer(query, 16).text and not r.choices[0].message.tool_calls
    assert r.choices[0].finish_reason == "stop" and "retrieved" in r.model_extra["gorilla"]


def fn(name: str = "f", **kw: Any) -> dict[str, Any]:
    return {"type": "function", "function": {"name": name, **kw}}


BAD = [  # (what the body gets, the param the 400 names, a word of its message)
    ({"tools": {"a": 1}}, "tools", "expected a list"),
    ({"tools": []}, "tools", "empty list"),
    ({"tools": [fn(str(i)) for i in range(65)]}, "tools", "at most 64"),
    ({"tools": [{"type": "web_search"}]}, "tools[0].type", "only 'function'"),
    ({"tools": [{"type": "function"}]}, "tools[0].function", "expected an object"),
    ({"tools": [fn("get weather")]}, "tools[0].function.name", "letters, digits"),
    ({"tools": [fn(), fn()]}, "tools[1].function.name", "given twice"),
    ({"tools": [fn(parameters=[1])]}, "tools[0].function", "parameters"),
    ({"tools": [fn(description="x" * 20_000)]}, "tools[0]", "bytes"),
    ({"tools": [fn()], "tool_choice": "sometimes"}, "tool_choice", "expected one of"),
    ({"tools": [fn()], "tool_choice": {"type": "function", "function": {"name": "g"}}},
     "tool_choice.function.name", "no tool named 'g'"),
    ({"tool_choice": "auto"}, "tool_choice", "only allowed when tools"),
    ({"tools": [fn()], "parallel_tool_calls": "yes"}, "parallel_tool_calls", "true or false"),
    ({"tools": [fn()], "messages": [{"role": "tool", "content": "x"}]}, "messages", "tool_call_id"),
    ({"tools": [fn()], "messages": [{"role": "wizard", "content": "x"}]}, "messages", "role must be"),
    ({"tools": [fn()], "messages": [{"role": "system", "content": "x"}]}, "messages", "no message with role 'user'"),
    ({"tools": [fn()], "messages": [{"role": "user", "content": "y" * 3000}]}, "messages", "bytes"),
    ({"tools": [fn()], "messages": [{"role": "assistant", "content": None, "tool_calls": [{"id": 1}]},
                                    {"role": "user", "content": "x"}]}, "messages", "tool_calls[0]"),
]


@pytest.mark.parametrize("stream", [False, True])
def test_bad_tools_are_400s_in_openai_shape(base_url, stream):
    auth = {"Authorization": f"Bearer {KEY}"}
    for change, param, words in BAD:
        body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "stream": stream, **change}
        r = httpx.post(f"{base_url}/chat/completions", json=body, headers=auth, timeout=20)
        error = r.json()["error"]
        assert r.status_code == 400 and error["type"] == "invalid_request_error", (change, r.text)
        assert error["param"] == param and words in error["message"], (change, error)


def test_the_openai_client_raises_bad_request_on_bad_tools(client):
    with pytest.raises(openai.BadRequestError) as e:
        ask(client, tool_choice={"type": "function", "function": {"name": "nowhere"}})
    assert e.value.status_code == 400 and e.value.body["param"] == "tool_choice.function.name"


def test_tool_requests_need_the_key(base_url):
    r = httpx.post(f"{base_url}/chat/completions", json={"messages": [{"role": "user", "content": WEATHER}],
                                                         "tools": TOOLS})
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"


def test_tool_decoding_stops_when_cancelled(answer):
    from gorilla.data.tools import read_tools

    turn = ToolTurn(({"role": "user", "content": WEATHER},), read_tools(TOOLS), "required", True, 96)
    polls: list[int] = []

    def cancel() -> bool:
        polls.append(1)
        return len(polls) > 2

    with pytest.raises(Cancelled):
        answer.tools(turn, cancel)
    assert len(polls) <= 4  # stopped at once, not after 96 tokens


class Held:
    """An answerer whose tool turns take until released or cancelled (the gate's and the watcher's side)."""

    def __init__(self) -> None:
        self.started, self.release, self.stopped = threading.Semaphore(0), threading.Event(), []

    def __call__(self, query: str, max_tokens: int, cancel=None) -> Reply:
        return Reply(text=query)

    def tools(self, turn: ToolTurn, cancel) -> Any:
        self.started.release()
        while not self.release.wait(0.01):
            if cancel():
                self.stopped.append(turn.messages[-1]["content"])
                raise Cancelled
        from gorilla.data.functions import ToolCall
        from gorilla.toolcalls import ToolAnswer

        return ToolAnswer([ToolCall(turn.functions[0].name, {"query": turn.messages[-1]["content"]})], "")


def test_tool_turns_pass_the_gate_and_are_cancelled_when_their_client_leaves():
    held = Held()
    body = {"messages": [{"role": "user", "content": "abandoned"}], "tools": [fn("search")]}
    with serving(create_app(held, ServeConfig(max_concurrency=1, max_queue=0))) as url:
        port = int(url.split(":")[2].split("/")[0])
        raw = json.dumps(body).encode()
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: " + str(len(raw)).encode() + b"\r\n\r\n" + raw)
        assert held.started.acquire(timeout=10)
        r = httpx.post(f"{url}/chat/completions", json={**body, "messages": [{"role": "user", "content": "x"}]})
        assert r.status_code == 503 and r.json()["error"]["code"] == "overloaded"  # the one slot is taken
        s.close()
        deadline = time.monotonic() + 10
        while httpx.get(url.removesuffix("/v1") + "/health").json()["cancelled"] < 1:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        held.release.set()
        r = httpx.post(f"{url}/chat/completions", json={**body, "messages": [{"role": "user", "content": "now"}]},
                       timeout=20)
    assert held.stopped == ["abandoned"]
    call = r.json()["choices"][0]["message"]["tool_calls"][0]["function"]
    assert call == {"name": "search", "arguments": '{"query": "now"}'}


def test_an_answerer_without_tools_refuses_them():
    with serving(create_app(lambda q, m, cancel=None: Reply(text=q))) as url:
        r = httpx.post(f"{url}/chat/completions", json={"messages": [{"role": "user", "content": "x"}],
                                                        "tools": [fn()]})
    assert r.status_code == 400 and r.json()["error"]["param"] == "tools"


# ---- the round trip: gorilla serve behind --backend openai, in front of gorilla serve ------------------------------


@pytest.fixture(scope="module")
def front_url(base_url, data_dir) -> Iterator[str]:
    """A second server whose model is the first one, through our openai backend (what `gorilla serve --backend
    openai --base-url http://127.0.0.1:PORT/v1` builds)."""
    from gorilla.models.openai import OpenAIBackend, OpenAIConfig
    from gorilla.pipeline import Gorilla, PipelineConfig
    from gorilla.serve.answer import PipelineAnswerer

    config = PipelineConfig(hub="torchhub", retriever="bm25", k=1, backend="openai", data_dir=str(data_dir))
    backend = OpenAIBackend(OpenAIConfig(base_url=base_url, api_key=KEY, model=MODEL, max_retries=0))
    cfg = ServeConfig(model_id="front", max_tokens_limit=96, default_max_tokens=64)
    with serving(create_app(PipelineAnswerer(Gorilla(config, backend=backend)), cfg)) as url:
        yield url
    backend.close()


def test_round_trip_through_the_openai_backend(client, front_url):
    front = openai.OpenAI(base_url=front_url, api_key="unused", max_retries=0, timeout=60)
    for choice in ("auto", "required", {"type": "function", "function": {"name": "convert_currency"}}):
        direct = ask(client, tool_choice=choice).choices[0]
        through = front.chat.completions.create(model="front", messages=[{"role": "user", "content": WEATHER}],
                                                tools=TOOLS, tool_choice=choice).choices[0]
        assert through.finish_reason == direct.finish_reason == "tool_calls"
        assert check_calls(through.message.tool_calls) == check_calls(direct.message.tool_calls)
    none = front.chat.completions.create(model="front", messages=[{"role": "user", "content": WEATHER}],
                                         tools=TOOLS, tool_choice="none").choices[0]
    assert none.finish_reason == "stop" and not none.message.tool_calls
