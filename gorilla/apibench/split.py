"""Train/eval split by API, so an eval instruction's API may be one training never saw."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any


def eval_apis(keys: Sequence[str], fraction: float, seed: int = 0) -> set[str]:
    """The APIs held out: the `fraction` of keys with the smallest seeded hash (stable under additions)."""
    if not 0 <= fraction < 1:
        raise ValueError(f"eval fraction must be in [0, 1), got {fraction}")
    ranked = sorted(set(keys), key=lambda k: hashlib.sha256(f"{seed}:{k}".encode()).hexdigest())
    return set(ranked[: round(len(ranked) * fraction)])


def split_pairs(pairs: Sequence[dict[str, Any]], key_of, fraction: float, seed: int = 0) -> tuple[list, list]:
    """(train, eval) pairs; every pair of a held-out API goes to eval, file order kept."""
    held = eval_apis([key_of(p) for p in pairs], fraction, seed)
    train = [p for p in pairs if key_of(p) not in held]
    return train, [p for p in pairs if key_of(p) in held]
