"""Contrastive fine-tuning of the embedder on instruction -> API pairs (in-batch negatives).

Each instruction is pulled towards its API's doc text and pushed from the other docs in the batch,
except docs of the same api_call: two instructions for one API in a batch are not negatives
(their logits are masked), which matters here because train files hold ~9 instructions per API.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from gorilla.data import Example
from gorilla.data.jsonl import atomic_dir
from gorilla.errors import GorillaError
from gorilla.retrieval.base import Corpus, normalize_call
from gorilla.retrieval.docs import DEFAULT_DOC_FIELDS, doc_text
from gorilla.retrieval.embedder import DEFAULT_EMBEDDER, resolve_embedder


@dataclass
class FinetuneConfig:
    epochs: int = 1
    batch_size: int = 32
    lr: float = 2e-5
    temperature: float = 0.05
    max_seq_length: int = 128
    doc_fields: str = DEFAULT_DOC_FIELDS
    seed: int = 0


def training_pairs(corpus: Corpus, examples: Sequence[Example], doc_fields: str) -> list[tuple[str, list[str], str]]:
    """(instruction, doc texts of the entries with its call, call key) for every example whose call is in the
    database; the key names hub and call, so pooled hubs never share a group."""
    out = []
    for ex in examples:
        g = corpus.call_to_group.get(normalize_call(ex.api_call))
        if g is not None:
            docs = [doc_text(corpus.entries[i], doc_fields) for i in corpus.entries_for_call(ex.api_call)]
            out.append((ex.instruction, docs, f"{corpus.hub}:{g}"))
    return out


def contrastive_loss(q, d, groups, temperature: float):
    """Symmetric InfoNCE over a batch; another pair with the same call is masked, not a negative."""
    import torch

    logits = q @ d.T / temperature
    same = groups[:, None] == groups[None, :]
    logits = logits.masked_fill(same & ~torch.eye(len(groups), dtype=torch.bool), float("-inf"))
    labels = torch.arange(len(groups))
    return (torch.nn.functional.cross_entropy(logits, labels) + torch.nn.functional.cross_entropy(logits.T, labels)) / 2


def _train(model, data: list[tuple[str, list[str], str]], cfg: FinetuneConfig, progress: bool) -> list[float]:
    """The training loop: shuffled batches, a random doc of each example's API, linear warm-up."""
    import torch
    from tqdm import tqdm

    rng = random.Random(cfg.seed)
    torch.manual_seed(cfg.seed)
    keys = {k: i for i, k in enumerate(sorted({key for _, _, key in data}))}
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr)
    steps = cfg.epochs * ((len(data) + cfg.batch_size - 1) // cfg.batch_size)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / max(1, steps // 10)))

    def embed(texts: list[str]) -> torch.Tensor:
        feats = (getattr(model, "preprocess", None) or model.tokenize)(texts)
        return torch.nn.functional.normalize(model(feats)["sentence_embedding"], dim=-1)

    losses = []
    with tqdm(total=steps, desc="finetune", unit="step", disable=not progress) as bar:
        for _ in range(cfg.epochs):
            order = rng.sample(range(len(data)), len(data))
            for start in range(0, len(order), cfg.batch_size):
                batch = [data[i] for i in order[start:start + cfg.batch_size]]
                q = embed([text for text, _, _ in batch])
                d = embed([rng.choice(docs) for _, docs, _ in batch])
                loss = contrastive_loss(q, d, torch.tensor([keys[k] for _, _, k in batch]), cfg.temperature)
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
                losses.append(round(loss.item(), 4))
                bar.update(1)
                bar.set_postfix(loss=f"{losses[-1]:.3f}")
    return losses


def finetune(sources: Sequence[tuple[Corpus, Sequence[Example]]], out_dir: Path, embedder: str | None = None,
             cfg: FinetuneConfig | None = None, progress: bool = True) -> dict:
    """Train on the pooled (database, examples) sources, then write a sentence-transformers folder
    (safetensors) to `out_dir` atomically; return the log."""
    import torch
    from sentence_transformers import SentenceTransformer

    cfg = cfg or FinetuneConfig()
    data = [row for corpus, examples in sources for row in training_pairs(corpus, examples, cfg.doc_fields)]
    if not data:
        raise GorillaError("no training example's api_call is in the API database")
    display, target = resolve_embedder(embedder or DEFAULT_EMBEDDER)  # never stack on a previous run
    torch.manual_seed(cfg.seed)
    model = SentenceTransformer(str(target), device="cpu", local_files_only=True)  # never the network
    model.max_seq_length = cfg.max_seq_length
    model.train()
    t0 = time.time()
    losses = _train(model, data, cfg, progress)
    log = {"base": display, "hubs": [c.hub for c, _ in sources], "config": asdict(cfg), "examples": len(data),
           "steps": len(losses), "seconds": round(time.time() - t0, 1), "loss_first": losses[0], "loss_last": losses[-1]}
    model.eval()
    with atomic_dir(out_dir) as staging:
        model.save(str(staging), safe_serialization=True)
        (staging / "gorilla_finetune.json").write_text(json.dumps(log, indent=2), encoding="utf-8")
    return log
