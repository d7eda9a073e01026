"""BM25Okapi over the code-aware tokens of each entry. Rebuilt on load: tokenising ~1k docs takes milliseconds.

rank-bm25 builds the statistics (idf, lengths, k1, b); its `get_scores` loops in Python over every
document for every query token (~10 ms for a long query on Hugging Face), so we precompute each
term's per-document weight once and score a query by adding a few postings lists (same numbers).
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from gorilla.retrieval.base import Corpus, Retriever
from gorilla.retrieval.docs import doc_text
from gorilla.retrieval.tokenize import tokenize

DEFAULT_BM25_FIELDS = "all"


class BM25Retriever(Retriever):
    name = "bm25"

    def __init__(self, corpus: Corpus, doc_fields: str = DEFAULT_BM25_FIELDS):
        from rank_bm25 import BM25Okapi

        self.corpus, self.doc_fields = corpus, doc_fields
        self.bm25 = bm = BM25Okapi([tokenize(doc_text(e, doc_fields)) or ["<empty>"] for e in corpus.entries])
        lists: dict[str, tuple[list[int], list[float]]] = defaultdict(lambda: ([], []))
        for j, freqs in enumerate(bm.doc_freqs):
            norm = bm.k1 * (1 - bm.b + bm.b * bm.doc_len[j] / bm.avgdl)
            for term, f in freqs.items():
                ids, weights = lists[term]
                ids.append(j)
                weights.append(bm.idf[term] * f * (bm.k1 + 1) / (f + norm))
        self.postings = {t: (np.array(i), np.array(w)) for t, (i, w) in lists.items()}

    def scores(self, query: str) -> np.ndarray:
        """Equal to `BM25Okapi.get_scores(tokenize(query))`; all zeros when no token is known."""
        out = np.zeros(len(self.corpus.entries))
        for token in tokenize(query):
            if hit := self.postings.get(token):
                out[hit[0]] += hit[1]
        return out
