"""Task head: which domain a request asks for, as a softmax regression over the request's embedding.

The domain vote hears the nearest few neighbours only (T = 0.02), so a request worded unlike any one
doc or example gets a noisy vote. A linear head trained on every labelled text the hub has (its solved
examples: torchhub_train.json, the instructions shipped in gorilla/resources/instructions; and each
entry's doc texts, labelled with the entry's domain) weighs all of them at once. The vote mixes it in:
share' = (1 - weight) * share + weight * p(domain | request).

Settings chosen on the dev halves, confirmed on the held-out halves (eval/results/retrieval.md, "The
default from a fresh install"): doc texts as extra rows, L2 1e-5, weight 0.6. Training is full-batch Adam
on vectors the indexes already hold (measured: torchhub 6 s, Hugging Face 49 s on 2 cores beside another
job), so it happens when the indexes are built; the weights are saved as
safetensors beside them under a manifest of what they were trained on, and retrained when that changes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from gorilla.data import atomic_write
from gorilla.retrieval.index import FORMAT_VERSION, index_dir, log, read_manifest, stale_reason

WEIGHT = 0.6


@dataclass(frozen=True)
class HeadConfig:
    steps: int = 1000
    lr: float = 0.05
    l2: float = 1e-5
    seed: int = 0


def train_head(x: np.ndarray, y: np.ndarray, n_classes: int, cfg: HeadConfig = HeadConfig()) -> dict[str, np.ndarray]:
    """Weights `w` (dim x classes) and bias `b` minimising cross-entropy + l2 * |w|^2 (full batch, deterministic)."""
    import torch

    torch.manual_seed(cfg.seed)
    xt, yt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)), torch.from_numpy(y.astype(np.int64))
    w = torch.zeros(x.shape[1], n_classes, requires_grad=True)
    b = torch.zeros(n_classes, requires_grad=True)
    opt = torch.optim.Adam([w, b], lr=cfg.lr)
    for _ in range(cfg.steps):
        loss = torch.nn.functional.cross_entropy(xt @ w + b, yt) + cfg.l2 * (w**2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return {"w": w.detach().numpy(), "b": b.detach().numpy()}


class TaskHead:
    def __init__(self, weights: dict[str, np.ndarray]):
        self.w, self.b = weights["w"], weights["b"]

    def probs(self, query_vector: np.ndarray) -> np.ndarray:
        """p(domain | request) for one (1, dim) query vector."""
        z = (query_vector @ self.w + self.b)[0]
        e = np.exp(z - z.max())
        return e / e.sum()


def head_expectation(hub: str, identity: tuple[str, str], sources: dict[str, str],
                     cfg: HeadConfig = HeadConfig()) -> dict[str, object]:
    """The manifest fields a saved head must carry to be fresh (training adds its class count); shared with
    `gorilla doctor`, which checks heads without training any."""
    display, fingerprint = identity
    return {"format": FORMAT_VERSION, "kind": "head", "hub": hub, "embedder": display,
            "embedder_fingerprint": fingerprint, "sources": sources, "config": asdict(cfg)}


def head_dir(cache: Path | None, hub: str, embedder: str) -> Path:
    """Where the hub's head for `embedder` (display name) lives, beside its indexes."""
    return index_dir(cache, hub, "head", embedder, "domains")


def load_or_train(hub: str, embedder: tuple[str, str], sources: dict[str, str], rows: Callable[[], tuple[np.ndarray, np.ndarray]], n_classes: int,
                  cache: Path | None = None, cfg: HeadConfig = HeadConfig()) -> TaskHead:
    """The cached head if its manifest matches (embedder, sources, config), else train on `rows()` -> (x, y) and save."""
    expected = head_expectation(hub, embedder, sources, cfg) | {"classes": n_classes}
    return TaskHead(cached_weights(head_dir(cache, hub, embedder[0]), expected,
                                   lambda: train_head(*rows(), n_classes, cfg), f"{hub}'s task head"))


def cached_weights(folder: Path, expected: dict[str, object], train: Callable[[], dict[str, np.ndarray]],
                   what: str) -> dict[str, np.ndarray]:
    """`folder`'s head.safetensors if its manifest is `expected`, else `train()`'s weights, saved there (manifest
    last, so a killed save reads as missing). A read-only cache still answers, from memory."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file, save

    if stale_reason(read_manifest(folder), expected) is None:
        try:
            return load_file(folder / "head.safetensors")
        except (OSError, SafetensorError) as e:  # a truncated or foreign file under a valid manifest
            log.warning("%s in %s unreadable (%s): retraining", what, folder, e)
    log.info("preparing: training %s (first run only)", what)
    weights = train()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "manifest.json").unlink(missing_ok=True)
        with atomic_write(folder / "head.safetensors", "wb") as f:
            f.write(save(weights))
        with atomic_write(folder / "manifest.json") as f:
            json.dump(expected, f, indent=2, sort_keys=True)
    except OSError as e:
        log.warning("cannot save %s to %s (%s): using it unsaved", what, folder, e.strerror or e)
    return weights
