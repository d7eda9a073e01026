"""`gorilla doctor`: fast, builds nothing, and tells missing from fresh from stale indexes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import run_cli

CALLS = [("Video Classification", "slow_r50", "facebookresearch/pytorchvideo", "recognise human actions in video clips"),
         ("Semantic Segmentation", "deeplabv3_resnet50", "pytorch/vision", "label every pixel of an image"),
         ("Text-To-Speech", "nvidia_tacotron2", "NVIDIA/DeepLearningExamples:torchhub", "speak written text aloud")]


def entry(domain: str, model: str, repo: str, description: str) -> dict:
    return {"domain": domain, "api_name": model, "description": description,
            "api_call": f"torch.hub.load(repo_or_dir='{repo}', model='{model}', pretrained=True)"}


@pytest.fixture
def tiny_data(tmp_path) -> Path:
    """An APIBench root holding only a 3-entry torchhub database and 3 solved requests."""
    root = tmp_path / "apibench"
    (root / "api").mkdir(parents=True)
    (root / "apibench").mkdir()
    db = [entry(*c) for c in CALLS]
    (root / "api" / "torchhub_api.jsonl").write_text("".join(json.dumps(e) + "\n" for e in db))
    (root / "apibench" / "torchhub_train.json").write_text("".join(
        json.dumps({"code": f"###Instruction: I want to {c[3]}", "api_call": e["api_call"], "provider": "PyTorch",
                    "api_data": e}) + "\n" for c, e in zip(CALLS, db, strict=True)))
    return root


def doctor(cache: Path, *args: str) -> dict:
    out = run_cli("doctor", "--format", "json", *args, env={**os.environ, "GORILLA_CACHE": str(cache)})
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_empty_cache_says_what_is_missing_and_builds_nothing(tmp_path, data_dir):
    cache = tmp_path / "cache"
    t = time.perf_counter()
    report = doctor(cache, "--data-dir", str(data_dir))
    assert time.perf_counter() - t < 15  # a second or two, hashing the embedder once on a cold cache
    assert report["data"] == {"path": str(data_dir), "origin": "--data-dir"}
    assert report["cache"]["path"] == str(cache) and report["model"]["state"] in ("not converted", "missing")
    assert report["model"]["tools_adapter"].endswith("resources/adapters/smollm2-135m-tools")
    assert report["embedder"]["name"] == "all-MiniLM-L6-v2"
    assert {h: v["state"] for h, v in report["indexes"]["hubs"].items()} == dict.fromkeys(
        ("torchhub", "tensorflowhub", "huggingface"), "missing")
    assert all("gorilla prepare" in v["fix"] for v in report["indexes"]["hubs"].values())
    assert not (cache / "indexes").exists() and not (cache / "models").exists()
    text = run_cli("doctor", "--data-dir", str(data_dir), env={**os.environ, "GORILLA_CACHE": str(cache)}).stdout
    assert "not converted yet" in text and "next       gorilla prepare" in text


def test_doctor_imports_no_heavy_library(data_dir, tmp_path):
    probe = ("import sys; from gorilla.cli.main import main\n"
             "try:\n    main(['doctor', '--format', 'json'])\nexcept SystemExit:\n    pass\n"
             "print(sorted(m for m in ('torch', 'faiss', 'transformers', 'sentence_transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                         env={**os.environ, "GORILLA_CACHE": str(tmp_path)})
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_built_indexes_are_fresh_then_stale_when_the_data_changes(tiny_data, tmp_path):
    cache, env = tmp_path / "cache", {**os.environ, "GORILLA_CACHE": str(tmp_path / "cache"), "GORILLA_THREADS": "1"}
    built = run_cli("index", "build", "--hub", "torchhub", "--data-dir", str(tiny_data), env=env)
    assert built.returncode == 0, built.stderr
    assert "preparing: embedding torchhub's 3 API docs, full text (first run only)" in built.stderr
    assert "preparing: training torchhub's task head (first run only)" in built.stderr
    assert "preparing: training torchhub's lexical head (first run only)" in built.stderr
    hubs = doctor(cache, "--data-dir", str(tiny_data))["indexes"]["hubs"]
    assert hubs["torchhub"]["state"] == "fresh" and "fix" not in hubs["torchhub"]
    assert [p["name"] for p in hubs["torchhub"]["pieces"]] == [
        "docs (full text)", "docs (rich text)", "docs (description text)", "docs (short text)", "solved requests",
        "task head", "lexical head"]
    assert hubs["huggingface"]["state"] == "no database"

    with (tiny_data / "api" / "torchhub_api.jsonl").open("a") as f:
        f.write(json.dumps(entry("Classification", "resnet18", "pytorch/vision", "classify images")) + "\n")
    hubs = doctor(cache, "--data-dir", str(tiny_data))["indexes"]["hubs"]
    assert hubs["torchhub"]["state"] == "stale"
    states = {p["name"]: (p["state"], p["reason"].split(" (")[0]) for p in hubs["torchhub"]["pieces"]}
    assert states["docs (full text)"] == states["task head"] == states["lexical head"] == ("stale", "source data changed")
    assert states["solved requests"] == ("missing", "no index built yet")  # other sources: a folder of its own
    again = run_cli("index", "build", "--hub", "torchhub", "--data-dir", str(tiny_data), env=env)
    assert again.returncode == 0 and "is stale (source data changed" in again.stderr
    assert doctor(cache, "--data-dir", str(tiny_data))["indexes"]["hubs"]["torchhub"]["state"] == "fresh"


def test_no_data_dir_says_how_to_get_one(monkeypatch, tmp_path):
    from gorilla.cli import doctor as cli_doctor
    from gorilla.data import paths

    monkeypatch.setattr(paths, "DEV_DATA", tmp_path / "nowhere")
    monkeypatch.delenv("GORILLA_DATA", raising=False)
    monkeypatch.setenv("GORILLA_CACHE", str(tmp_path / "cache"))
    report = cli_doctor.diagnose(None, None, None, torch_probe=False)
    assert report["data"]["path"] is None and "gorilla data download" in report["data"]["fix"]
    assert report["indexes"]["hubs"] == {}
