"""Fetch APIBench from its public upstream into the user cache (for installs without ../shared)."""

from __future__ import annotations

import shutil
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from gorilla.data.hubs import EVAL_FILES, HUBS
from gorilla.data.paths import QUESTION_KINDS
from gorilla.errors import GorillaError

UPSTREAM = "https://raw.githubusercontent.com/ShishirPatil/gorilla/main"
MODELS = [f"Gorilla_{t}_{k}" for t in ("FT", "RT") for k in QUESTION_KINDS]


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
             timeout: float = 30.0) -> int:
    """Download every file into a staging folder, then move it into place as a whole."""
    staging = dest.with_name(dest.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        for url_path, rel in upstream_files():
            url = f"{base_url.rstrip('/')}/{url_path}"
            target = staging / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            if progress:
                progress(rel)
            try:
                with urllib.request.urlopen(url, timeout=timeout) as r, open(target, "wb") as f:
                    shutil.copyfileobj(r, f)
            except urllib.error.HTTPError as e:
                raise GorillaError(f"download {url}: HTTP {e.code}") from None
            except (urllib.error.URLError, OSError) as e:
                reason = getattr(e, "reason", e)
                raise GorillaError(f"download {url}: {reason} (no network? copy APIBench by hand and pass --data-dir)") from None
        if dest.exists():
            shutil.rmtree(dest)
        staging.rename(dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return len(upstream_files())
