"""Persisted FAISS indexes: a folder per (hub, kind, embedder, doc text) with a manifest that proves freshness.

The manifest records the source files' SHA-256, the embedder's name and file fingerprint, the
dimension, the count, the index type and its parameters (`index_params`: exact up to APPROX_MIN
vectors, HNSW past it), a format version and the SHA-256 of index.faiss itself. On load every field
must match and the file must hash to what the manifest says (an index overwritten in place with
as many bytes would otherwise be used), else the index is stale: rebuilt (with a warning) or
refused, never used. Files are written to temporaries and
renamed; the manifest is written last, so a crash leaves no index that looks complete.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gorilla.data import atomic_write
from gorilla.data.paths import cache_dir
from gorilla.errors import GorillaError
from gorilla.retrieval.base import file_sha256
from gorilla.retrieval.resumable import CHUNKS_DIR
from gorilla.threads import torch_threads

FORMAT_VERSION = 1
log = logging.getLogger("gorilla.retrieval")

# From this many vectors on, an index is approximate (HNSW, its texts embedded with bf16 products). Measured on
# synthetic operations, one core (eval/results/scale.md): at 10k, HNSW kept 99.97% of the exact top 10 and bf16
# embedded 2.9x the texts per second of float32 (a 10k build took 96 s; float32 alone would embed for ~230 s);
# exact search scoring every row, as small hubs do, took 1.5 ms at 10k, 7 ms at 20k and 46 ms at 100k.
# Below 10k there is little to gain for what approximation costs.
APPROX_MIN = 10_000
FLAT: dict[str, Any] = {"type": "flat"}
# HNSW over inner product (vectors are unit length: cosine). M = graph degree, ef_* = beam widths when adding
# and searching. Chosen on 100k operations (scale.md): recall@10 against the exact index 0.995 at ef_search 256
# (0.983 at 128) for under a millisecond a query, built in 40-60 s on one core, which embedding dwarfs; IVF
# kept 0.90 at nprobe 32 of 1264 lists, and M 16 or ef_construction 40 lost 1-2 points.
# An approximate index already trades exactness for time, so its texts are embedded with bf16 products where
# the CPU has them (embedder.Embedder.encode: within 3e-5 cosine of float32, ~2.8x faster here).
HNSW: dict[str, Any] = {"type": "hnsw", "M": 32, "ef_construction": 80, "ef_search": 256, "embed": "bf16"}
# Manifest fields that older manifests lack, and what they meant then: every index was exact.
LEGACY = {"index": FLAT}


def default_index_root() -> Path:
    return cache_dir() / "indexes"


def index_dir(root: Path | None, hub: str, kind: str, embedder: str, variant: str) -> Path:
    slug = re.sub(r"[^A-Za-z0-9.-]+", "_", Path(embedder).name if "/" in embedder else embedder)
    return Path(root or default_index_root()) / hub / f"{kind}-{slug}-{variant}"


def expectation(kind: str, hub: str, identity: tuple[str, str], variant: str, sources: dict[str, str]) -> dict[str, Any]:
    """The manifest fields an index must carry to be fresh, from what it is built of; one definition for the
    builders (which add the vector count) and for `gorilla doctor` (which checks without building)."""
    display, fingerprint = identity
    return {"format": FORMAT_VERSION, "kind": kind, "hub": hub, "embedder": display, "embedder_fingerprint": fingerprint,
            "variant": variant, "sources": sources}


def read_manifest(folder: Path) -> dict[str, Any] | None:
    try:
        return json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, json.JSONDecodeError) as e:
        return {"unreadable": str(e)}


def stale_reason(found: dict[str, Any] | None, expected: dict[str, Any]) -> str | None:
    """None when `found` matches `expected` on every key, else what differs (in words)."""
    if found is None:
        return "no index built yet"
    if "unreadable" in found:
        return f"manifest unreadable ({found['unreadable']})"
    for key, want in expected.items():
        if found.get(key, LEGACY.get(key)) != want:
            what = {"sources": "source data changed", "embedder_fingerprint": "embedder files changed",
                    "embedder": "different embedder", "format": "index format changed"}.get(key, f"{key} differs")
            return f"{what} ({key}: index has {found.get(key)!r:.80}, now {want!r:.80})"
    return None


def build_step(expected: dict[str, Any]) -> str:
    """What building the index of `expected` does, in a user's words (the line a first query prints)."""
    hub, count = expected.get("hub", "?"), expected.get("count", "?")
    what = {"dense": f"{hub}'s {count} API docs, {expected.get('variant')} text",
            "examples": f"{hub}'s {count} solved requests",
            "tasks": f"{hub}'s task glossary, {count} tasks"}.get(str(expected.get("kind")), f"{hub}'s {count} texts")
    return f"embedding {what}"


def checksum_problem(folder: Path, found: dict[str, Any]) -> str | None:
    """None when index.faiss hashes to the manifest's `index_sha256`, else why it cannot be trusted."""
    want = found.get("index_sha256")
    if not isinstance(want, str):
        return "manifest has no index checksum (written by an older gorilla)"
    try:
        have = file_sha256(folder / "index.faiss")
    except OSError as e:
        return f"index.faiss unreadable ({e.strerror or e})"
    return None if have == want else "index.faiss changed since it was built (SHA-256 differs from the manifest)"


def write_index(folder: Path, index: Any, manifest: dict[str, Any]) -> None:
    """index.faiss then the manifest (with the file's SHA-256), each renamed into place: the manifest lands last."""
    import faiss

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "manifest.json").unlink(missing_ok=True)  # invalid until the new manifest lands
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".index.faiss.", suffix=".tmp")
    os.close(fd)
    try:
        faiss.write_index(index, tmp)
        checksum = file_sha256(Path(tmp))
        os.replace(tmp, folder / "index.faiss")
    finally:
        Path(tmp).unlink(missing_ok=True)
    with atomic_write(folder / "manifest.json") as f:
        json.dump({**manifest, "index_sha256": checksum}, f, indent=2, sort_keys=True)


def load_or_build(folder: Path, expected: dict[str, Any], build: Callable[[], Any], *,
                  on_stale: str = "rebuild") -> Any:
    """The FAISS index in `folder` if its manifest matches `expected`, else `build()` (saved) or an error.

    on_stale: "rebuild" (default; logs why) or "error" (refuse, e.g. for read-only deployments).
    A missing index is always built.
    """
    import faiss

    found = read_manifest(folder)
    reason = stale_reason(found, expected) or checksum_problem(folder, found or {})
    if reason is None:
        try:
            index = faiss.read_index(str(folder / "index.faiss"))
        except RuntimeError as e:  # truncated or foreign file under a valid manifest
            reason = f"index.faiss unreadable ({str(e).strip().splitlines()[-1][:80]})"
        else:
            if index.ntotal == expected.get("count", index.ntotal):
                return index
            reason = f"index holds {index.ntotal} vectors, manifest says {expected.get('count')}"
    if found is not None:
        if on_stale == "error":
            raise GorillaError(f"stale index {folder}: {reason}; rebuild it with `gorilla index build`")
        log.warning("index %s is stale (%s): rebuilding", folder, reason)
    else:
        log.info("preparing: %s (first run only)", build_step(expected))
    index = build()
    try:
        write_index(folder, index, {**expected, "dim": index.d})
    except OSError as e:  # read-only cache: still answer, from memory
        log.warning("cannot save index to %s (%s): using it unsaved", folder, e.strerror or e)
    else:
        shutil.rmtree(folder / CHUNKS_DIR, ignore_errors=True)  # a resumable build's pieces: the index holds them now
    return index


def index_params(count: int) -> dict[str, Any]:
    """The index type (and parameters) for `count` vectors: exact below APPROX_MIN, HNSW from there on.
    Builders add it to the manifest's expectation, so changing either makes an index stale."""
    return dict(FLAT if count < APPROX_MIN else HNSW)


def build_index(vectors: Any, params: dict[str, Any]) -> Any:
    """An inner-product index over `vectors` of the kind `params` (index_params) names.

    HNSW (faiss.IndexHNSWFlat) rather than IVF: no training step, nothing to size to the count (IVF's
    nlist), and the measured recall was as good at a build time that embedding dwarfs (scale.md)."""
    import faiss

    if (threads := torch_threads()) is not None:
        faiss.omp_set_num_threads(threads)  # $GORILLA_THREADS binds FAISS's OpenMP too
    if params["type"] == "flat":
        return flat_ip(vectors)
    if params["type"] != "hnsw":
        raise GorillaError(f"unknown index type {params['type']!r}")
    index = faiss.IndexHNSWFlat(vectors.shape[1], params["M"], faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = params["ef_construction"]
    index.hnsw.efSearch = params["ef_search"]  # saved with the index: a loaded one searches alike
    index.add(vectors)
    return index


def is_exact(index: Any) -> bool:
    """True for a flat index, whose search can score every row; an approximate one answers its top k."""
    import faiss

    return isinstance(index, faiss.IndexFlat)


def flat_ip(vectors: Any) -> Any:
    """Exact inner-product index (vectors are normalised, so this is cosine)."""
    import faiss

    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(vectors)
    return index
