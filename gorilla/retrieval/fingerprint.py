"""Content identity of a model folder, so an index built with one copy of the weights is fresh for every copy.

An index's manifest records its embedder's fingerprint and is stale when that changes. Names, sizes and
mtimes were cheap but wrong: two installs of the same weights (a venv and a wheel install, a copied
cache) differ in mtime and rebuilt each other's indexes. The fingerprint hashes contents; reading the
~90 MB of MiniLM takes a fraction of a second, so each file's SHA-256 is remembered against
(path, size, mtime) in `<cache>/fingerprints.json`, and later processes pay one stat per file.
A changed file changes its size or mtime, so it is hashed again.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from gorilla.data import atomic_write
from gorilla.data.paths import cache_dir

MEMO_NAME = "fingerprints.json"
MEMO_FORMAT = 1
log = logging.getLogger("gorilla.retrieval")


def memo_path() -> Path:
    """One memo per user cache, shared by every install that uses it."""
    return cache_dir() / MEMO_NAME


def file_sha256(path: Path) -> str:
    """SHA-256 of a file read in 1 MiB chunks (model weights need not fit in memory twice)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def read_memo(path: Path) -> dict[str, dict[str, Any]]:
    """path -> {"stamp": [size, mtime_ns], "sha256": ...}; a missing, foreign or corrupt memo is empty
    (it is only a shortcut: losing it costs one re-hash)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    files = data.get("files") if isinstance(data, dict) and data.get("format") == MEMO_FORMAT else None
    return {k: v for k, v in (files or {}).items() if isinstance(v, dict) and isinstance(v.get("sha256"), str)}


def write_memo(path: Path, memo: dict[str, dict[str, Any]]) -> None:
    """Save atomically (readers never see half a file), dropping entries whose file is gone; a cache we
    cannot write (read-only, full) only costs re-hashing next time, so it is not an error."""
    kept = {k: v for k, v in memo.items() if Path(k).exists()}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(path) as f:
            json.dump({"format": MEMO_FORMAT, "files": kept}, f, indent=1, sort_keys=True)
    except OSError as e:
        log.debug("cannot save the fingerprint memo %s (%s)", path, e)


def content_hashes(files: list[Path], memo: dict[str, dict[str, Any]]) -> tuple[list[str], bool]:
    """Each file's SHA-256, from `memo` when its (size, mtime) still match, else read (and put in `memo`).
    Returns the hashes and whether `memo` changed."""
    hashes, changed = [], False
    for f in files:
        st = f.stat()
        key, stamp = str(f.resolve()), [st.st_size, st.st_mtime_ns]
        entry = memo.get(key)
        if entry is None or entry.get("stamp") != stamp:
            entry = memo[key] = {"stamp": stamp, "sha256": file_sha256(f)}
            changed = True
        hashes.append(entry["sha256"])
    return hashes, changed


def folder_fingerprint(folder: Path, memo_file: Path | None = None) -> str:
    """SHA-256 over every file's relative name and content hash: equal for equal copies wherever they lie."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    memo_file = memo_file or memo_path()
    memo = read_memo(memo_file)
    hashes, changed = content_hashes(files, memo)
    if changed:
        write_memo(memo_file, memo)
    h = hashlib.sha256()
    for f, digest in zip(files, hashes, strict=True):
        h.update(f"{f.relative_to(folder).as_posix()}:{digest}\n".encode())
    return h.hexdigest()
