"""`gorilla query --tools FILE`: the real command in a subprocess, on the tiny random LLaMA saved as a model
directory, and with --backend openai against a real `gorilla serve` app on 127.0.0.1."""

from __future__ import annotations

import json
from pathlib import Path

import openai
import pytest
from conftest import run_cli, serving
from test_serve_tools import KEY, MODEL, SCHEMAS, TOOLS, WEATHER, check_arguments

from gorilla.data.tools import MAX_TOOLS_FILE_BYTES
from gorilla.serve import ServeConfig, create_app


@pytest.fixture(scope="module")
def tools_file(tmp_path_factory) -> Path:
    """The serve tests' tools, the last one written as a bare BFCL-style function doc (a file may hold either)."""
    path = tmp_path_factory.mktemp("tools") / "tools.json"
    bare = {**TOOLS[2]["function"]}
    bare["parameters"] = {**bare["parameters"], "type": "dict"}  # BFCL's type name
    path.write_text(json.dumps([*TOOLS[:2], bare]), encoding="utf-8")
    return path


def query_json(*args: str) -> dict:
    r = run_cli("query", *args, "--format", "json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_query_with_tools_prints_calls_that_fit_their_schemas(tiny_dir, tools_file):
    out = query_json(WEATHER, "--tools", str(tools_file), "--model", tiny_dir, "--tool-choice", "required")
    assert set(out) == {"tool_calls", "text"} and out["tool_calls"] and out["text"].startswith("[")
    for call in out["tool_calls"]:
        assert set(call) == {"name", "arguments"}
        check_arguments(call["arguments"], SCHEMAS[call["name"]], call["name"])
    named = query_json(WEATHER, "--tools", str(tools_file), "--model", tiny_dir, "--tool-choice", "set_alarm")
    assert {c["name"] for c in named["tool_calls"]} == {"set_alarm"}
    assert query_json(WEATHER, "--tools", str(tools_file), "--model", tiny_dir, "--tool-choice", "none")["tool_calls"] == []


def test_query_with_tools_as_a_panel(tiny_dir, tools_file):
    r = run_cli("query", WEATHER, "--tools", str(tools_file), "--model", tiny_dir, "--tool-choice", "convert_currency")
    assert r.returncode == 0, r.stderr
    assert "tools from tools.json" in r.stdout and "convert_currency" in r.stdout and "arguments" in r.stdout


def test_bad_tools_files_are_one_line_naming_file_and_field(tmp_path, tools_file):
    cases = {"missing.json": (None, "no such file"),
             "broken.json": ('[{"type": "function"', "not valid JSON"),
             "object.json": ('{"tools": 1}', "tools: expected a list"),
             "name.json": ('[{"type": "function", "function": {"name": "get weather"}}]', "tools[0].function.name"),
             "type.json": ('[{"name": "f", "parameters": {"properties": {"a": {"type": 5}}}}]', "tools[0]: function doc f"),
             "big.json": (" " * (MAX_TOOLS_FILE_BYTES + 1), "a tools file holds at most")}
    for name, (text, words) in cases.items():
        if text is not None:
            (tmp_path / name).write_text(text, encoding="utf-8")
        r = run_cli("query", "weather in Lisbon", "--tools", str(tmp_path / name))
        assert r.returncode == 2 and "Traceback" not in r.stderr, (name, r.stderr)
        assert r.stderr.count("\n") == 1 and f"{tmp_path / name}: " in r.stderr and words in r.stderr, (name, r.stderr)
    r = run_cli("query", "weather in Lisbon", "--tools", str(tools_file), "--tool-choice", "nowhere")
    assert r.returncode == 2 and "--tool-choice: no tool named 'nowhere'" in r.stderr
    r = run_cli("query", "weather in Lisbon", "--tool-choice", "none")
    assert r.returncode == 2 and "--tool-choice needs --tools FILE" in r.stderr


def test_query_with_tools_through_the_openai_backend(data_dir, tiny, tools_file):
    """--backend openai sends the tools to the endpoint (here gorilla serve on the tiny model) and prints the
    calls it answers: the same ones the endpoint gives the openai client directly."""
    from gorilla.pipeline import Gorilla, PipelineConfig
    from gorilla.serve.answer import PipelineAnswerer

    config = PipelineConfig(hub="torchhub", retriever="bm25", k=1, constrain="off", data_dir=str(data_dir))
    app = create_app(PipelineAnswerer(Gorilla(config, backend=tiny)), ServeConfig(model_id=MODEL, api_key=KEY))
    with serving(app) as url:
        out = query_json(WEATHER, "--tools", str(tools_file), "--tool-choice", "required", "--backend", "openai",
                         "--base-url", url, "--api-key", KEY, "--model", MODEL)
        client = openai.OpenAI(base_url=url, api_key=KEY, max_retries=0, timeout=60)
        direct = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": WEATHER}],
                                                tools=TOOLS, tool_choice="required", max_tokens=64)
    calls = [{"name": c.function.name, "arguments": json.loads(c.function.arguments)}
             for c in direct.choices[0].message.tool_calls]
    assert out["tool_calls"] == calls and calls
