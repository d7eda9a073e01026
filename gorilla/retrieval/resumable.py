"""Embedding many texts as a resumable job: chunks saved as they finish, one progress line per chunk.

A user's catalogue of 100k operations took 12 minutes to embed on one shared core (eval/results/scale.md);
an interrupted build must not start over. Each chunk of CHUNK texts is saved under the index folder as
`chunks/<key>.npy`, the key being the SHA-256 of the embedder's fingerprint, the precision and the chunk's
texts, so a rerun reuses exactly the chunks whose texts and embedder are unchanged. The index folder drops
the chunks once the index itself is saved. Up to one chunk of texts nothing is written: a resume would
save little.
"""

from __future__ import annotations

import hashlib
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from gorilla.data import atomic_write

CHUNK = 4096  # 30 s of MiniLM (bf16) on one busy core (eval/results/scale.md): what a kill can lose
CHUNKS_DIR = "chunks"
log = logging.getLogger("gorilla.retrieval")


def chunk_key(fingerprint: str, texts: list[str], bf16: bool) -> str:
    """What a chunk's vectors depend on: the embedder's files, the precision asked for and the texts, in order."""
    h = hashlib.sha256(f"{fingerprint}\0{'bf16' if bf16 else 'fp32'}".encode())
    for t in texts:
        h.update(b"\0" + t.encode("utf-8", "surrogatepass"))
    return h.hexdigest()


def read_chunk(path: Path, rows: int, dim: int) -> np.ndarray | None:
    """The saved vectors if `path` holds a (rows, dim) float32 array, else None (missing, cut or foreign)."""
    try:
        vectors = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None
    return vectors if vectors.shape == (rows, dim) and vectors.dtype == np.float32 else None


def save_chunk(path: Path, vectors: np.ndarray) -> bool:
    """Save atomically (a killed write leaves no chunk); False, with a warning, if the cache cannot be written."""
    try:
        with atomic_write(path, "wb") as f:
            np.save(f, vectors, allow_pickle=False)
    except OSError as e:
        log.warning("cannot save embedded chunks to %s (%s): this build will not resume", path.parent, e.strerror or e)
        return False
    return True


def embed(model: Any, texts: list[str], folder: Path, bf16: bool = False) -> np.ndarray:
    """(len(texts), dim) unit vectors from `model` (an embedder.Embedder, `bf16` as its encode takes it);
    chunks cached under `folder`/chunks."""
    if len(texts) <= CHUNK:
        return model.encode(texts, progress=len(texts) > 200, bf16=bf16)
    out = np.empty((len(texts), model.dim), dtype=np.float32)
    todo = []
    for start in range(0, len(texts), CHUNK):
        part = texts[start:start + CHUNK]
        path = folder / CHUNKS_DIR / f"{chunk_key(model.fingerprint, part, bf16)}.npy"
        if (cached := read_chunk(path, len(part), model.dim)) is not None:
            out[start:start + len(part)] = cached
        else:
            todo.append((start, path))
    left = sum(len(texts[s:s + CHUNK]) for s, _ in todo)
    if left < len(texts):
        log.info("resuming: %d of %d texts already embedded", len(texts) - left, len(texts))
    t0, saving = time.monotonic(), True
    for n, (start, path) in enumerate(todo, 1):
        part = texts[start:start + CHUNK]
        out[start:start + len(part)] = vectors = model.encode(part, bf16=bf16)
        saving = saving and save_chunk(path, vectors)  # one warning, then carry on unsaved
        left -= len(part)
        rate = sum(len(texts[s:s + CHUNK]) for s, _ in todo[:n]) / (time.monotonic() - t0)
        log.info("embedded %d/%d texts (%.0f/s, about %.0f s left)", len(texts) - left, len(texts), rate, left / rate)
    return out
