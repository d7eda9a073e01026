"""How close a set of training instructions comes to an eval set: the check that written data is not a copy.

Three measures, per eval instruction, against the whole training set:
- the highest cosine similarity to any training instruction (packaged all-MiniLM-L6-v2); we report the
  median and the share at >= 0.95 (near-verbatim);
- whether it shares any run of 8 words with a training instruction (lower-cased, punctuation dropped).
Upstream's own torchhub train/eval split is the calibration: instructions written for the same APIs,
independently, land at median 0.849, 4.8% at >= 0.95, 25 of 186 sharing 8 words. A set no closer than
that on every measure is no more contaminated than the split upstream published.

    .venv/bin/python -m gorilla.apibench.contamination huggingface   # ours vs the HF eval set
"""

from __future__ import annotations

import re
import statistics
import sys
from collections.abc import Sequence

import numpy as np

NGRAM = 8
NEAR = 0.95


def ngrams(text: str, n: int = NGRAM) -> set[tuple[str, ...]]:
    words = re.findall(r"[a-z0-9]+", text.lower())
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


def shared_ngrams(evals: Sequence[str], train: Sequence[str], n: int = NGRAM) -> int:
    """How many eval instructions share a run of `n` words with some training instruction."""
    seen = set().union(*(ngrams(t, n) for t in train))
    return sum(bool(ngrams(e, n) & seen) for e in evals)


def max_cosines(evals: Sequence[str], train: Sequence[str], embedder: str = "all-MiniLM-L6-v2") -> np.ndarray:
    """Each eval instruction's highest cosine to any training instruction."""
    from gorilla.retrieval.embedder import load_embedder

    model = load_embedder(embedder)
    e, t = model.encode(list(evals)), model.encode(list(train))
    return np.max(e @ t.T, axis=1)


def contamination(evals: Sequence[str], train: Sequence[str]) -> dict:
    """The three measures (see the module docstring) as a JSON-able row."""
    cos = max_cosines(evals, train)
    return {"n_eval": len(evals), "n_train": len(train), "median_max_cos": round(float(statistics.median(cos)), 3),
            "share_ge_0.95": round(float(np.mean(cos >= NEAR)), 3), "shared_8gram": shared_ngrams(evals, train)}


def hub_contamination(hub: str) -> dict:
    """The hub's own example files (Hub.example_files: upstream's split for torchhub, the shipped requests
    for Hugging Face and TF Hub, a hub's self-instruct train split) against its eval instructions."""
    from gorilla.data import get_hub, load_eval, load_examples
    from gorilla.errors import GorillaError

    h = get_hub(hub)
    if h.eval is None:
        raise GorillaError(f"hub {h.name!r} has no eval split to check")
    train = [ex.instruction for f in h.example_files for ex in load_examples(f)]
    return contamination([p.instruction for p in load_eval(h.eval)], train)


if __name__ == "__main__":
    import json

    for h in sys.argv[1:] or ["torchhub", "tensorflowhub", "huggingface"]:
        print(json.dumps({"hub": h} | hub_contamination(h)))
