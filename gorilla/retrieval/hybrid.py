"""Reciprocal-rank fusion: robust to the components' incomparable score scales (BM25 vs cosine)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from gorilla.retrieval.base import Corpus, Retriever, best_first

RRF_K = 60  # the constant from Cormack et al. (2009); not tuned here


def call_ranks(corpus: Corpus, scores: np.ndarray) -> np.ndarray:
    """Per entry, the 0-based rank of its call among distinct calls (inf where the call is not a candidate)."""
    best = np.full(len(corpus.call_to_group), -np.inf)
    np.maximum.at(best, corpus.groups, scores)
    order = best_first(best)
    rank = np.full(len(best), np.inf)
    rank[order] = np.arange(len(order))
    return rank[corpus.groups]


class HybridRetriever(Retriever):
    """sum_i w_i / (RRF_K + rank_i) over calls; ties inside a call go to the entry the parts rank highest."""

    def __init__(self, corpus: Corpus, parts: Sequence[tuple[Retriever, float]], name: str = "hybrid",
                 rrf_k: int = RRF_K):
        self.corpus, self.parts, self.name, self.rrf_k = corpus, list(parts), name, rrf_k

    def relevance(self, query: str) -> float | None:
        return max((r for part, _ in self.parts if (r := part.relevance(query)) is not None), default=None)

    def scores(self, query: str) -> np.ndarray:
        fused = np.zeros(len(self.corpus.entries))
        tie = np.zeros_like(fused)
        for part, weight in self.parts:
            s = part.scores(query)
            fused += weight / (self.rrf_k + 1 + call_ranks(self.corpus, s))
            order = best_first(s)
            tie[order] += weight / (self.rrf_k + 1 + np.arange(len(order)))
        return np.where(fused > 0, fused + 1e-6 * tie, -np.inf)
