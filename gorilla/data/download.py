"""Fetch APIBench from its public upstream into the user cache (for installs without ../shared)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx

from gorilla.data.hubs import EVAL_FILES, HUBS
from gorilla.data.jsonl import MAX_FILE_BYTES, atomic_dir
from gorilla.data.paths import QUESTION_KINDS
from gorilla.errors import GorillaError

UPSTREAM = "https://raw.githubusercontent.com/ShishirPatil/gorilla/main"
MODELS = [f"Gorilla_{t}_{k}" for t in ("FT", "RT") for k in QUESTION_KINDS]
# The largest upstream file is 2.5 MB; a mirror that sends far more is wrong, and must not fill the disk.
OFFLINE_HINT = "no network? copy APIBench by hand and pass --data-dir"


def upstream_files() -> list[tuple[str, str]]:
    """(url path under UPSTREAM, path under our root) for every file of the layout."""
    files = [(f"data/api/{h}_api.jsonl", f"api/{h}_api.jsonl") for h in HUBS]
    files += [(f"data/apibench/{name}", f"apibench/{name}") for name in [*EVAL_FILES.values(), "torchhub_train.json"]]
    for h in HUBS:
        files += [(f"eval/eval-data/questions/{h}/questions_{h}_{k}.jsonl", f"questions/{h}/questions_{h}_{k}.jsonl")
                  for k in QUESTION_KINDS]
        files += [(f"eval/eval-data/responses/{h}/response_{h}_{m}.jsonl", f"responses/{h}/response_{h}_{m}.jsonl")
                  for m in MODELS]
    return files


def download(dest: Path, base_url: str = UPSTREAM, progress: Callable[[str], None] | None = None,
             timeout: float = 30.0, max_bytes: int = MAX_FILE_BYTES) -> int:
    """Download every file into a staging folder that replaces `dest` only once all have arrived
    (`atomic_dir`): a failed or interrupted download leaves the previous copy, or nothing, never half."""
    files = upstream_files()
    with httpx.Client(timeout=timeout, follow_redirects=True) as client, atomic_dir(dest) as staging:
        for url_path, rel in files:
            if progress:
                progress(rel)
            fetch(client, f"{base_url.rstrip('/')}/{url_path}", staging / rel, max_bytes)
    return len(files)


def fetch(client: httpx.Client, url: str, target: Path, max_bytes: int = MAX_FILE_BYTES) -> None:
    """Stream one file to `target`, refusing more than `max_bytes`; every failure is one GorillaError line."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with client.stream("GET", url) as r, target.open("wb") as f:
            if not r.is_success:
                raise GorillaError(f"download {url}: HTTP {r.status_code}")
            declared = r.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise GorillaError(f"download {url}: {int(declared)} bytes, more than the {max_bytes} allowed")
            size = 0
            for chunk in r.iter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    raise GorillaError(f"download {url}: more than the {max_bytes} bytes allowed")
                f.write(chunk)
    except httpx.HTTPError as e:
        raise GorillaError(f"download {url}: {str(e) or type(e).__name__} ({OFFLINE_HINT})") from None
    except OSError as e:
        raise GorillaError(f"download {url}: cannot write {target}: {e.strerror or e}") from None
