"""Bad input, faults and load: each defect the robustness probe found, as a fast case (the issue's items 1-6).

Unwritable caches are simulated with a path under a regular FILE (`<tmp>/file/cache`): writes there fail with
NotADirectoryError even as root, where chmod would not stop them.
"""

from __future__ import annotations

import json
import logging
import shutil
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest
from conftest import run_cli, serving

from gorilla.data import Question
from gorilla.errors import Cancelled, GorillaError, InputError
from gorilla.models.base import Backend, Decoding
from gorilla.pipeline import MAX_QUERY_BYTES, Gorilla, PipelineConfig, check_query, generate_file
from gorilla.serve import Reply, ServeConfig, create_app

QUERY = "I want to classify the birds in my garden photos"


class Recorder(Backend):
    """A backend that only records its prompts: the checks under test must refuse before any generation."""

    name = "recorder"

    def __init__(self) -> None:
        self.prompts: list[str] = []

    def _generate(self, prompts: list[str], decoding: Decoding) -> list[str]:
        self.prompts += prompts
        return ["<<<domain>>>: x <<<api_call>>>: f() <<<api_provider>>>: y"] * len(prompts)


def zero_shot(backend: Backend | None = None) -> Gorilla:
    """A pipeline without retrieval (no index is touched) around `backend`."""
    return Gorilla(PipelineConfig(hub="torchhub", retriever="none", constrain="off"), backend=backend or Recorder())


def unwritable(tmp_path: Path) -> Path:
    """A cache path below a regular file: every mkdir under it fails, whoever runs the test."""
    (tmp_path / "file").write_text("not a directory")
    return tmp_path / "file" / "cache"


def one_line_exit_2(r, message: str) -> None:
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    assert len(r.stderr.strip().splitlines()) == 1 and message in r.stderr, r.stderr[-2000:]


# ---- 1. the prompt is bounded wherever it is built ---------------------------------------------------------------


def test_long_queries_are_refused_by_the_library_before_any_work():
    backend = Recorder()
    g = zero_shot(backend)
    with pytest.raises(GorillaError, match=f"107999 bytes .* the most is {MAX_QUERY_BYTES} bytes"):
        g.ask("detect cars " * 9000)
    with pytest.raises(GorillaError, match="bytes"):  # 700 CJK characters are 2100 UTF-8 bytes (~2100 tokens)
        g.ask("猫" * 700)
    with pytest.raises(GorillaError, match="lone surrogate"):
        g.ask("classify \ud800 birds")
    assert backend.prompts == []
    assert check_query("  a  b\n c ") == "a b c" and check_query("x" * MAX_QUERY_BYTES)
    g.ask("x" * MAX_QUERY_BYTES)
    assert len(backend.prompts) == 1 and len(backend.prompts[0]) < MAX_QUERY_BYTES + 100


def test_long_query_on_the_command_line_is_one_line_and_fast():
    t0 = time.monotonic()
    r = run_cli("query", "detect cars " * 9000, "--hub", "torchhub")
    one_line_exit_2(r, "the most is 2000 bytes")
    assert time.monotonic() - t0 < 30  # was 299 s and 8 GB


def test_generate_refuses_a_long_or_repeated_question_before_answering(tmp_path):
    backend = Recorder()
    long = [Question(1, QUERY), Question(2, "word " * 1000)]
    with pytest.raises(GorillaError, match="question_id 2: query is 4999 bytes"):
        generate_file(zero_shot(backend), long, tmp_path / "out.jsonl")
    with pytest.raises(GorillaError, match="question_id 1 appears more than once"):
        generate_file(zero_shot(backend), [Question(1, QUERY), Question(1, "translate text")], tmp_path / "out.jsonl")
    assert backend.prompts == [] and not (tmp_path / "out.jsonl").exists()


# ---- 2. a partial checkpoint does not block resume -------------------------------------------------------------


def test_resume_skips_incomplete_checkpoints(tmp_path, data_dir, capsys):
    from transformers import TrainerCallback

    from gorilla.training.config import TrainConfig, merge
    from gorilla.training.presets import preset
    from gorilla.training.trainer import train

    cfg = merge(TrainConfig(), {**preset("tiny"), "out": str(tmp_path / "run"), "max_steps": 6, "save_steps": 2,
                                "val_fraction": 0.0, "data_dir": str(data_dir)}, "test")

    class Kill(TrainerCallback):  # dies after checkpoint-4, as `kill` between checkpoints would
        def on_step_end(self, args, state, control, **kw):
            if state.global_step == 5:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(cfg, callbacks=[Kill()])
    ckpts = tmp_path / "run" / "checkpoints"
    assert sorted(p.name for p in ckpts.iterdir()) == ["checkpoint-2", "checkpoint-4"]  # save_total_limit 2
    (ckpts / "checkpoint-4" / "trainer_state.json").unlink()  # killed before the Trainer's last write
    shutil.copytree(ckpts / "checkpoint-2", ckpts / "checkpoint-5")  # and a later one whose weights were cut
    weights = ckpts / "checkpoint-5" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    capsys.readouterr()
    summary = train(cfg)
    out = capsys.readouterr().out
    assert "removing incomplete checkpoint checkpoint-5: model.safetensors is" in out
    assert "removing incomplete checkpoint checkpoint-4: no readable trainer_state.json" in out
    assert f"resuming from {ckpts / 'checkpoint-2'}" in out and summary["steps"] == 6


# ---- 3. an unwritable cache degrades -----------------------------------------------------------------------------


def test_scoring_without_a_writable_cache_warns_and_scores(tmp_path, data_dir, monkeypatch, caplog):
    from gorilla.scoring import Scorer

    monkeypatch.setenv("GORILLA_CACHE", str(unwritable(tmp_path)))
    responses = data_dir / "responses" / "torchhub" / "response_torchhub_Gorilla_FT_0_shot.jsonl"
    with caplog.at_level(logging.WARNING, logger="gorilla.scoring"):
        cached = Scorer(data_dir).score_file(responses)
    assert "verdict cache not saved" in caplog.text and "Not a directory" in caplog.text
    fresh = Scorer(data_dir, cache=False).score_file(responses)
    assert cached.figures() == fresh.figures() and cached.n == 186


def test_embedded_model_loads_from_the_gguf_when_the_cache_is_unwritable(tmp_path, monkeypatch):
    from gorilla.models import embedded, local

    monkeypatch.setenv("GORILLA_CACHE", str(unwritable(tmp_path)))
    monkeypatch.setattr(embedded, "_convert", lambda src, into: pytest.fail("converted into an unwritable cache"))
    with pytest.raises(embedded.CacheUnwritable, match=r"under .*/file/cache/models .*make that directory writable"):
        embedded.ensure_converted()
    where, gguf, adapter = local._resolve("embedded", None)  # the backend's fallback: dequantise in memory
    assert Path(where, gguf) == embedded.gguf_path() and adapter is None


def test_damaged_conversions_are_converted_again(tmp_path, monkeypatch):
    import torch
    from safetensors.torch import save_file

    from gorilla.models import embedded

    runs = []

    def fake_convert(src: Path, into: Path) -> None:
        runs.append(into)
        save_file({"w": torch.zeros(64)}, str(into / "model.safetensors"))
        for name in ("config.json", "tokenizer.json", "tokenizer_config.json"):
            (into / name).write_text("{}")
        (into / embedded._MARK).write_text("converted\n")

    monkeypatch.setattr(embedded, "converted_dir", lambda: tmp_path / "models" / "smollm2")
    monkeypatch.setattr(embedded, "_convert", fake_convert)
    dest = embedded.ensure_converted()
    assert len(runs) == 1 and embedded.ensure_converted() == dest and len(runs) == 1  # whole: used as is
    (dest / "tokenizer.json").unlink()
    assert embedded.conversion_problem(dest) == "tokenizer.json is missing"
    embedded.ensure_converted()
    assert len(runs) == 2 and (dest / "tokenizer.json").is_file()
    weights = dest / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-10])
    assert "truncated" in embedded.conversion_problem(dest)
    embedded.ensure_converted()
    assert len(runs) == 3 and embedded.conversion_problem(dest) is None


# ---- 4 and 5. the server: bad input is a 400, streams end properly, abandoned requests free the model -----------


def echo(query: str, max_tokens: int, cancel=None) -> Reply:
    """An answerer that fails on request: 'boom' is a bug, 'bad' a pipeline error, 'surrogate' an unsendable reply."""
    if query == "boom":
        raise RuntimeError("secret internal detail")
    if query == "bad":
        check_query("x" * 5000)
    return Reply(text="\ud800" if query == "surrogate" else query)


def sse(url: str, body: dict) -> tuple[int, list[str]]:
    """(status, the data lines) of a streamed request."""
    with httpx.stream("POST", url, json=body, timeout=20) as r:
        return r.status_code, [line for line in r.iter_lines() if line]


def test_malformed_bodies_are_400s_in_openai_shape():
    with serving(create_app(echo)) as url:
        deep = b'{"messages": ' + b"[" * 30_000 + b"]" * 30_000 + b"}"  # 60 KB, under the 64 KB body limit
        r = httpx.post(f"{url}/chat/completions", content=deep, timeout=20)
        assert r.status_code == 400 and "nests JSON too deeply" in r.json()["error"]["message"]
        for stream in (False, True):
            chat = {"messages": [{"role": "user", "content": "birds \ud800"}], "stream": stream}
            completion = {"prompt": "birds \ud800", "stream": stream}
            for route, body in (("chat/completions", chat), ("completions", completion)):
                r = httpx.post(f"{url}/{route}", content=json.dumps(body), timeout=20)  # json.dumps escapes it
                assert r.status_code == 400, (route, stream, r.text)
                assert "lone surrogate" in r.json()["error"]["message"] and r.json()["error"]["type"]
        r = httpx.post(f"{url}/completions", json={"prompt": "surrogate"}, timeout=20)  # a reply JSON cannot carry
        assert r.status_code == 500 and r.json()["error"]["type"] == "server_error"


def test_a_stream_that_fails_ends_with_an_error_event_and_done():
    with serving(create_app(echo)) as url:
        for query, status in (("boom", 500), ("bad", None), ("surrogate", 500)):
            code, lines = sse(f"{url}/chat/completions", {"messages": [{"role": "user", "content": query}],
                                                          "stream": True})
            assert code == 200 and lines[-1] == "data: [DONE]", (query, lines)
            error = json.loads(lines[-2].removeprefix("data: "))["error"]
            assert "secret" not in error["message"] and (status is None or error["type"] == "server_error")
        code, lines = sse(f"{url}/completions", {"prompt": QUERY, "stream": True})
        assert code == 200 and lines[-1] == "data: [DONE]" and QUERY in lines[0]


def test_abandoned_requests_are_dropped_or_stopped():
    """One slot: a running request whose client leaves is stopped at its next check, queued ones whose
    clients left are skipped, and a new request is answered at once instead of after all of them."""
    started, stopped = threading.Semaphore(0), []

    def slow(query: str, max_tokens: int, cancel) -> Reply:
        started.release()
        deadline = time.monotonic() + (5 if query.startswith("abandoned") else 0)
        while time.monotonic() < deadline:  # "generation": 5 s unless the client goes
            if cancel():
                stopped.append(query)
                raise Cancelled
            time.sleep(0.01)
        return Reply(text=query)

    with serving(create_app(slow, ServeConfig(max_concurrency=1, max_queue=8))) as url:
        port = int(url.split(":")[2].split("/")[0])
        gone = [_send_and_close(port, f"abandoned {i}") for i in range(4)]
        assert started.acquire(timeout=10)  # the first one runs...
        for s in gone:
            s.close()  # ...and every client leaves
        t0 = time.monotonic()
        r = httpx.post(f"{url}/completions", json={"prompt": "still here"}, timeout=20)
        assert r.status_code == 200 and r.json()["choices"][0]["text"] == "still here"
        assert time.monotonic() - t0 < 3  # not 4 x 5 s
        health = httpx.get(url.removesuffix("/v1") + "/health").json()
    assert stopped == ["abandoned 0"] and health["cancelled"] == 1 and health["dropped"] == 3
    assert (health["running"], health["waiting"]) == (0, 0)


def _send_and_close(port: int, prompt: str) -> socket.socket:
    """A raw client that sends a completion request and never reads the answer (closed by the caller)."""
    body = json.dumps({"prompt": prompt}).encode()
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    return s


def test_local_backend_stops_between_tokens_when_cancelled(tiny, tmp_path):
    from gorilla.models.local import LocalBackend

    model, tok = tiny.model, tiny.tokenizer
    model.save_pretrained(tmp_path / "tiny")
    tok.save_pretrained(tmp_path / "tiny")
    light = LocalBackend.load(str(tmp_path / "tiny"))
    assert light.light and not tiny.light
    for backend in (tiny, light):  # transformers' loop (a stopping criterion) and ours (polled per token)
        for calls in (None, [["torch.hub.load('pytorch/vision', 'resnet18', pretrained=True)"]]):
            polls: list[int] = []

            def cancel(polls: list[int] = polls) -> bool:
                polls.append(1)
                return len(polls) > 3

            with pytest.raises(Cancelled):
                backend.generate([QUERY], max_new_tokens=200, allowed_calls=calls, cancel=cancel)
            assert len(polls) <= 6  # stopped at once, not after 200 tokens


# ---- 6. the smaller ones -------------------------------------------------------------------------------------------


def test_bad_paths_and_flags_are_one_line(tmp_path, data_dir):
    responses = str(data_dir / "responses" / "torchhub" / "response_torchhub_Gorilla_FT_0_shot.jsonl")
    one_line_exit_2(run_cli("eval", "score", responses, "--verdicts", str(tmp_path)), "is a directory")
    one_line_exit_2(run_cli("eval", "score", responses, "--verdicts", str(tmp_path / "no" / "v.jsonl")),
                    "does not exist; create it first")
    assert not (tmp_path / "no").exists()
    one_line_exit_2(run_cli("generate", "--hub", "torchhub", "--split", "eval", "--out", str(tmp_path),
                            "--retriever", "none"), "is a directory")
    one_line_exit_2(run_cli("serve", "--port", "70000", "--retriever", "none"), "--port must be 0-65535")
    one_line_exit_2(run_cli("train", "--preset", "tiny", "--max-steps", "-1", "--out", str(tmp_path / "run")),
                    "max_steps must be at least 1, or 0")
    questions = tmp_path / "q.jsonl"
    questions.write_text('{"question_id": 1, "text": "a"}\n{"question_id": 2, "text": "b"}\n'
                         '{"question_id": 1, "text": "c"}\n')
    one_line_exit_2(run_cli("generate", "--hub", "torchhub", "--questions", str(questions), "--out",
                            str(tmp_path / "o.jsonl"), "--retriever", "none"), "q.jsonl:3: question_id: 1 repeats line 1")


def test_a_model_config_of_the_wrong_type_is_one_line(tiny, tmp_path):
    tiny.model.save_pretrained(tmp_path / "m")
    tiny.tokenizer.save_pretrained(tmp_path / "m")
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    (tmp_path / "m" / "config.json").write_text(json.dumps({**config, "hidden_size": "x"}))
    r = run_cli("query", QUERY, "--hub", "torchhub", "--retriever", "none", "--model", str(tmp_path / "m"))
    one_line_exit_2(r, "config.json: hidden_size: expected a positive integer, got 'x'")


def test_negative_question_ids_are_refused_and_zero_keeps_the_reference_quirk(tmp_path, data_dir):
    from gorilla.scoring import Scorer

    text = "<<<api_call>>>: torch.hub.load('pytorch/vision', 'resnet18', pretrained=True)"
    path = tmp_path / "responses_torchhub.jsonl"
    path.write_text(json.dumps({"question_id": 0, "text": text}) + "\n" + json.dumps({"question_id": -3, "text": text}))
    with pytest.raises(InputError, match=r"responses_torchhub.jsonl:2: question_id: -3 is negative"):
        Scorer(data_dir, cache=False).score_file(path)
    path.write_text(json.dumps({"question_id": 0, "text": text}) + "\n")
    assert Scorer(data_dir, cache=False).score_file(path).n == 1  # gold[-1], as the reference reads it


def test_an_index_overwritten_in_place_is_rebuilt_or_refused(tmp_path):
    import faiss
    import numpy as np

    from gorilla.retrieval.index import flat_ip, load_or_build, read_manifest

    rng = np.random.default_rng(0)
    build = lambda: flat_ip(rng.standard_normal((20, 8)).astype("float32"))  # noqa: E731
    expected = {"format": 1, "count": 20}
    first = load_or_build(tmp_path, expected, build)
    assert len(read_manifest(tmp_path)["index_sha256"]) == 64
    assert load_or_build(tmp_path, expected, lambda: pytest.fail("rebuilt a fresh index")).ntotal == 20
    size = (tmp_path / "index.faiss").stat().st_size
    faiss.write_index(build(), str(tmp_path / "index.faiss"))  # other vectors, same size, manifest untouched
    assert (tmp_path / "index.faiss").stat().st_size == size
    with pytest.raises(GorillaError, match="index.faiss changed since it was built"):
        load_or_build(tmp_path, expected, build, on_stale="error")
    rebuilt = load_or_build(tmp_path, expected, lambda: first)
    assert rebuilt is first and load_or_build(tmp_path, expected, lambda: pytest.fail("rebuilt")).ntotal == 20


def test_batched_answers_do_not_depend_on_the_batch(tiny, tmp_path):
    """Left padding with position ids from the attention mask, and each row's own token budget: a prompt gives
    the same text alone and in batches of other lengths and other allowed calls, on both decoding loops."""
    from gorilla.models.local import LocalBackend
    from gorilla.prompting import STOP, build_prompt

    tiny.model.save_pretrained(tmp_path / "tiny")
    tiny.tokenizer.save_pretrained(tmp_path / "tiny")
    prompts = [build_prompt(q) for q in (QUERY, "detect cars", "translate English text into French, then read it "
                                         "aloud with a natural voice for my podcast listeners")]
    calls = [["torch.hub.load('pytorch/vision', 'resnet18', pretrained=True)"], ["f(x)"],
             ["torch.hub.load('NVIDIA/DeepLearningExamples:torchhub', 'nvidia_tacotron2', model_math='fp16')",
              "torch.hub.load('snakers4/silero-models', 'silero_tts', language='en', speaker='lj_16khz')"]]
    def run(backend: LocalBackend, allowed: list[list[str]] | None, idx: list[int]) -> list[str]:
        return backend.generate([prompts[i] for i in idx], max_new_tokens=12, stop=STOP,
                                allowed_calls=None if allowed is None else [allowed[i] for i in idx])

    for backend in (tiny, LocalBackend.load(str(tmp_path / "tiny"))):
        for allowed in (None, calls):
            alone = [run(backend, allowed, [i])[0] for i in range(3)]
            assert run(backend, allowed, [0, 1, 2]) == alone
            assert run(backend, allowed, [2, 0]) == [alone[2], alone[0]]
            assert run(backend, allowed, [1, 1]) == [alone[1]] * 2
