"""Dense retrieval: sentence embeddings of each entry's doc text in a FAISS inner-product index.

An exact index (small hubs) scores every entry; an approximate one (index.APPROX_MIN vectors and more)
scores its CANDIDATES nearest entries and leaves the rest out (-inf), which is what keeps a query on
100k operations within its latency budget (eval/results/scale.md)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gorilla.errors import GorillaError
from gorilla.retrieval.base import Corpus, Retriever, check_query
from gorilla.retrieval.docs import DEFAULT_DOC_FIELDS, doc_text
from gorilla.retrieval.embedder import embedder_identity, load_embedder
from gorilla.retrieval.index import build_index, expectation, index_dir, index_params, is_exact, load_or_build
from gorilla.retrieval.resumable import embed

CANDIDATES = 100  # entries an approximate index scores per query: ten times the deepest list anyone asks for


def embedded_index(kind: str, hub: str, texts: list[str], sources: dict[str, str], variant: str,
                   embedder: str | None, cache: Path | None, on_stale: str):
    """(embedder, FAISS index over `texts`), loaded from the cache when fresh, else embedded and saved."""
    identity = embedder_identity(embedder)
    display = identity[0]
    params = index_params(len(texts))
    expected = expectation(kind, hub, identity, variant, sources) | {"count": len(texts), "index": params}
    model = load_embedder(embedder)
    folder = index_dir(cache, hub, kind, display, variant)
    vectors = lambda: embed(model, texts, folder, bf16=params.get("embed") == "bf16")  # noqa: E731
    index = load_or_build(folder, expected, lambda: build_index(vectors(), params), on_stale=on_stale)
    if index.d != model.dim:
        raise GorillaError(f"index dimension {index.d} != embedder {display} dimension {model.dim}")
    return model, index


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
