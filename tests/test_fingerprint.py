"""Embedder fingerprints by content: equal copies agree whatever their mtimes, an edit changes it, the memo saves reads."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from gorilla.retrieval import fingerprint as fp
from gorilla.retrieval.embedder import embedder_identity, fingerprint


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GORILLA_CACHE", str(tmp_path / "cache"))


def tiny_model(folder: Path, mtime: int) -> Path:
    """A model-shaped folder (weights, config, a pooling subfolder) with every file's mtime set to `mtime`."""
    (folder / "1_Pooling").mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(bytes(range(256)) * 64)
    (folder / "config.json").write_text('{"hidden_size": 4}')
    (folder / "modules.json").write_text("[]")
    (folder / "1_Pooling" / "config.json").write_text('{"pooling_mode": "mean"}')
    for f in folder.rglob("*"):
        os.utime(f, ns=(mtime, mtime))
    return folder


def test_two_copies_with_different_mtimes_share_one_fingerprint(tmp_path):
    a = tiny_model(tmp_path / "venv" / "model", 1_000_000_000_000_000_000)
    b = tmp_path / "wheel" / "model"
    shutil.copytree(a, b)  # copytree keeps mtimes: move them, as a second install would
    for f in b.rglob("*"):
        os.utime(f, ns=(2_000_000_000_000_000_000, 2_000_000_000_000_000_000))
    assert fingerprint(a) == fingerprint(b)
    assert embedder_identity(str(a))[1] == embedder_identity(str(b))[1]


def test_a_changed_byte_or_name_changes_it(tmp_path):
    a = tiny_model(tmp_path / "a", 1_000_000_000_000_000_000)
    before = fingerprint(a)
    weights = a / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[100] ^= 1
    weights.write_bytes(bytes(data))  # same size, new mtime
    assert fingerprint(a) != before
    (a / "config.json").rename(a / "config2.json")
    assert len({before, fingerprint(a)}) == 2


def test_the_memo_is_used_the_second_time(tmp_path, monkeypatch):
    a = tiny_model(tmp_path / "a", 1_000_000_000_000_000_000)
    reads: list[Path] = []
    real = fp.file_sha256
    monkeypatch.setattr(fp, "file_sha256", lambda p: reads.append(p) or real(p))
    first = fingerprint(a)
    assert len(reads) == 4 and fp.memo_path().is_file()
    assert fingerprint(a) == first and len(reads) == 4  # every (path, size, mtime) known: nothing read again
    os.utime(a / "config.json", ns=(5, 5))
    assert fingerprint(a) == first and len(reads) == 5  # only the touched file is read again


def test_a_corrupt_or_unwritable_memo_only_costs_a_rehash(tmp_path, monkeypatch):
    a = tiny_model(tmp_path / "a", 1_000_000_000_000_000_000)
    first = fingerprint(a)
    fp.memo_path().write_text("{not json")
    assert fingerprint(a) == first
    monkeypatch.setenv("GORILLA_CACHE", str(tmp_path / "cache" / "fingerprints.json" / "below-a-file"))
    assert fingerprint(a) == first  # cannot write the memo: still answers


def test_a_hub_id_is_its_own_identity():
    assert fingerprint("someone/some-model") == "hub:someone/some-model"
