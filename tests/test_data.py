"""Data layer: resolution order, typed loading, and one-line errors for malformed input."""

from __future__ import annotations

import os

import pytest

from gorilla.data import (
    ApiBenchPaths,
    get_hub,
    load_api_db,
    load_eval,
    load_responses,
    read_jsonl,
    resolve_data_dir,
    write_jsonl,
)
from gorilla.data.hubs import hub_from_filename
from gorilla.errors import GorillaError, InputError
from tests.conftest import run_cli


def test_resolution_order(tmp_path, monkeypatch, data_dir):
    monkeypatch.delenv("GORILLA_DATA", raising=False)
    assert resolve_data_dir() == data_dir
    monkeypatch.setenv("GORILLA_DATA", str(tmp_path))
    assert resolve_data_dir() == tmp_path
    assert resolve_data_dir(data_dir) == data_dir  # the flag wins over the environment
    with pytest.raises(GorillaError, match="--data-dir"):
        resolve_data_dir(tmp_path / "nope")


def test_real_files_load(data_dir):
    paths = ApiBenchPaths(data_dir)
    assert len(load_api_db(paths.api_db("torchhub"))) == 94
    pairs = load_eval(paths.eval("tensorflowhub"))
    assert pairs[0].instruction.startswith("I am working on a project")
    train = load_eval(paths.train("torchhub"))
    assert train[0].instruction.startswith("I need an API that can estimate the relative depth")


def test_hub_names(data_dir):
    assert hub_from_filename("out/response_torchhub_x.jsonl") == "torchhub"
    assert hub_from_filename("answers.jsonl") is None
    hub = get_hub("TF", data_dir)
    assert (hub.name, hub.predefined, hub.api_db.name) == ("tensorflowhub", True, "tensorflowhub_api.jsonl")
    with pytest.raises(GorillaError, match="unknown hub 'pypi': known hubs are torchhub, tensorflowhub, huggingface"):
        get_hub("pypi")


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "file is empty"),
        (b'{"question_id": 1, "text": "a"}\n{"question_id": 2, "text": \n', ":2: invalid JSON"),
        (b'{"question_id": 1, "text": "\xff"}\n', ":1: invalid UTF-8 byte 0xff"),
        (b'[1, 2]\n', ":1: expected a JSON object"),
        (b'{"text": "a"}\n', ":1: question_id: missing field"),
        (b'{"question_id": "7", "text": "a"}\n', ":1: question_id: expected int, got str"),
        (b'{"question_id": 1, "text": 5}\n', ":1: text: expected str, got int"),
    ],
)
def test_malformed_responses(tmp_path, content, expected):
    f = tmp_path / "r.jsonl"
    f.write_bytes(content)
    with pytest.raises(InputError) as e:
        load_responses(f)
    assert expected in str(e.value) and str(f) in str(e.value)


def test_blank_lines_skipped_and_line_numbers_kept(tmp_path):
    f = tmp_path / "r.jsonl"
    f.write_text('{"question_id": 1, "text": "a"}\n\n{"question_id": 2}\n')
    rs = load_responses(f)
    assert [(r.question_id, r.line, r.text) for r in rs] == [(1, 1, "a"), (2, 3, None)]


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.jsonl"

    def rows():
        yield {"a": 1}
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        write_jsonl(target, rows())
    assert list(tmp_path.iterdir()) == []
    assert write_jsonl(target, [{"a": 1}]) == 1
    assert [o for _, o in read_jsonl(target)] == [{"a": 1}]


def test_cli_info_and_bad_api_db(tmp_path, data_dir):
    r = run_cli("data", "info", "--data-dir", str(data_dir))
    assert r.returncode == 0 and "torchhub" in r.stdout and "186" in r.stdout
    (tmp_path / "api").mkdir()
    (tmp_path / "api" / "torchhub_api.jsonl").write_text('{"domain": 3, "api_call": "x()"}\n')
    r = run_cli("data", "info", "--data-dir", str(tmp_path))
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "torchhub_api.jsonl:1: domain: expected str, got int" in r.stderr
    assert "Traceback" not in r.stderr


def test_download_error_is_one_line(tmp_path):
    env = {**os.environ, "GORILLA_CACHE": str(tmp_path)}
    r = run_cli("data", "download", "--base-url", "http://127.0.0.1:9", env=env)
    assert r.returncode == 2 and "Traceback" not in r.stderr and "download http://127.0.0.1:9/" in r.stderr
    assert not any(tmp_path.rglob("*.jsonl"))
