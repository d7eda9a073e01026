"""What every retriever shares: the hub's API database as a corpus, the Hit record, query checks, ranking.

Many database entries share one `api_call` (TF Hub: 696 entries, 77 distinct calls once spacing and quote style are ignored), so
ranking works on distinct calls: an entry's score stands for its call, each call appears
once in a result list, represented by its best-scoring entry.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gorilla.calls import normalize_call
from gorilla.data import ApiEntry, load_api_db
from gorilla.errors import GorillaError
from gorilla.retrieval.fingerprint import file_sha256 as file_sha256  # re-exported: one hashing of files

MAX_QUERY_CHARS = 2000  # the embedder reads 256 tokens at most; BM25 time grows with query length


@dataclass(frozen=True)
class Hit:
    """One ranked result: `index` is the entry's position in the hub's API database (file order)."""

    index: int
    score: float
    entry: ApiEntry


@dataclass
class Corpus:
    """A hub's API database plus the call-group of every entry."""

    hub: str
    path: Path
    entries: list[ApiEntry]
    groups: np.ndarray = field(init=False)          # entry -> id of its distinct (normalised) api_call
    call_to_group: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        self.call_to_group = {}
        for e in self.entries:
            self.call_to_group.setdefault(normalize_call(e.api_call), len(self.call_to_group))
        self.groups = np.array([self.call_to_group[normalize_call(e.api_call)] for e in self.entries], dtype=np.int64)

    @classmethod
    def load(cls, hub: str, path: Path) -> Corpus:
        return cls(hub, Path(path), load_api_db(path))

    @functools.cached_property
    def sha256(self) -> str:
        """The database file's hash, read once per corpus (every index and the task head key on it)."""
        return file_sha256(self.path)

    def entries_for_call(self, call: str) -> np.ndarray:
        """Positions of the entries whose api_call matches `call` (empty if none does)."""
        g = self.call_to_group.get(normalize_call(call))
        return np.flatnonzero(self.groups == g) if g is not None else np.array([], dtype=np.int64)


def check_query(query: str) -> str:
    """Reject what cannot be a request, cap what is too long to matter."""
    if not isinstance(query, str):
        raise GorillaError(f"query must be text, got {type(query).__name__}")
    query = query.strip()
    if not query:
        raise GorillaError("empty query: say what you want, e.g. \"classify bird species in photos\"")
    return query[:MAX_QUERY_CHARS]


def best_first(scores: np.ndarray, m: int | None = None) -> np.ndarray:
    """Positions of the finite scores, highest first, ties in position order: a stable sort of -scores without
    the -inf tail. With `m`, only a prefix of at least m of them (every tie of the m-th included), picked by a
    partial selection first: on a 100k-entry hub a full sort per query is milliseconds."""
    idx = np.flatnonzero(np.isfinite(scores))
    if m is not None and m < len(idx):
        kth = np.partition(scores[idx], len(idx) - m)[len(idx) - m]  # the m-th highest
        idx = idx[scores[idx] >= kth]
    return idx[np.argsort(-scores[idx], kind="stable")]


def top_hits(corpus: Corpus, scores: np.ndarray, k: int) -> list[Hit]:
    """The k best distinct calls; entries scored -inf are not candidates."""
    if k < 1:
        raise GorillaError(f"k must be at least 1, got {k}")
    depth = 8 * k  # entries looked at; deeper only when many of them share calls
    while True:
        order = best_first(scores, depth)
        hits: list[Hit] = []
        seen: set[int] = set()
        for i in order:
            g = int(corpus.groups[i])
            if g not in seen:
                seen.add(g)
                hits.append(Hit(int(i), float(scores[i]), corpus.entries[i]))
                if len(hits) == k:
                    return hits
        if len(order) < depth:  # every candidate seen
            return hits
        depth *= 8


class Retriever:
    """Subclasses score every database entry for a query; `search` ranks distinct calls."""

    name = "base"
    corpus: Corpus

    def scores(self, query: str) -> np.ndarray:
        raise NotImplementedError

    def search(self, query: str, k: int = 5) -> list[Hit]:
        return top_hits(self.corpus, self.scores(check_query(query)), k)

    def relevance(self, query: str) -> float | None:
        """How well this hub's database covers the query, on a scale shared by every hub (None: no such
        scale). Fused and BM25 scores are not comparable across databases; cosines from one embedder are."""
        return None
