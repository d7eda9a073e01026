"""Train files -> prompt/answer examples -> token ids with labels on the answer only.

Prompts and answers come from `gorilla.prompting`, the module inference uses, so a trained
model sees at inference exactly the text it saw in training. Retriever-aware training (RAT)
puts the retriever's top-k documents into a share of the prompts, wrong documents included,
so the model learns to use good documents and to ignore bad ones.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gorilla.calls import normalize_call
from gorilla.data import EvalPair, Hub, all_hubs, get_hub, hub_from_filename, load_eval
from gorilla.data.hubs import HUBS, TRAIN_FILES, resolve_alias
from gorilla.errors import GorillaError
from gorilla.prompting import OUTPUT_TAG, build_prompt, format_answer, parse_answer, render_doc

IGNORE = -100  # label value the loss skips


@dataclass(frozen=True)
class Example:
    """One training pair. `doc_hit` says whether the retrieved top doc was the gold API (None: 0-shot)."""

    prompt: str
    answer: str
    api_call: str
    hub: str
    doc_hit: bool | None = None
    lead: str = " "  # what joins prompt and answer: APIBench answers follow a space, a chat's answer nothing


@dataclass
class RatStats:
    """How retrieval went while building RAT prompts (reported: the model trains on wrong docs too)."""

    with_docs: int = 0
    top_wrong: int = 0

    @property
    def top_wrong_rate(self) -> float:
        return self.top_wrong / self.with_docs if self.with_docs else 0.0


@dataclass
class Dataset:
    train: list[Example]
    val: list[Example]
    files: list[tuple[str, Path]]
    rat: RatStats = field(default_factory=RatStats)


def train_files(hubs: Sequence[str], files: Sequence[str | Path], data_dir: str | Path | None) -> list[tuple[str, Path]]:
    """(hub, path) for each train file: `files`, else each hub's train split; refuses missing files and any eval
    split a known hub has."""
    names = [resolve_alias(h) for h in hubs]
    for h in names:
        if h not in HUBS:
            get_hub(h)  # an unknown hub is an error even beside own train files
    try:
        known, evals = [get_hub(h, data_dir) for h in names], {h.eval.resolve() for h in all_hubs(data_dir) if h.eval}
    except GorillaError:
        if not files:  # own train files need no APIBench beside them
            raise
        known, evals = [], set()
    chosen = [(None, Path(f)) for f in files] if files else [(h.name, _train_split(h)) for h in known]
    out = []
    for hub, path in chosen:
        if not path.is_file():
            raise GorillaError(f"{path}: train file not found")
        if path.resolve() in evals or path.name.endswith("_eval.json"):
            raise GorillaError(f"{path}: is an eval set; training never reads eval sets")
        hub = hub or hub_from_filename(path) or {v: k for k, v in TRAIN_FILES.items()}.get(path.name)
        if hub is None:
            if len(names) != 1:
                raise GorillaError(f"{path}: cannot tell the hub from the file name; pass one --hub")
            hub = names[0]
        out.append((hub, path))
    return out


def _train_split(hub: Hub) -> Path:
    if hub.train is None:
        raise GorillaError(f"hub {hub.name!r} has no train split (make one: gorilla apibench build --hub {hub.name})")
    return hub.train


def answer_of(pair: EvalPair, full: bool) -> str:
    """The target text; `full` adds the explanation and code recovered from the record's Output."""
    explanation = code = ""
    if full:
        parsed = parse_answer(pair.code.split("Output", 1)[-1].lstrip("'\":# ").removeprefix(OUTPUT_TAG))
        explanation, code = parsed["explanation"], parsed["code"]
    return format_answer(pair.domain, pair.api_call, pair.provider or pair.api_data.framework, explanation, code)


def build_examples(pairs: Sequence[tuple[str, EvalPair]], *, full_answer: bool = False,
                   search: Callable[[str, str, int], list[Any]] | None = None, rat_rate: float = 0.0,
                   rat_k: int = 1, seed: int = 0) -> tuple[list[Example], RatStats]:
    """Examples in input order. `search(hub, query, k)` returns retriever hits (`hit.entry.raw`)."""
    rng = random.Random(seed)
    stats = RatStats()
    out = []
    for hub, pair in pairs:
        instruction = pair.instruction
        docs, hit = [], None
        if search is not None and rng.random() < rat_rate:
            hits = search(hub, instruction, rat_k)
            docs = [render_doc(h.entry.raw) for h in hits]
            hit = bool(hits) and normalize_call(hits[0].entry.api_call) == normalize_call(pair.api_data.api_call)
            stats.with_docs += 1
            stats.top_wrong += not hit
        out.append(Example(build_prompt(instruction, docs), answer_of(pair, full_answer), pair.api_call, hub, hit))
    return out, stats


def split(examples: Sequence[Example], by: str, fraction: float, seed: int) -> tuple[list[Example], list[Example]]:
    """Hold out `fraction` of the examples: whole APIs (by="api": tests unseen calls) or single examples."""
    if fraction <= 0 or len(examples) < 2:
        return list(examples), []
    rng = random.Random(seed)
    want = max(1, round(fraction * len(examples)))
    if by == "example":
        held = set(rng.sample(range(len(examples)), want))
    else:
        keys = [normalize_call(e.api_call) for e in examples]  # one API however it is spaced or quoted
        calls = sorted(set(keys))
        rng.shuffle(calls)
        chosen, n = set(), 0
        for c in calls:
            if n >= want:
                break
            chosen.add(c)
            n += keys.count(c)
        held = {i for i, k in enumerate(keys) if k in chosen}
    return [e for i, e in enumerate(examples) if i not in held], [e for i, e in enumerate(examples) if i in held]


def load_dataset(hubs: Sequence[str], files: Sequence[str | Path], data_dir: str | Path | None, *,
                 full_answer: bool, search=None, rat_rate: float = 0.0, rat_k: int = 1,
                 val_split: str = "api", val_fraction: float = 0.05, seed: int = 0) -> Dataset:
    chosen = train_files(hubs, files, data_dir)
    pairs = [(hub, p) for hub, path in chosen for p in load_eval(path)]
    examples, stats = build_examples(pairs, full_answer=full_answer, search=search, rat_rate=rat_rate, rat_k=rat_k,
                                     seed=seed)
    train, val = split(examples, val_split, val_fraction, seed)
    return Dataset(train, val, chosen, stats)


def tool_dataset(pairs: Sequence[Any], files: Sequence[str | Path], render: Callable[[list[dict[str, str]]], str],
                 *, distractors: float, most: int, val_fraction: float, seed: int) -> Dataset:
    """Examples from tool-call pairs (gorilla.training.tooldata), prompts rendered by `render` (the model's chat
    template: prompting.render_chat), a share given distractor functions, validation held out by example."""
    from gorilla.training.tooldata import with_distractors

    pairs = with_distractors(pairs, distractors, most, seed)
    examples = [Example(render(p.chat()), p.answer, p.answer, "tools", lead="") for p in pairs]
    train, val = split(examples, "example", val_fraction, seed)
    return Dataset(train, val, [("tools", Path(f)) for f in files])


def encode(example: Example, tokenizer, max_len: int) -> dict[str, list[int]] | None:
    """Prompt ids then answer ids + EOS; labels are IGNORE over the prompt. None if too long.

    The two parts are tokenized separately, as at inference (the prompt alone, then generation),
    so the boundary is exact and the answer's first token is the one the model must produce.
    """
    prompt = tokenizer(example.prompt).input_ids
    answer = tokenizer(example.lead + example.answer, add_special_tokens=False).input_ids + [tokenizer.eos_token_id]
    if len(prompt) + len(answer) > max_len:
        return None
    return {"input_ids": prompt + answer, "labels": [IGNORE] * len(prompt) + answer}


def encode_all(examples: Sequence[Example], tokenizer, max_len: int) -> tuple[list[dict[str, list[int]]], int]:
    """Encoded rows and how many examples were dropped for exceeding max_len."""
    rows = [encode(e, tokenizer, max_len) for e in examples]
    kept = [r for r in rows if r is not None]
    return kept, len(rows) - len(kept)


def pack(rows: Sequence[dict[str, list[int]]], max_len: int) -> list[dict[str, list[int]]]:
    """Concatenate whole examples into rows of at most max_len tokens (first fit, in order).

    Fewer pad tokens per batch; examples in one row attend to earlier ones, the usual cheap trade.
    """
    packed: list[dict[str, list[int]]] = []
    for r in rows:
        for p in packed:
            if len(p["input_ids"]) + len(r["input_ids"]) <= max_len:
                p["input_ids"] += r["input_ids"]
                p["labels"] += r["labels"]
                break
        else:
            packed.append({"input_ids": list(r["input_ids"]), "labels": list(r["labels"])})
    return packed


class Collator:
    """Right-pad a batch; padded positions get attention 0 and label IGNORE."""

    def __init__(self, pad_id: int):
        self.pad_id = pad_id

    def __call__(self, rows: Sequence[dict[str, list[int]]]) -> dict[str, Any]:
        import torch

        width = max(len(r["input_ids"]) for r in rows)
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        labels = torch.full((len(rows), width), IGNORE, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, r in enumerate(rows):
            n = len(r["input_ids"])
            ids[i, :n] = torch.tensor(r["input_ids"])
            labels[i, :n] = torch.tensor(r["labels"])
            mask[i, :n] = 1
        return {"input_ids": ids, "attention_mask": mask, "labels": labels}
