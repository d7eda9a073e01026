"""Example memory: solved instruction -> API pairs, queried by the user's text; neighbours vote for APIs.

A user's request usually reads like an earlier request far more than like an API's documentation,
so the nearest solved instructions are strong evidence. Only train files are indexed (never an
eval split): upstream's torchhub_train.json and the instructions shipped in gorilla/resources/instructions.
Each example votes, with its cosine similarity, for the database entries that share its api_call;
examples whose call is not in the database cannot vote and are counted in `unmapped`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from gorilla.data import Example, load_examples
from gorilla.errors import GorillaError
from gorilla.retrieval.base import Corpus, Retriever, file_sha256, normalize_call
from gorilla.retrieval.dense import embedded_index, knn

DEFAULT_NEIGHBOURS = 10


def example_sources(train_files: Sequence[Path], db: Path) -> dict[str, str]:
    """What the example memory is built of, file name -> SHA-256: the train files and the database (which maps
    their calls); its index and the task head are stale when any of them changes."""
    return {Path(f).name: file_sha256(f) for f in train_files} | {Path(db).name: file_sha256(db)}


def example_variant(sources: dict[str, str]) -> str:
    """The memory's index folder suffix: different train files get different folders, not one rebuilt in turn."""
    return hashlib.sha256("\n".join(sorted(sources.values())).encode()).hexdigest()[:10]


class ExampleRetriever(Retriever):
    name = "examples"

    def __init__(self, corpus: Corpus, train_files: Sequence[Path], embedder: str | None = None,
                 cache: Path | None = None, on_stale: str = "rebuild", neighbours: int = DEFAULT_NEIGHBOURS):
        if not train_files:
            raise GorillaError(f"no train examples for {corpus.hub}: pass train files (e.g. self-instruct output)")
        self.corpus, self.k_neighbours = corpus, neighbours
        pairs: list[Example] = [p for f in train_files for p in load_examples(f)]
        groups = [corpus.call_to_group.get(normalize_call(p.api_call), -1) for p in pairs]
        self.unmapped = sum(g < 0 for g in groups)
        pairs = [p for p, g in zip(pairs, groups, strict=True) if g >= 0]
        self.example_groups = np.array([g for g in groups if g >= 0], dtype=np.int64)
        if not pairs:
            raise GorillaError(f"none of the train examples' api_calls are in the {corpus.hub} API database")
        self.instructions = [p.instruction for p in pairs]
        self.sources = example_sources(train_files, corpus.path)
        self.model, self.index = embedded_index("examples", corpus.hub, self.instructions, self.sources,
                                                example_variant(self.sources),
                                                embedder, cache, on_stale)

    def neighbours(self, query: str) -> tuple[np.ndarray, np.ndarray]:
        """(cosine similarity, call group) of the nearest solved examples."""
        sims, ids = knn(self.model, self.index, query, self.k_neighbours)
        return sims, self.example_groups[ids]

    def scores(self, query: str) -> np.ndarray:
        """Sum of neighbour similarities per call; calls no neighbour voted for are -inf (not candidates)."""
        sims, groups = self.neighbours(query)
        votes = np.zeros(len(self.corpus.call_to_group))
        np.add.at(votes, groups, np.maximum(sims, 0.0))
        out = votes[self.corpus.groups]
        out[out <= 0] = -np.inf
        return out
