"""Lexical head: which domain a request asks for, read from its words rather than from its embedding.

The task head (taskhead.py) sees a request only through MiniLM's 384 numbers, which blur the one word
that names a task ("depth", "segment", "speech") into the rest of the sentence. A softmax regression
over tf-idf weighted word unigrams and bigrams (the code-aware `tokenize`), trained on the same labelled
texts (every doc view and every solved request), keeps those words; the vote mixes it in after the task
head: share' = (1 - WEIGHT) * share + WEIGHT * p_lexical(domain | request).

Settings chosen on the dev halves, confirmed on the held-out halves (eval/results/retrieval.md, "The
lexical head"): weight 0.2 of {0.1, 0.2, 0.3, 0.4}, L2 1e-6 of {1e-6, 1e-5}. Features are hashed
(crc32 of the gram, 2^20 buckets), so no vocabulary is stored: the saved head keeps the rows of the
buckets its training texts fill (their ids sorted, each one's idf and weights); a query's other grams
are unknown words and weigh nothing. Training is full-batch Adam on a sparse matrix (measured: 2 s torchhub, 20 s Hugging Face), when the indexes are
built, cached like the task head (taskhead.cached_weights).
"""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np

from gorilla.retrieval.index import FORMAT_VERSION, index_dir
from gorilla.retrieval.taskhead import HeadConfig, cached_weights
from gorilla.retrieval.tokenize import tokenize

WEIGHT = 0.2
BUCKETS = 1 << 20


LEXICAL = HeadConfig(steps=300, lr=0.5, l2=1e-6)  # sparse rows of unit length want a larger step than the task head


def grams(text: str) -> Counter[int]:
    """Hashed word unigrams and bigrams of `text` with their counts."""
    words = tokenize(text)
    return Counter(zlib.crc32(g.encode()) % BUCKETS for g in [*words, *map(" ".join, zip(words, words[1:], strict=False))])


def tfidf_rows(texts: Sequence[str], ids: np.ndarray, idf: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each text as (columns into `ids`, unit-length weights (1 + log count) * idf); unknown buckets dropped."""
    out = []
    for text in texts:
        counts = grams(text)
        keys = np.fromiter(counts, dtype=np.int64, count=len(counts))
        pos = np.searchsorted(ids, keys).clip(0, max(len(ids) - 1, 0))
        known = (ids[pos] == keys) if len(ids) else np.zeros(len(keys), bool)
        cols = pos[known]
        vals = (1 + np.log([counts[k] for k in keys[known]])) * idf[cols] if known.any() else np.zeros(0)
        out.append((cols, vals / max(float(np.linalg.norm(vals)), 1e-9)))
    return out


def train_lexical(texts: Sequence[str], y: np.ndarray, n_classes: int,
                  cfg: HeadConfig = LEXICAL) -> dict[str, np.ndarray]:
    """{ids, idf, w, b}: the buckets the texts fill, their idf, and weights minimising cross-entropy + l2 |w|^2."""
    import torch

    torch.manual_seed(cfg.seed)
    df = Counter(k for t in texts for k in grams(t))
    ids = np.array(sorted(df), dtype=np.int64)
    idf = (np.log((1 + len(texts)) / (1 + np.array([df[k] for k in ids]))) + 1).astype(np.float32)
    rows = tfidf_rows(texts, ids, idf)
    r = np.concatenate([np.full(len(c), i) for i, (c, _) in enumerate(rows)])
    cols, vals = np.concatenate([c for c, _ in rows]), np.concatenate([v for _, v in rows]).astype(np.float32)
    x = torch.sparse_coo_tensor(torch.from_numpy(np.stack([r, cols])), torch.from_numpy(vals), (len(texts), len(ids)),
                                check_invariants=True).coalesce()
    yt = torch.from_numpy(y.astype(np.int64))
    w = torch.zeros(len(ids), n_classes, requires_grad=True)
    b = torch.zeros(n_classes, requires_grad=True)
    opt = torch.optim.Adam([w, b], lr=cfg.lr)
    for _ in range(cfg.steps):
        loss = torch.nn.functional.cross_entropy(torch.sparse.mm(x, w) + b, yt) + cfg.l2 * (w**2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return {"ids": ids, "idf": idf, "w": w.detach().numpy(), "b": b.detach().numpy()}


class LexicalHead:
    def __init__(self, weights: dict[str, np.ndarray]):
        self.ids, self.idf, self.w, self.b = weights["ids"], weights["idf"], weights["w"], weights["b"]

    def probs(self, query: str) -> np.ndarray:
        """p(domain | request) from the request's known words (the class prior alone when it has none)."""
        cols, vals = tfidf_rows([query], self.ids, self.idf)[0]
        z = vals @ self.w[cols] + self.b
        e = np.exp(z - z.max())
        return e / e.sum()


def lexical_expectation(hub: str, sources: dict[str, str], cfg: HeadConfig = LEXICAL) -> dict[str, object]:
    """The manifest fields a saved lexical head must carry to be fresh (shared with `gorilla doctor`)."""
    return {"format": FORMAT_VERSION, "kind": "lexical-head", "hub": hub, "sources": sources, "config": asdict(cfg)}


def lexical_dir(cache: Path | None, hub: str) -> Path:
    """Where the hub's lexical head lives, beside its indexes (it depends on no embedder)."""
    return index_dir(cache, hub, "head", "lexical", "domains")


def load_or_train_lexical(hub: str, sources: dict[str, str], rows: Callable[[], tuple[list[str], np.ndarray]],
                          n_classes: int, cache: Path | None = None) -> LexicalHead:
    """The cached lexical head if its manifest matches, else trained on `rows()` -> (texts, domain ids) and saved."""
    expected = lexical_expectation(hub, sources) | {"classes": n_classes}
    return LexicalHead(cached_weights(lexical_dir(cache, hub), expected, lambda: train_lexical(*rows(), n_classes),
                                      f"{hub}'s lexical head"))
