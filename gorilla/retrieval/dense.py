"""Dense retrieval: sentence embeddings of each entry's doc text in a FAISS inner-product index."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gorilla.errors import GorillaError
from gorilla.retrieval.base import Corpus, Retriever, check_query
from gorilla.retrieval.docs import DEFAULT_DOC_FIELDS, doc_text
from gorilla.retrieval.embedder import embedder_identity, load_embedder
from gorilla.retrieval.index import expectation, flat_ip, index_dir, load_or_build


def embedded_index(kind: str, hub: str, texts: list[str], sources: dict[str, str], variant: str,
                   embedder: str | None, cache: Path | None, on_stale: str):
    """(embedder, FAISS index over `texts`), loaded from the cache when fresh, else embedded and saved."""
    identity = embedder_identity(embedder)
    display = identity[0]
    expected = expectation(kind, hub, identity, variant, sources) | {"count": len(texts)}
    model = load_embedder(embedder)
    index = load_or_build(index_dir(cache, hub, kind, display, variant), expected,
                          lambda: flat_ip(model.encode(texts, progress=len(texts) > 200)), on_stale=on_stale)
    if index.d != model.dim:
        raise GorillaError(f"index dimension {index.d} != embedder {display} dimension {model.dim}")
    return model, index


def knn(model, index, query: str, k: int) -> tuple[np.ndarray, np.ndarray]:
    sims, ids = index.search(model.encode_query(query), min(k, index.ntotal))
    keep = ids[0] >= 0
    return sims[0][keep], ids[0][keep]


def cosines(model, index, query: str) -> np.ndarray:
    """The query's cosine to every indexed row, in row order."""
    sims, ids = knn(model, index, query, index.ntotal)
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
