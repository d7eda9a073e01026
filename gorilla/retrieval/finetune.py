"""Contrastive fine-tuning of the embedder on instruction -> API pairs (in-batch negatives).

Each instruction is pulled towards its API's doc text and pushed from the other docs in the batch,
except docs of the same api_call: two instructions for one API in a batch are not negatives
(their logits are masked), which matters here because train files hold ~9 instructions per API.
"""

from __future__ import annotations

import json
import random
import shutil
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from gorilla.data import EvalPair
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


def training_pairs(corpus: Corpus, pairs: Sequence[EvalPair]) -> list[tuple[str, list[int], int]]:
    """(instruction, entries with its call, call group) for every example whose call is in the database."""
    out = []
    for p in pairs:
        g = corpus.call_to_group.get(normalize_call(p.api_data.api_call or p.api_call))
        if g is not None:
            out.append((p.instruction, [int(i) for i in corpus.entries_for_call(p.api_data.api_call or p.api_call)], g))
    if not out:
        raise GorillaError("no training example's api_call is in the API database")
    return out


def contrastive_loss(q, d, groups, temperature: float):
    """Symmetric InfoNCE over a batch; another pair with the same call is masked, not a negative."""
    import torch

    logits = q @ d.T / temperature
    same = groups[:, None] == groups[None, :]
    logits = logits.masked_fill(same & ~torch.eye(len(groups), dtype=torch.bool), float("-inf"))
    labels = torch.arange(len(groups))
    return (torch.nn.functional.cross_entropy(logits, labels) + torch.nn.functional.cross_entropy(logits.T, labels)) / 2


def finetune(corpus: Corpus, pairs: Sequence[EvalPair], out_dir: Path, embedder: str | None = None,
             cfg: FinetuneConfig | None = None, progress: bool = True) -> dict:
    """Train, then write a sentence-transformers folder (safetensors) to `out_dir` atomically; return the log."""
    import torch
    from sentence_transformers import SentenceTransformer
    from tqdm import tqdm

    cfg = cfg or FinetuneConfig()
    rng = random.Random(cfg.seed)
    torch.manual_seed(cfg.seed)
    data = training_pairs(corpus, pairs)
    docs = [doc_text(e, cfg.doc_fields) for e in corpus.entries]
    display, target = resolve_embedder(embedder or DEFAULT_EMBEDDER)  # never stack on a previous run
    model = SentenceTransformer(str(target), device="cpu")
    model.max_seq_length = cfg.max_seq_length
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr)
    steps = cfg.epochs * ((len(data) + cfg.batch_size - 1) // cfg.batch_size)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / max(1, steps // 10)))

    def embed(texts: list[str]) -> torch.Tensor:
        feats = (getattr(model, "preprocess", None) or model.tokenize)(texts)
        return torch.nn.functional.normalize(model(feats)["sentence_embedding"], dim=-1)

    losses, t0 = [], time.time()
    bar = tqdm(total=steps, desc="finetune", unit="step", disable=not progress)
    for _ in range(cfg.epochs):
        order = list(range(len(data)))
        rng.shuffle(order)
        for start in range(0, len(order), cfg.batch_size):
            batch = [data[i] for i in order[start:start + cfg.batch_size]]
            groups = torch.tensor([g for _, _, g in batch])
            q = embed([text for text, _, _ in batch])
            d = embed([docs[rng.choice(entries)] for _, entries, _ in batch])
            loss = contrastive_loss(q, d, groups, cfg.temperature)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            losses.append(round(loss.item(), 4))
            bar.update(1)
            bar.set_postfix(loss=f"{losses[-1]:.3f}")
    bar.close()
    log = {"base": display, "config": asdict(cfg), "examples": len(data), "steps": steps,
           "seconds": round(time.time() - t0, 1), "loss_first": losses[0], "loss_last": losses[-1]}
    out_dir = Path(out_dir)
    staging = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    model.eval()
    model.save(str(staging), safe_serialization=True)
    (staging / "gorilla_finetune.json").write_text(json.dumps(log, indent=2), encoding="utf-8")
    if out_dir.exists():
        shutil.rmtree(out_dir)
    staging.rename(out_dir)
    return log
