"""Folders written whole or not at all (`atomic_dir`): the APIBench download and the embedded model's conversion."""

from __future__ import annotations

import functools
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from gorilla.data import download as dl
from gorilla.errors import GorillaError
from gorilla.models import embedded


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def mirror(tmp_path):
    """A local HTTP mirror holding every upstream file (a line naming it); yields (base URL, its root)."""
    root = tmp_path / "mirror"
    for url_path, _ in dl.upstream_files():
        (root / url_path).parent.mkdir(parents=True, exist_ok=True)
        (root / url_path).write_text(f'{{"file": "{url_path}"}}\n')
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", root
    server.shutdown()
    server.server_close()


def leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


def test_download_streams_every_file_into_place(mirror, tmp_path):
    base, _ = mirror
    dest = tmp_path / "cache" / "apibench"
    seen: list[str] = []
    assert dl.download(dest, base, progress=seen.append) == len(dl.upstream_files()) == len(seen)
    assert (dest / "api" / "torchhub_api.jsonl").read_text() == '{"file": "data/api/torchhub_api.jsonl"}\n'
    assert not leftovers(dest.parent)


@pytest.mark.parametrize("break_it, message", [
    (lambda root: (root / "data/api/huggingface_api.jsonl").unlink(), "HTTP 404"),
    (lambda root: (root / "data/apibench/torchhub_train.json").write_bytes(b"x" * 5000), "more than the 4096"),
])
def test_a_failed_download_keeps_the_previous_copy(mirror, tmp_path, break_it, message):
    base, root = mirror
    break_it(root)
    dest = tmp_path / "apibench"
    (dest / "api").mkdir(parents=True)
    (dest / "api" / "old.jsonl").write_text("{}\n")
    with pytest.raises(GorillaError, match=rf"^download {base}/data/\S+: .*{message}") as e:
        dl.download(dest, base, max_bytes=4096)
    assert "\n" not in str(e.value)
    assert [p.name for p in dest.rglob("*")] == ["api", "old.jsonl"] and not leftovers(tmp_path)


def test_a_stream_without_a_declared_size_is_cut_at_the_bound(tmp_path):
    import httpx

    endless = httpx.MockTransport(lambda request: httpx.Response(200, content=iter([b"x" * 1024] * 100)))
    with httpx.Client(transport=endless) as client, pytest.raises(GorillaError, match="more than the 4096 bytes"):
        dl.fetch(client, "http://mirror/data/big.json", tmp_path / "big.json", max_bytes=4096)
    assert (tmp_path / "big.json").stat().st_size <= 4096


def test_unreachable_mirror_is_one_line_with_the_hint(tmp_path):
    with pytest.raises(GorillaError, match=r"^download http://127\.0\.0\.1:9/data/.*\(no network\?"):
        dl.download(tmp_path / "apibench", "http://127.0.0.1:9", timeout=5)
    assert not any(tmp_path.iterdir())


def whole_conversion(into: Path, mark: str) -> None:
    """What a finished conversion holds (`embedded.conversion_problem` checks each file and the weights' length)."""
    from safetensors.numpy import save_file

    save_file({"w": np.zeros(4, dtype=np.float32)}, str(into / "model.safetensors"))
    for name in (n for n in embedded.NEEDED if n != "model.safetensors"):
        (into / name).write_text("{}")
    (into / embedded._MARK).write_text(mark)


@pytest.fixture
def conversion(tmp_path, monkeypatch):
    """ensure_converted with a stand-in for the 15 s dequantisation; yields the calls it made."""
    calls: list[Path] = []

    def fake_convert(src: Path, into: Path) -> None:
        calls.append(into)
        whole_conversion(into, "converted\n")

    monkeypatch.setattr(embedded, "converted_dir", lambda: tmp_path / "models" / "smollm2")
    monkeypatch.setattr(embedded, "gguf_path", lambda: tmp_path / "model.gguf")
    monkeypatch.setattr(embedded, "_convert", fake_convert)
    return calls


def test_conversion_lands_whole_and_only_once(conversion):
    dest = embedded.ensure_converted()
    assert (dest / embedded._MARK).is_file() and oct(dest.stat().st_mode & 0o777) == "0o755"
    assert embedded.ensure_converted() == dest and len(conversion) == 1 and not leftovers(dest.parent)


def test_an_interrupted_conversion_leaves_nothing(conversion, monkeypatch):
    def interrupted(src: Path, into: Path) -> None:
        (into / "model.safetensors").write_text("half")
        raise KeyboardInterrupt

    monkeypatch.setattr(embedded, "_convert", interrupted)
    with pytest.raises(KeyboardInterrupt):
        embedded.ensure_converted()
    assert not any(embedded.converted_dir().parent.iterdir())


def test_a_conversion_finished_meanwhile_wins(conversion, monkeypatch):
    def raced(src: Path, into: Path) -> None:
        other = embedded.converted_dir()
        other.mkdir()
        whole_conversion(other, "the other process\n")
        whole_conversion(into, "ours\n")

    monkeypatch.setattr(embedded, "_convert", raced)
    dest = embedded.ensure_converted()
    assert (dest / embedded._MARK).read_text() == "the other process\n" and not leftovers(dest.parent)
