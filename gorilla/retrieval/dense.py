"""Dense retrieval: sentence embeddings of each entry's doc text in a FAISS inner-product index.

An exact index (small hubs) scores every entry; an approximate one (index.APPROX_MIN vectors and more)
scores its CANDIDATES nearest entries and leaves the rest out (-inf), which is what keeps a query on
100k operations within its latency budget (eval/results/scale.md).

An index is rebuilt whenever its sources change (index.py), but a text it already held keeps its vector: a
`rows.json` beside index.faiss names each row's text by hash (and the index it belongs to), so a rebuild embeds
only the new texts (a re-added hub with one changed source file, a database grown by a few APIs); those go
through `resumable.embed`, so a killed rebuild resumes too."""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from gorilla.data import atomic_write, read_json
from gorilla.errors import GorillaError
from gorilla.retrieval.base import Corpus, Retriever, check_query
from gorilla.retrieval.docs import DEFAULT_DOC_FIELDS, doc_text
from gorilla.retrieval.embedder import embedder_identity, load_embedder
from gorilla.retrieval.index import (
    build_index,
    checksum_problem,
    expectation,
    index_dir,
    index_params,
    is_exact,
    load_or_build,
    log,
    read_manifest,
)
from gorilla.retrieval.resumable import embed

ROWS = "rows.json"

CANDIDATES = 100  # entries an approximate index scores per query: ten times the deepest list anyone asks for


def embedded_index(kind: str, hub: str, texts: list[str], sources: dict[str, str], variant: str,
                   embedder: str | None, cache: Path | None, on_stale: str):
    """(embedder, FAISS index over `texts`), loaded from the cache when fresh, else embedded (reusing the vectors
    of texts the folder's previous index held) and saved."""
    identity = embedder_identity(embedder)
    display = identity[0]
    params = index_params(len(texts))
    expected = expectation(kind, hub, identity, variant, sources) | {"count": len(texts), "index": params}
    model = load_embedder(embedder)
    folder = index_dir(cache, hub, kind, display, variant)
    keys = functools.cache(lambda: [text_key(t) for t in texts])  # hashed only when rows are embedded or written
    vectors = lambda: encode_new(model, texts, keys(), folder, identity[1], params)  # noqa: E731
    index = load_or_build(folder, expected, lambda: build_index(vectors(), params), on_stale=on_stale)
    if index.d != model.dim:
        raise GorillaError(f"index dimension {index.d} != embedder {display} dimension {model.dim}")
    remember_rows(folder, keys)
    return model, index


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def encode_new(model, texts: list[str], keys: list[str], folder: Path, fingerprint: str,
               params: dict[str, Any]) -> np.ndarray:
    """Vectors for `texts`: those the folder's previous index holds (same embedder files, same precision) copied
    from it, the rest embedded."""
    known = previous_vectors(folder, fingerprint, params.get("embed"))
    todo = [i for i, k in enumerate(keys) if k not in known]
    if known:
        log.info("preparing: %d of %d texts are new (the others keep their vectors)", len(todo), len(texts))
    out = np.zeros((len(texts), model.dim), dtype=np.float32)
    for i, k in enumerate(keys):
        if k in known:
            out[i] = known[k]
    if todo:
        out[todo] = embed(model, [texts[i] for i in todo], folder, bf16=params.get("embed") == "bf16")
    return out


def previous_vectors(folder: Path, fingerprint: str, precision: str | None) -> dict[str, np.ndarray]:
    """text key -> vector of the index in `folder`, where its rows file, manifest and file agree and it was
    embedded by the same model files at the same precision; {} otherwise (nothing to reuse)."""
    import faiss

    manifest, rows = read_manifest(folder) or {}, read_json(folder / ROWS) or {}
    if (manifest.get("embedder_fingerprint") != fingerprint or not isinstance(rows.get("rows"), list)
            or (manifest.get("index") or {}).get("embed") != precision
            or rows.get("index_sha256") != manifest.get("index_sha256") or checksum_problem(folder, manifest)):
        return {}
    try:
        index = faiss.read_index(str(folder / "index.faiss"))
        vectors = index.reconstruct_n(0, index.ntotal)
    except RuntimeError:  # an unreadable file, or an index that keeps no vectors to give back
        return {}
    return dict(zip(rows["rows"], vectors, strict=True)) if len(vectors) == len(rows["rows"]) else {}


def remember_rows(folder: Path, keys: Callable[[], list[str]]) -> None:
    """Write the rows file for the index now in `folder` (when it is not there yet); a read-only cache skips it."""
    sha = (read_manifest(folder) or {}).get("index_sha256")
    if sha is None or (read_json(folder / ROWS) or {}).get("index_sha256") == sha:
        return
    try:
        with atomic_write(folder / ROWS) as f:
            json.dump({"index_sha256": sha, "rows": keys()}, f)
    except OSError:
        pass


def knn(model, index, query: str, k: int) -> tuple[np.ndarray, np.ndarray]:
    sims, ids = index.search(model.encode_query(query), min(k, index.ntotal))
    keep = ids[0] >= 0
    return sims[0][keep], ids[0][keep]


def cosines(model, index, query: str) -> np.ndarray:
    """The query's cosine to every indexed row, in row order (an approximate index: to its CANDIDATES nearest
    rows, the others -inf)."""
    sims, ids = knn(model, index, query, index.ntotal if is_exact(index) else CANDIDATES)
    out = np.full(index.ntotal, -np.inf)
    out[ids] = sims
    return out


class DenseRetriever(Retriever):
    name = "dense"

    def __init__(self, corpus: Corpus, embedder: str | None = None, doc_fields: str = DEFAULT_DOC_FIELDS,
                 cache: Path | None = None, on_stale: str = "rebuild"):
        self.corpus, self.doc_fields = corpus, doc_fields
        self._last: tuple[str, np.ndarray] | None = None
        texts = [doc_text(e, doc_fields) for e in corpus.entries]
        self.blank = np.array([not t for t in texts])  # an entry with no text in this view is not a candidate
        self.model, self.index = embedded_index("dense", corpus.hub, texts, {corpus.path.name: corpus.sha256},
                                                doc_fields, embedder, cache, on_stale)

    def relevance(self, query: str) -> float | None:
        """The best cosine between the query and any document (measured to pick the right hub most often)."""
        return float(self.scores(check_query(query)).max())

    def scores(self, query: str) -> np.ndarray:
        """Cosine per entry; the last query's are remembered (fusion asks for them three times: as a part,
        for the domain vote, and for the hub's relevance)."""
        if self._last is None or self._last[0] != query:
            out = cosines(self.model, self.index, query)
            out[self.blank] = -np.inf
            out.setflags(write=False)  # shared between the callers above
            self._last = (query, out)
        return self._last[1]
