"""One fine-tuning run on the Hugging Face Trainer: data, model, LoRA, checkpoints, resume, final save.

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

import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gorilla.data import atomic_write
from gorilla.training.config import CONFIG_NAME, TrainConfig, read_toml
from gorilla.training.data import Collator, encode_all, load_dataset, pack

RAT_RETRIEVERS = ("bm25", "dense", "hybrid")
SUMMARY = "train_summary.json"
EVAL_ONLY_KEYS = {"evaluate", "eval_limit", "eval_constrained"}  # settings that do not change the trained model


def _same_run(out: Path, cfg: TrainConfig) -> bool:
    """Whether OUT already holds a finished run of these settings (so a rerun only evaluates)."""
    import dataclasses

    saved = read_toml(out / CONFIG_NAME) if (out / CONFIG_NAME).is_file() else {}
    now = dataclasses.asdict(cfg)
    return all(saved.get(k) == v for k, v in now.items() if k not in EVAL_ONLY_KEYS)


def _rank0() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def _say(msg: str) -> None:
    if _rank0():
        print(msg, flush=True)


def _progress_callback(out: Path):
    """A Trainer callback printing one line per log step: loss, lr, tokens/s, elapsed, ETA."""
    from transformers import TrainerCallback

    class Progress(TrainerCallback):
        def on_train_begin(self, args, state, control, **kw):
            self.t0, self.step0, self.tok0 = time.monotonic(), state.global_step, state.num_input_tokens_seen
            if state.global_step:
                _say(f"resumed at step {state.global_step}/{state.max_steps}")

        def on_log(self, args, state, control, logs=None, **kw):
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
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _searcher(cfg: TrainConfig):
    """`search(hub, query, k)` over each hub's retriever, built lazily (None without --retriever)."""
    if not cfg.retriever or cfg.rat_rate <= 0:
        return None
    from gorilla.errors import GorillaError
    from gorilla.retrieval import get_retriever

    if cfg.retriever not in RAT_RETRIEVERS:  # example memories hold the train set: each query would find itself
        raise GorillaError(f"--retriever {cfg.retriever!r} cannot build RAT prompts: use one of {', '.join(RAT_RETRIEVERS)} "
                           "(example memories contain the train examples themselves)")
    cache: dict[str, Any] = {}

    def search(hub: str, query: str, k: int) -> list[Any]:
        if hub not in cache:
            cache[hub] = get_retriever(cfg.retriever, hub, data_dir=cfg.data_dir or None)
        return cache[hub].search(query, k)

    return search


def train(cfg: TrainConfig, callbacks: Sequence[Any] = ()) -> dict[str, Any]:
    """Run (or resume) the fine-tuning described by `cfg`; return the summary written to OUT."""
    cfg.validate()
    from gorilla.training.model import add_lora, check_base, load_base, merge_adapter

    check_base(cfg.base)  # before anything slow
    out = Path(cfg.out)
    if (out / SUMMARY).is_file() and _same_run(out, cfg):
        _say(f"already trained: {out / SUMMARY} (delete it to train again)")
        return json.loads((out / SUMMARY).read_text())
    data = load_dataset(cfg.hubs, cfg.train_files, cfg.data_dir or None, full_answer=cfg.answer == "full",
                        search=_searcher(cfg), rat_rate=cfg.rat_rate, rat_k=cfg.rat_k, val_split=cfg.val_split,
                        val_fraction=cfg.val_fraction, seed=cfg.seed)

    import torch
    from transformers import PrinterCallback, Trainer, TrainingArguments, set_seed
    from transformers.trainer_utils import get_last_checkpoint
    from transformers.utils.logging import disable_progress_bar

    set_seed(cfg.seed)
    disable_progress_bar()  # weight-saving bars; our own lines show progress
    cuda = torch.cuda.is_available()
    bf16 = cfg.precision == "bf16" or (cfg.precision == "auto" and cuda and torch.cuda.is_bf16_supported())
    fp16 = cfg.precision == "fp16"
    checkpointing = cfg.grad_checkpointing == "on" or (cfg.grad_checkpointing == "auto" and cuda)
    if _rank0():
        out.mkdir(parents=True, exist_ok=True)
        with atomic_write(out / CONFIG_NAME) as f:
            f.write(cfg.to_toml())
    model, tok, base_ref = load_base(cfg)
    if cfg.lora:
        model = add_lora(model, cfg)
        if checkpointing:
            model.enable_input_require_grads()
    n_params = sum(p.numel() for p in model.parameters())
    n_train = sum(p.numel() for p in model.parameters() if p.requires_grad)

    train_rows, dropped = encode_all(data.train, tok, cfg.max_len)
    val_rows, _ = encode_all(data.val, tok, cfg.max_len)
    if cfg.packing:
        train_rows = pack(train_rows, cfg.max_len)
    if not train_rows:
        from gorilla.errors import GorillaError

        raise GorillaError(f"no training examples fit in max_len={cfg.max_len} tokens")
    _say(f"data: {len(data.train)} train / {len(data.val)} val examples (split by {cfg.val_split}) from "
         f"{', '.join(str(p) for _, p in data.files)}; {dropped} dropped over {cfg.max_len} tokens"
         + (f"; RAT: {data.rat.with_docs} prompts with docs, top doc wrong in {data.rat.top_wrong}"
            f" ({data.rat.top_wrong_rate:.1%})" if data.rat.with_docs else ""))
    _say(f"model: {cfg.base} ({n_params / 1e6:.1f}M params, {n_train / 1e6:.2f}M trained, "
         f"{'LoRA r=' + str(cfg.lora_r) if cfg.lora else 'full'}), {'bf16' if bf16 else 'fp16' if fp16 else 'fp32'}"
         f"{', gradient checkpointing' if checkpointing else ''}, {'cuda' if cuda else 'cpu'}")

    has_val = bool(val_rows)
    args = TrainingArguments(
        output_dir=str(out / "checkpoints"), per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=cfg.batch_size, gradient_accumulation_steps=cfg.grad_accum,
        num_train_epochs=cfg.epochs, max_steps=cfg.max_steps or -1, learning_rate=cfg.lr,
        lr_scheduler_type=cfg.scheduler, warmup_steps=cfg.warmup if cfg.warmup < 1 else int(cfg.warmup),
        weight_decay=cfg.weight_decay, seed=cfg.seed, data_seed=cfg.seed, bf16=bf16, fp16=fp16,
        activation_checkpointing=checkpointing, logging_steps=cfg.logging_steps, logging_first_step=True,
        save_strategy="steps", save_steps=cfg.save_steps, save_total_limit=cfg.save_total_limit,
        eval_strategy="steps" if has_val and cfg.eval_steps else "no",
        eval_steps=cfg.eval_steps or None, include_num_input_tokens_seen="non_padding", report_to=[],
        disable_tqdm=True, remove_unused_columns=False, use_cpu=not cuda, dataloader_num_workers=0,
        train_sampling_strategy="group_by_length" if not cfg.packing else "random",
        ddp_find_unused_parameters=False if cfg.lora else None, log_level="warning",
    )
    progress = _progress_callback(out)
    trainer = Trainer(model=model, args=args, train_dataset=train_rows, eval_dataset=val_rows or None,
                      data_collator=Collator(tok.pad_token_id), callbacks=[progress, *callbacks])
    trainer.remove_callback(PrinterCallback)
    last = get_last_checkpoint(str(out / "checkpoints")) if (out / "checkpoints").is_dir() else None
    if last:
        _say(f"resuming from {last}")
    t0 = time.monotonic()
    result = trainer.train(resume_from_checkpoint=last)
    wall = time.monotonic() - t0
    tokens = trainer.state.num_input_tokens_seen
    rate = (tokens - progress.tok0) / wall if wall > 0 else 0.0
    val_loss = trainer.evaluate()["eval_loss"] if has_val else None

    trainer.save_model(str(out))
    summary: dict[str, Any] = {}
    if trainer.is_world_process_zero():
        (out / "training_args.bin").unlink(missing_ok=True)  # a pickle; train_config.toml is the record
        tok.save_pretrained(str(out))
        if cfg.lora:  # point the adapter at the base on disk, so `--model OUT` finds it without this config
            adapter_cfg = json.loads((out / "adapter_config.json").read_text())
            adapter_cfg["base_model_name_or_path"] = base_ref
            with atomic_write(out / "adapter_config.json") as f:
                json.dump(adapter_cfg, f, indent=2)
            if cfg.merge:
                merge_adapter(out, out / "merged")
        world = trainer.args.world_size
        steps_run = trainer.state.global_step
        summary = {
            "base": cfg.base, "preset": cfg.preset, "lora": cfg.lora, "device": "cuda" if cuda else "cpu",
            "world_size": world, "params": n_params, "trained_params": n_train,
            "train_examples": len(data.train), "val_examples": len(data.val), "dropped_too_long": dropped,
            "rat_prompts_with_docs": data.rat.with_docs, "rat_top_doc_wrong": data.rat.top_wrong,
            "rat_top_doc_wrong_rate": round(data.rat.top_wrong_rate, 4),
            "steps": steps_run, "epochs": round(trainer.state.epoch or 0, 3),
            "train_loss": round(result.training_loss, 4), "val_loss": None if val_loss is None else round(val_loss, 4),
            "tokens_seen": tokens, "wall_s_this_session": round(wall, 1),
            "tokens_per_s_this_session": round(rate, 1),
            # 6 N FLOPs per token (forward + backward), the usual estimate; divide by the device's peak for MFU
            "model_tflops_per_s": round(6 * n_params * rate / 1e12, 4),
            "files": [str(p) for _, p in data.files],
        }
        with atomic_write(out / SUMMARY) as f:
            json.dump(summary, f, indent=2)
        _say(f"saved {'adapter' if cfg.lora else 'model'} to {out}" + (f" and merged model to {out / 'merged'}"
                                                                       if cfg.lora and cfg.merge else ""))
    return summary
