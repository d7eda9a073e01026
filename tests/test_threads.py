"""$GORILLA_THREADS: one rule for models and embedders, and a bad value is one line wherever it is met first."""

from __future__ import annotations

import os

import pytest
from conftest import run_cli

from gorilla.errors import GorillaError
from gorilla.threads import torch_threads


@pytest.mark.parametrize("ours, omp, expected", [
    ("3", None, 3), (" 2 ", "8", 2), (None, "4", 4), ("", "4", 4), (None, None, None), (None, "x", None), (None, "0", None),
])
def test_thread_count_prefers_ours_then_openmp(monkeypatch, ours, omp, expected):
    for var, value in (("GORILLA_THREADS", ours), ("OMP_NUM_THREADS", omp)):
        if value is None:
            monkeypatch.delenv(var, raising=False)
        else:
            monkeypatch.setenv(var, value)
    assert torch_threads() == expected


@pytest.mark.parametrize("bad", ["0", "-1", "two", "1.5", "²"])
def test_bad_gorilla_threads_is_an_error(monkeypatch, bad):
    monkeypatch.setenv("GORILLA_THREADS", bad)
    with pytest.raises(GorillaError, match=r"GORILLA_THREADS must be a positive whole number, got"):
        torch_threads()


@pytest.mark.parametrize("command", ["retrieve", "query"])
def test_bad_gorilla_threads_is_one_cli_line(command, data_dir, tiny_dir, tmp_path):
    """The embedder (a dense retriever) and the local model each meet it first in one of these commands."""
    args = (["retrieve", "classify birds", "-r", "dense"] if command == "retrieve" else
            ["query", "classify birds", "--retriever", "none", "--model", tiny_dir])
    r = run_cli(*args, "--hub", "torchhub", "--data-dir", str(data_dir),
                env={**os.environ, "GORILLA_THREADS": "two", "GORILLA_CACHE": str(tmp_path)})
    assert r.returncode == 2 and r.stderr.strip().splitlines() == [
        "gorilla: error: GORILLA_THREADS must be a positive whole number, got 'two'"], r.stderr
