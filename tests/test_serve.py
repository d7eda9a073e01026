"""`gorilla serve`: the real HTTP server on 127.0.0.1, spoken to by the `openai` client and by our own
openai backend (the two test each other), answering with a real pipeline on the tiny random LLaMA."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import httpx
import openai
import pytest
from conftest import listening_port, run_cli, serving

from gorilla.errors import GorillaError
from gorilla.models.openai import OpenAIBackend, OpenAIConfig
from gorilla.pipeline import DEFAULT_K
from gorilla.prompting import build_prompt, parse_answer
from gorilla.serve import Reply, ServeConfig, create_app

KEY = "sk-gorilla-test"
QUERY = "I want to classify the birds in my garden photos"




@pytest.fixture(scope="module")
def tiny():
    from gorilla.models.tiny import tiny_llama

    return tiny_llama()


@pytest.fixture(scope="module")
def answer(data_dir, tiny):
    """The real pipeline: BM25 over torchhub's API DB, the shared prompt, the tiny LLaMA, the parser
    (unconstrained here for speed; the end-to-end command test runs the constrained default)."""
    from gorilla.models.local import LocalBackend
    from gorilla.pipeline import Gorilla, PipelineConfig
    from gorilla.serve.answer import PipelineAnswerer

    config = PipelineConfig(hub="torchhub", retriever="bm25", k=2, constrain="off", max_new_tokens=16,
                            data_dir=str(data_dir))
    return PipelineAnswerer(Gorilla(config, backend=LocalBackend(*tiny, name="tiny")))


@pytest.fixture(scope="module")
def base_url(answer) -> Iterator[str]:
    cfg = ServeConfig(model_id="gorilla-tiny", api_key=KEY, max_body_bytes=16_384, max_tokens_limit=48,
                      default_max_tokens=16)
    with serving(create_app(answer, cfg)) as url:
        yield url


@pytest.fixture
def client(base_url) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url, api_key=KEY, max_retries=0, timeout=60)


def test_health_is_open(base_url):
    r = httpx.get(base_url.removesuffix("/v1") + "/health")
    assert r.status_code == 200 and r.json()["status"] == "ok" and r.json()["model"] == "gorilla-tiny"


def test_models_list(client):
    assert [m.id for m in client.models.list()] == ["gorilla-tiny"]


def test_chat_completion_is_the_pipeline_answer(client, answer):
    r = client.chat.completions.create(model="gorilla-tiny", max_tokens=16,
                                       messages=[{"role": "system", "content": "be brief"},
                                                 {"role": "user", "content": "something else"},
                                                 {"role": "assistant", "content": "ok"},
                                                 {"role": "user", "content": QUERY}])
    expected = answer(QUERY, 16)
    assert r.object == "chat.completion" and r.model == "gorilla-tiny"
    assert r.choices[0].message.content == expected.text
    extra = r.model_extra["gorilla"]
    assert extra["retrieved"] == expected.retrieved and len(extra["retrieved"]) == 2
    assert extra["fields"] == expected.fields and extra["hub"] == "torchhub"
    assert parse_answer(r.choices[0].message.content).api_call == expected.fields["api_call"]
    assert extra["raw"] == expected.raw
    assert r.choices[0].finish_reason == "stop"


def test_streaming_chat_gives_the_same_answer(client, answer):
    chunks = list(client.chat.completions.create(model="gorilla-tiny", max_tokens=16, stream=True,
                                                 messages=[{"role": "user", "content": QUERY}]))
    assert all(c.object == "chat.completion.chunk" for c in chunks) and len(chunks) >= 3
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text == answer(QUERY, 16).text
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].model_extra["gorilla"]["retrieved"]


def test_streaming_wire_format(base_url):
    with httpx.stream("POST", f"{base_url}/chat/completions", headers={"Authorization": f"Bearer {KEY}"},
                      json={"messages": [{"role": "user", "content": QUERY}], "max_tokens": 4, "stream": True},
                      timeout=60) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in r.iter_lines() if line]
    assert all(line.startswith("data: ") for line in lines) and lines[-1] == "data: [DONE]"


def test_completions(client, answer):
    r = client.completions.create(model="gorilla-tiny", prompt=QUERY, max_tokens=12)
    assert r.object == "text_completion" and r.choices[0].text == answer(QUERY, 12).text


def test_gorilla_prompt_is_cut_to_its_instruction(client, answer):
    prompt = build_prompt(QUERY, ['{"api_call": "ignored doc"}'])
    r = client.completions.create(model="gorilla-tiny", prompt=prompt, max_tokens=12)
    assert r.choices[0].text == answer(QUERY, 12).text


def test_401_without_or_with_a_wrong_key(base_url):
    with pytest.raises(openai.AuthenticationError) as e:
        openai.OpenAI(base_url=base_url, api_key="wrong", max_retries=0).models.list()
    assert "invalid API key" in e.value.message
    r = httpx.post(f"{base_url}/chat/completions", json={"messages": [{"role": "user", "content": QUERY}]})
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"


def test_413_on_an_oversized_body(client, base_url):
    with pytest.raises(openai.APIStatusError) as e:
        client.chat.completions.create(model="gorilla-tiny", messages=[{"role": "user", "content": "x" * 20_000}])
    assert e.value.status_code == 413 and "16384-byte limit" in e.value.message
    # a body far over the limit, sent chunked (no Content-Length): still a clean 413
    r = httpx.post(f"{base_url}/completions", headers={"Authorization": f"Bearer {KEY}"},
                   content=iter([b'{"prompt": "' + b"y" * 65_536] * 16))
    assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large"


def test_400_on_too_many_tokens_and_bad_requests(client):
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="gorilla-tiny", max_tokens=4096, messages=[{"role": "user", "content": QUERY}])
    assert "max_tokens=4096 is over this server's limit of 48" in e.value.message
    for messages in ([{"role": "user", "content": "   "}], [{"role": "system", "content": "hi"}], []):
        with pytest.raises(openai.BadRequestError):
            client.chat.completions.create(model="gorilla-tiny", messages=messages)
    r = httpx.get(f"{client.base_url}embeddings", headers={"Authorization": f"Bearer {KEY}"})
    assert r.status_code == 404 and r.json()["error"]["message"] == "GET /v1/embeddings: Not Found"
    with pytest.raises(openai.NotFoundError, match="not served here"):
        client.chat.completions.create(model="gpt-4", messages=[{"role": "user", "content": QUERY}])


def test_openai_backend_against_the_server(base_url, answer):
    prompts = [build_prompt(QUERY), build_prompt("translate English text to French")]
    expected = [answer(QUERY, 10).text, answer("translate English text to French", 10).text]
    for mode in ("chat", "completions"):
        backend = OpenAIBackend(OpenAIConfig(base_url=base_url, api_key=KEY, mode=mode, concurrency=2))
        assert backend.generate(prompts, max_new_tokens=10) == expected
        assert backend.name == "openai:gorilla-tiny"  # learnt from GET /v1/models
    with pytest.raises(GorillaError, match="401") as e:
        OpenAIBackend(OpenAIConfig(base_url=base_url, api_key="wrong", model="gorilla-tiny")).generate(prompts)
    assert "\n" not in str(e.value)
    with pytest.raises(GorillaError, match="over this server's limit"):
        OpenAIBackend(OpenAIConfig(base_url=base_url, api_key=KEY)).generate(prompts, max_new_tokens=100)


def test_concurrency_limit_queues_then_refuses_with_503():
    """One slot and one queue place: a third simultaneous request is refused, and retried by clients."""
    release = threading.Event()
    entered = threading.Semaphore(0)

    def held(query: str, max_tokens: int, cancel=None) -> Reply:
        entered.release()
        release.wait(10)
        return Reply(text=query)

    cfg = ServeConfig(max_concurrency=1, max_queue=1)
    with serving(create_app(held, cfg)) as url:
        results: list[str] = []

        def ask() -> None:
            r = httpx.post(f"{url}/completions", json={"prompt": "first"}, timeout=20)
            results.append(r.json()["choices"][0]["text"])

        workers = [threading.Thread(target=ask) for _ in range(2)]
        for w in workers:
            w.start()
        assert entered.acquire(timeout=10)  # one running...
        deadline = time.monotonic() + 10
        while httpx.get(url.removesuffix("/v1") + "/health").json()["waiting"] < 1:  # ...and one queued
            assert time.monotonic() < deadline
            time.sleep(0.02)
        r = httpx.post(f"{url}/completions", json={"prompt": "third"})
        assert r.status_code == 503 and r.headers["retry-after"] == "1" and r.json()["error"]["code"] == "overloaded"
        release.set()
        for w in workers:
            w.join(20)
        assert results == ["first", "first"]
        health = httpx.get(url.removesuffix("/v1") + "/health").json()
        assert (health["running"], health["waiting"]) == (0, 0)


def test_serve_help_is_torch_free():
    r = run_cli("serve", "--help")
    assert r.returncode == 0 and "--api-key" in r.stdout and "Example" in r.stdout
    import subprocess
    import sys
    probe = subprocess.run([sys.executable, "-c", "import sys; from gorilla.cli.main import main\n"
                            "try:\n main(['serve', '--help'])\nexcept SystemExit: pass\n"
                            "print(sorted(m for m in ('torch', 'transformers', 'faiss', 'sentence_transformers', 'uvicorn')"
                            " if m in sys.modules))"], capture_output=True, text=True)
    assert probe.stdout.strip().splitlines()[-1] == "[]", probe.stdout + probe.stderr


def test_gorilla_serve_command_end_to_end(tmp_path, data_dir, tiny):
    """The real `gorilla serve` process on a saved tiny model: it binds loopback and answers the openai client."""
    import subprocess
    import sys

    model, tok = tiny
    model.save_pretrained(tmp_path / "tiny")
    tok.save_pretrained(tmp_path / "tiny")
    proc = subprocess.Popen([sys.executable, "-m", "gorilla", "serve", "--model", str(tmp_path / "tiny"), "--port", "0",
                             "--hub", "torchhub", "--retriever", "bm25", "--api-key", KEY, "--max-tokens-limit", "32", "--max-new-tokens", "8",
                             "--data-dir", str(data_dir)], stderr=subprocess.PIPE, text=True)
    try:
        port = listening_port(proc)
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=KEY, max_retries=0, timeout=60)
        r = client.chat.completions.create(model="gorilla", max_tokens=8, messages=[{"role": "user", "content": QUERY}])
        extra = r.model_extra["gorilla"]
        assert len(extra["retrieved"]) == DEFAULT_K and extra["hub"] == "torchhub"  # serve uses the pipeline defaults
        # the default --constrain retrieved: even a random model's call is one of the retrieved documents' calls
        assert extra["source"] in extra["retrieved"]
        db = [json.loads(line)["api_call"] for line in (data_dir / "api" / "torchhub_api.jsonl").open()]
        assert parse_answer(r.choices[0].message.content).api_call == db[int(extra["source"].split(":")[1])]
        with pytest.raises(openai.BadRequestError):
            client.chat.completions.create(model="gorilla", max_tokens=33, messages=[{"role": "user", "content": QUERY}])
    finally:
        proc.terminate()
        proc.wait(10)


def test_gorilla_serve_bad_flags_are_one_line():
    for args, message in ((["--hub", "nowhere"], "unknown hub 'nowhere'"),
                          (["--backend", "openai"], "--backend openai needs --base-url"),
                          (["--backend", "openai", "--base-url", "http://127.0.0.1:9/v1", "--constrain", "db"],
                           "needs --guided vllm")):
        r = run_cli("serve", "--retriever", "none", "--port", "0", *args)
        assert r.returncode == 2 and r.stderr.count("\n") == 1 and message in r.stderr, r.stderr


def test_long_query_and_answer_errors_are_openai_errors(client):
    """Over-long queries are refused before the model; a pipeline error is a 400 (or an SSE error event
    when streaming), anything unexpected a 500 that leaks nothing."""
    with pytest.raises(openai.BadRequestError, match="the most is 2000 bytes"):
        client.completions.create(model="gorilla-tiny", prompt="classify birds " * 300)

    def failing(query: str, max_tokens: int, cancel=None) -> Reply:
        if query == "boom":
            raise RuntimeError("secret internal detail")
        raise GorillaError(f"no API documentation matches {query!r}")

    with serving(create_app(failing)) as url:
        c = openai.OpenAI(base_url=url, api_key="unused", max_retries=0)
        with pytest.raises(openai.BadRequestError, match="no API documentation matches 'nothing'"):
            c.chat.completions.create(model="gorilla", messages=[{"role": "user", "content": "nothing"}])
        with pytest.raises(openai.APIError, match="no API documentation matches"):
            list(c.chat.completions.create(model="gorilla", stream=True,
                                           messages=[{"role": "user", "content": "nothing"}]))
        with pytest.raises(openai.InternalServerError) as e:
            c.completions.create(model="gorilla", prompt="boom")
        assert "secret" not in str(e.value.body) and "internal error" in e.value.message
