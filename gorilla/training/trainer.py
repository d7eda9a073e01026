"""One fine-tuning run on the Hugging Face Trainer: data, model, LoRA, checkpoints, resume, final save.

    gorilla train --preset tiny --out runs/tiny            # CPU, seconds: a random 2-layer Llama (the tests' run)
    gorilla train --preset smollm2-135m --hub torchhub --out runs/th --eval
    accelerate launch --config_file "$(gorilla train --accelerate-config fsdp)" -m gorilla train --preset llama-3.1-8b --out runs/8b

From Python: `main(TrainConfig(base="embedded", out="runs/th"))` (`train` is the same function). Rerunning
the same command resumes from the last checkpoint; rerunning a finished run returns its summary.

Layout of OUT:
    train_config.toml      every setting (rerun with --config)
    checkpoints/checkpoint-N/  weights + optimizer + scheduler + RNG (resume picks the last)
    train_log.jsonl        one line per logging step (loss, lr, tokens/s)
    train_summary.json     wall time, tokens/s, losses, data counts, RAT retrieval figures
    (model files)          the adapter (LoRA) or full model, plus tokenizer: loadable by `--model OUT`
    merged/                with --merge: the adapter folded into the base
The same call runs under `torchrun`/`accelerate launch` (DDP, FSDP, DeepSpeed): the Trainer
reads the launcher's environment; only rank 0 writes files.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gorilla.data import atomic_write
from gorilla.errors import GorillaError
from gorilla.training.config import CONFIG_NAME, TrainConfig, read_toml
from gorilla.training.data import Collator, Dataset, encode_all, load_dataset, pack, tool_dataset
from gorilla.training.tooldata import read_tool_pairs

RAT_RETRIEVERS = ("bm25", "dense", "hybrid")
SUMMARY = "train_summary.json"
EVAL_ONLY_KEYS = {"evaluate", "eval_limit", "eval_constrained"}  # settings that do not change the trained model

Row = dict[str, list[int]]


def main(cfg: TrainConfig, callbacks: Sequence[Any] = ()) -> dict[str, Any]:
    """Run (or resume) the fine-tuning described by `cfg`; return the summary written to OUT.

    `callbacks` are extra Trainer callbacks (tests use them to interrupt a run and inspect a resume).
    """
    cfg.validate()
    from gorilla.training.model import check_base

    check_base(cfg.base)  # before anything slow
    out = Path(cfg.out)
    if (out / SUMMARY).is_file() and _same_run(out, cfg):
        _say(f"already trained: {out / SUMMARY} (delete it to train again)")
        return json.loads((out / SUMMARY).read_text())
    pairs = [p for f in cfg.tool_files for p in read_tool_pairs(f)]  # checked before anything slow
    data = None if pairs else load_data(cfg)
    device = prepare(cfg)
    model, tok, base_ref = build_model(cfg, device)
    data = data or tool_data(cfg, pairs, tok)
    params = count_params(model)
    rows = encode_rows(data, tok, cfg)
    _say(describe_data(cfg, data, rows.dropped))
    _say(describe_model(cfg, device, params))
    trainer, progress = build_trainer(cfg, device, model, tok, rows, callbacks)
    session = fit(trainer, progress, out, has_val=bool(rows.val))
    trainer.save_model(str(out))  # on every rank: FSDP and DeepSpeed need all of them to save; rank 0 writes
    if not trainer.is_world_process_zero():
        return {}
    save_extras(cfg, tok, base_ref)
    summary = summarize(cfg, device, trainer, data, rows.dropped, params, session)
    write_summary(out, summary)
    _say(f"saved {'adapter' if cfg.lora else 'model'} to {out}"
         + (f" and merged model to {out / 'merged'}" if cfg.lora and cfg.merge else ""))
    return summary


train = main  # the name gorilla.training, the CLI and the tests call


@dataclass(frozen=True)
class Device:
    """Where the run trains and in what precision: cfg's "auto" settings decided once, for the
    TrainingArguments, the model line and the summary alike."""

    cuda: bool
    bf16: bool
    fp16: bool
    checkpointing: bool

    @classmethod
    def resolve(cls, cfg: TrainConfig) -> Device:
        """Decide "auto": bf16 where CUDA supports it and gradient checkpointing on CUDA; fp32 and neither on CPU."""
        import torch

        cuda = torch.cuda.is_available()
        auto_bf16 = cfg.precision == "auto" and cuda and torch.cuda.is_bf16_supported()
        return cls(cuda=cuda, bf16=cfg.precision == "bf16" or auto_bf16,
                   fp16=cfg.precision == "fp16",
                   checkpointing=cfg.grad_checkpointing == "on" or (cfg.grad_checkpointing == "auto" and cuda))

    @property
    def name(self) -> str:
        return "cuda" if self.cuda else "cpu"

    @property
    def precision(self) -> str:
        return "bf16" if self.bf16 else "fp16" if self.fp16 else "fp32"


@dataclass(frozen=True)
class Rows:
    """What the Trainer consumes: token rows with answer-only labels, and how many examples did not fit."""

    train: list[Row]
    val: list[Row]
    dropped: int


@dataclass(frozen=True)
class Session:
    """What this process's `trainer.train` measured: a resumed run counts only its own time and tokens."""

    train_loss: float
    val_loss: float | None
    wall_s: float
    tokens_seen: int  # over the whole run, resumed sessions included
    tokens_per_s: float


def load_data(cfg: TrainConfig) -> Dataset:
    """Train and validation examples from cfg's train files, a share of them with retrieved docs (RAT)."""
    return load_dataset(cfg.hubs, cfg.train_files, cfg.data_dir or None, full_answer=cfg.answer == "full",
                        search=_searcher(cfg), rat_rate=cfg.rat_rate, rat_k=cfg.rat_k, val_split=cfg.val_split,
                        val_fraction=cfg.val_fraction, seed=cfg.seed)


def tool_data(cfg: TrainConfig, pairs: Sequence[Any], tok: Any) -> Dataset:
    """Tool-call examples, their prompts rendered with the model's own chat template (as inference renders them)."""
    from gorilla.prompting import render_chat

    return tool_dataset(pairs, cfg.tool_files, lambda chat: render_chat(tok, chat), distractors=cfg.distractors,
                        most=cfg.max_distractors, val_fraction=cfg.val_fraction, seed=cfg.seed)


def prepare(cfg: TrainConfig) -> Device:
    """Seed, quiet transformers' weight-saving bars (our own lines show progress), decide the device, and
    record the settings in OUT before any weights load, so even an interrupted run says how it was started."""
    from transformers import set_seed
    from transformers.utils.logging import disable_progress_bar

    set_seed(cfg.seed)
    disable_progress_bar()
    device = Device.resolve(cfg)
    if _rank0():
        out = Path(cfg.out)
        out.mkdir(parents=True, exist_ok=True)
        with atomic_write(out / CONFIG_NAME) as f:
            f.write(cfg.to_toml())
    return device


def build_model(cfg: TrainConfig, device: Device) -> tuple[Any, Any, str]:
    """(model, tokenizer, where the base lives): the base with LoRA on top when cfg asks for it."""
    from gorilla.training.model import add_lora, load_base

    model, tok, base_ref = load_base(cfg)
    if cfg.lora:
        model = add_lora(model, cfg)
        if device.checkpointing:  # frozen embeddings: checkpointed blocks would otherwise get no gradient
            model.enable_input_require_grads()
    return model, tok, base_ref


def count_params(model: Any) -> tuple[int, int]:
    """(all, trained) parameter counts, taken before the Trainer wraps or shards the model."""
    return sum(p.numel() for p in model.parameters()), sum(p.numel() for p in model.parameters() if p.requires_grad)


def encode_rows(data: Dataset, tok: Any, cfg: TrainConfig) -> Rows:
    """Tokenize (and with cfg.packing, pack) the examples; refuse a run with nothing left to train on."""
    train_rows, dropped = encode_all(data.train, tok, cfg.max_len)
    val_rows, _ = encode_all(data.val, tok, cfg.max_len)
    if cfg.packing:
        train_rows = pack(train_rows, cfg.max_len)
    if not train_rows:
        raise GorillaError(f"no training examples fit in max_len={cfg.max_len} tokens")
    return Rows(train_rows, val_rows, dropped)


def describe_data(cfg: TrainConfig, data: Dataset, dropped: int) -> str:
    """The data line printed before training: counts, files, drops and how often RAT's top doc was wrong."""
    by = "example" if cfg.tool_files else cfg.val_split
    rat = (f"; RAT: {data.rat.with_docs} prompts with docs, top doc wrong in {data.rat.top_wrong}"
           f" ({data.rat.top_wrong_rate:.1%})" if data.rat.with_docs else "")
    return (f"data: {len(data.train)} train / {len(data.val)} val examples (split by {by}) from "
            f"{', '.join(str(p) for _, p in data.files)}; {dropped} dropped over {cfg.max_len} tokens{rat}")


def describe_model(cfg: TrainConfig, device: Device, params: tuple[int, int]) -> str:
    """The model line printed before training: size, what is trained, precision and device."""
    n_params, n_train = params
    return (f"model: {cfg.base} ({n_params / 1e6:.1f}M params, {n_train / 1e6:.2f}M trained, "
            f"{'LoRA r=' + str(cfg.lora_r) if cfg.lora else 'full'}), {device.precision}"
            f"{', gradient checkpointing' if device.checkpointing else ''}, {device.name}")


def training_args(cfg: TrainConfig, device: Device, has_val: bool) -> Any:
    """cfg as TrainingArguments: checkpoints under OUT/checkpoints, no reporters or tqdm (our callback logs),
    validation every eval_steps only when there is a validation set."""
    from transformers import TrainingArguments

    return TrainingArguments(
        output_dir=str(Path(cfg.out) / "checkpoints"), per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=cfg.batch_size, gradient_accumulation_steps=cfg.grad_accum,
        num_train_epochs=cfg.epochs, max_steps=cfg.max_steps or -1, learning_rate=cfg.lr,
        lr_scheduler_type=cfg.scheduler, warmup_steps=cfg.warmup if cfg.warmup < 1 else int(cfg.warmup),
        weight_decay=cfg.weight_decay, seed=cfg.seed, data_seed=cfg.seed, bf16=device.bf16, fp16=device.fp16,
        activation_checkpointing=device.checkpointing, logging_steps=cfg.logging_steps, logging_first_step=True,
        save_strategy="steps", save_steps=cfg.save_steps, save_total_limit=cfg.save_total_limit,
        eval_strategy="steps" if has_val and cfg.eval_steps else "no",
        eval_steps=cfg.eval_steps or None, include_num_input_tokens_seen="non_padding", report_to=[],
        disable_tqdm=True, remove_unused_columns=False, use_cpu=not device.cuda, dataloader_num_workers=0,
        train_sampling_strategy="group_by_length" if not cfg.packing else "random",
        ddp_find_unused_parameters=False if cfg.lora else None, log_level="warning",
    )


def build_trainer(cfg: TrainConfig, device: Device, model: Any, tok: Any, rows: Rows,
                  callbacks: Sequence[Any]) -> tuple[Any, Any]:
    """(Trainer, our progress callback): the callback replaces transformers' printer and writes train_log.jsonl."""
    from transformers import PrinterCallback, Trainer

    progress = _progress_callback(Path(cfg.out))
    trainer = Trainer(model=model, args=training_args(cfg, device, has_val=bool(rows.val)), train_dataset=rows.train,
                      eval_dataset=rows.val or None,
                      data_collator=Collator(tok.pad_token_id), callbacks=[progress, *callbacks])
    trainer.remove_callback(PrinterCallback)
    return trainer, progress


def fit(trainer: Any, progress: Any, out: Path, has_val: bool) -> Session:
    """Train from OUT's newest complete checkpoint if there is one (weights, optimizer, scheduler, RNG), then
    validate once."""
    last = resume_point(out / "checkpoints")
    t0 = time.monotonic()
    result = trainer.train(resume_from_checkpoint=str(last) if last else None)
    wall = time.monotonic() - t0
    tokens = trainer.state.num_input_tokens_seen
    rate = (tokens - progress.tok0) / wall if wall > 0 else 0.0
    val_loss = trainer.evaluate()["eval_loss"] if has_val else None
    return Session(result.training_loss, val_loss, wall, tokens, rate)


_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


def checkpoint_problem(folder: Path) -> str | None:
    """None when `folder` holds a whole checkpoint, else what is missing or cut. The Trainer writes weights,
    then optimizer, scheduler and RNG state, and trainer_state.json last, none atomically: a kill leaves a
    folder that looks like a checkpoint, so each file is checked (headers only, microseconds)."""
    from gorilla.models.weights import safetensors_problem, torch_file_problem

    try:
        step = json.loads((folder / "trainer_state.json").read_text(encoding="utf-8"))["global_step"]
    except (OSError, ValueError, KeyError, TypeError):
        return "no readable trainer_state.json"
    if not isinstance(step, int):
        return "trainer_state.json has no step"
    weights = sorted(folder.glob("*.safetensors"))
    if not weights and not any(folder.glob("*.bin")):
        return "no weights"
    for path in weights:
        if why := safetensors_problem(path):
            return f"{path.name} {why}"
    for path in sorted([*folder.glob("*.pt"), *folder.glob("*.pth")]):
        if why := torch_file_problem(path):
            return f"{path.name} {why}"
    return None


def resume_point(checkpoints: Path) -> Path | None:
    """The newest complete checkpoint under `checkpoints` (None: start afresh), saying which and why newer ones
    were passed over. Rank 0 deletes those: they cannot be resumed from, and the Trainer would write the same
    step's files into them again."""
    found = []
    if checkpoints.is_dir():
        found = sorted((int(m.group(1)), p) for p in checkpoints.iterdir() if p.is_dir() and (m := _CHECKPOINT.match(p.name)))
    for _, folder in reversed(found):
        why = checkpoint_problem(folder)
        if why is None:
            _say(f"resuming from {folder} (the newest complete checkpoint)")
            return folder
        _say(f"removing incomplete checkpoint {folder.name}: {why}")
        if _rank0():
            shutil.rmtree(folder, ignore_errors=True)
    return None


def save_extras(cfg: TrainConfig, tok: Any, base_ref: str) -> None:
    """Rank 0, after `save_model`: make OUT loadable on its own (tokenizer, adapter pointing at its base on
    disk, no pickled TrainingArguments) and, with cfg.merge, fold the adapter into OUT/merged."""
    from gorilla.training.model import merge_adapter

    out = Path(cfg.out)
    (out / "training_args.bin").unlink(missing_ok=True)  # a pickle; train_config.toml is the record
    tok.save_pretrained(str(out))
    if not cfg.lora:
        return
    adapter_cfg = json.loads((out / "adapter_config.json").read_text())
    adapter_cfg["base_model_name_or_path"] = base_ref  # so `--model OUT` finds the base without this config
    with atomic_write(out / "adapter_config.json") as f:
        json.dump(adapter_cfg, f, indent=2)
    if cfg.merge:
        merge_adapter(out, out / "merged")


def summarize(cfg: TrainConfig, device: Device, trainer: Any, data: Dataset, dropped: int, params: tuple[int, int],
              session: Session) -> dict[str, Any]:
    """The record of the run in train_summary.json: setup, data and RAT counts, losses, throughput."""
    n_params, n_train = params
    return {
        "base": cfg.base, "preset": cfg.preset, "lora": cfg.lora, "device": device.name,
        "world_size": trainer.args.world_size, "params": n_params, "trained_params": n_train,
        "train_examples": len(data.train), "val_examples": len(data.val), "dropped_too_long": dropped,
        "rat_prompts_with_docs": data.rat.with_docs, "rat_top_doc_wrong": data.rat.top_wrong,
        "rat_top_doc_wrong_rate": round(data.rat.top_wrong_rate, 4),
        "steps": trainer.state.global_step, "epochs": round(trainer.state.epoch or 0, 3),
        "train_loss": round(session.train_loss, 4),
        "val_loss": None if session.val_loss is None else round(session.val_loss, 4),
        "tokens_seen": session.tokens_seen, "wall_s_this_session": round(session.wall_s, 1),
        "tokens_per_s_this_session": round(session.tokens_per_s, 1),
        # 6 N FLOPs per token (forward + backward), the usual estimate; divide by the device's peak for MFU
        "model_tflops_per_s": round(6 * n_params * session.tokens_per_s / 1e12, 4),
        "files": [str(p) for _, p in data.files],
    }


def write_summary(out: Path, summary: dict[str, Any]) -> None:
    """Written last and atomically: its presence means the run finished (a rerun then only returns it)."""
    with atomic_write(out / SUMMARY) as f:
        json.dump(summary, f, indent=2)


def _same_run(out: Path, cfg: TrainConfig) -> bool:
    """Whether OUT already holds a finished run of these settings (so a rerun only evaluates)."""
    saved = read_toml(out / CONFIG_NAME) if (out / CONFIG_NAME).is_file() else {}
    now = dataclasses.asdict(cfg)
    return all(saved.get(k) == v for k, v in now.items() if k not in EVAL_ONLY_KEYS)


def _searcher(cfg: TrainConfig) -> Callable[[str, str, int], list[Any]] | None:
    """`search(hub, query, k)` over each hub's retriever, built lazily (None without --retriever)."""
    if not cfg.retriever or cfg.rat_rate <= 0:
        return None
    from gorilla.retrieval import get_retriever

    if cfg.retriever not in RAT_RETRIEVERS:  # example memories hold the train set: each query would find itself
        raise GorillaError(f"--retriever {cfg.retriever!r} cannot build RAT prompts: use one of "
                           f"{', '.join(RAT_RETRIEVERS)} (example memories contain the train examples themselves)")
    cache: dict[str, Any] = {}

    def search(hub: str, query: str, k: int) -> list[Any]:
        if hub not in cache:
            cache[hub] = get_retriever(cfg.retriever, hub, data_dir=cfg.data_dir or None)
        return cache[hub].search(query, k)

    return search


def _rank0() -> bool:
    """Whether this process writes files: the only one, or rank 0 under a distributed launcher."""
    return int(os.environ.get("RANK", "0")) == 0


def _say(msg: str) -> None:
    """Print once per run, not once per process."""
    if _rank0():
        print(msg, flush=True)


def _progress_callback(out: Path) -> Any:
    """A Trainer callback printing one line per log step: loss, lr, tokens/s, elapsed, ETA; it also appends
    each step's figures to OUT/train_log.jsonl and remembers where this session started (`tok0`)."""
    from transformers import TrainerCallback

    class Progress(TrainerCallback):
        def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            self.t0, self.step0, self.tok0 = time.monotonic(), state.global_step, state.num_input_tokens_seen
            if state.global_step:
                _say(f"resumed at step {state.global_step}/{state.max_steps}")

        def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kw: Any) -> None:
            if not state.is_world_process_zero or not logs:
                return
            dt = time.monotonic() - self.t0
            steps = state.global_step - self.step0
            tokens = state.num_input_tokens_seen - self.tok0
            rate = tokens / dt if dt > 0 else 0.0
            eta = (state.max_steps - state.global_step) * dt / steps if steps else 0.0
            row = {"step": state.global_step, "epoch": round(state.epoch or 0, 3), "tokens_per_s": round(rate, 1),
                   "elapsed_s": round(dt, 1), **{k: v for k, v in logs.items() if isinstance(v, int | float)}}
            with open(out / "train_log.jsonl", "a", encoding="utf-8") as f:
                f.write(json.dumps(row) + "\n")
            parts = [f"step {state.global_step}/{state.max_steps}", f"epoch {row['epoch']:.2f}"]
            if "loss" in logs:
                parts += [f"loss {logs['loss']:.4f}", f"lr {logs.get('learning_rate', 0):.2e}"]
            if "eval_loss" in logs:
                parts.append(f"val_loss {logs['eval_loss']:.4f}")
            parts += [f"{rate:.0f} tok/s", f"elapsed {_hms(dt)}", f"ETA {_hms(eta)}"]
            if "loss" in logs or "eval_loss" in logs:
                print("  ".join(parts), flush=True)

    return Progress()


def _hms(seconds: float) -> str:
    """h:mm:ss for the progress line."""
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"
