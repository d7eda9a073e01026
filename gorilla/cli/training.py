"""`gorilla train`: fine-tune a LLaMA-class model on APIBench-format train files (full or LoRA, optional RAT)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gorilla.cli.app import DataDir, app

Opt = typer.Option


@app.command("train")
def train(
    out: Annotated[Path, Opt("--out", help="Output directory: checkpoints, config, final model.")],
    preset: Annotated[str | None, Opt("--preset", help="tiny, smollm2-135m, llama-3.2-1b, llama-3.2-3b, llama-3.1-8b, llama-2-7b.")] = None,
    hub: Annotated[list[str] | None, Opt("--hub", help="Hub(s) whose upstream train file to use (repeatable).")] = None,
    train_file: Annotated[list[Path] | None, Opt("--train-file", help="APIBench-format train file(s) (repeatable).")] = None,
    base: Annotated[str | None, Opt("--base", help="tiny, embedded, a model dir, a .gguf, or a cached HF id.")] = None,
    lora: Annotated[bool | None, Opt("--lora/--full", help="LoRA adapter or full fine-tuning.")] = None,
    lora_r: Annotated[int | None, Opt("--lora-r")] = None,
    lora_alpha: Annotated[int | None, Opt("--lora-alpha")] = None,
    lora_targets: Annotated[str | None, Opt("--lora-targets", help="Comma-separated module names.")] = None,
    retriever: Annotated[str | None, Opt("--retriever", help="Retriever for RAT prompts (e.g. bm25).")] = None,
    rat_rate: Annotated[float | None, Opt("--rat-rate", help="Share of prompts that carry retrieved docs.")] = None,
    rat_k: Annotated[int | None, Opt("--rat-k", help="Docs per RAT prompt.")] = None,
    val_split: Annotated[str | None, Opt("--val-split", help="Hold out by 'api' or by 'example'.")] = None,
    answer: Annotated[str | None, Opt("--answer", help="short (call only) or full (with explanation and code).")] = None,
    packing: Annotated[bool | None, Opt("--packing/--no-packing")] = None,
    max_steps: Annotated[int | None, Opt("--max-steps")] = None,
    epochs: Annotated[float | None, Opt("--epochs")] = None,
    lr: Annotated[float | None, Opt("--lr")] = None,
    batch_size: Annotated[int | None, Opt("--batch-size")] = None,
    seed: Annotated[int | None, Opt("--seed")] = None,
    config: Annotated[Path | None, Opt("--config", help="TOML file of settings (e.g. a saved train_config.toml).")] = None,
    merge: Annotated[bool | None, Opt("--merge", help="Also save the adapter merged into its base (OUT/merged).")] = None,
    evaluate: Annotated[bool | None, Opt("--eval", help="Afterwards generate + score the hubs' eval sets.")] = None,
    eval_only: Annotated[bool, Opt("--eval-only", help="Skip training; evaluate the model already in OUT.")] = False,
    eval_constrained: Annotated[bool | None, Opt("--eval-constrained", help="Also score constrained decoding.")] = None,
    eval_limit: Annotated[int | None, Opt("--eval-limit", help="Only the first N eval questions.")] = None,
    data_dir: DataDir = None,
) -> None:
    """Fine-tune on APIBench train files; resumes from OUT's last checkpoint when rerun.

    Example: gorilla train --preset smollm2-135m --hub torchhub --out runs/th --eval

    Evaluate a finished run again: gorilla train --out runs/th --eval-only --eval-constrained

    Multi-GPU: accelerate launch --config_file configs/accelerate/fsdp.yaml -m gorilla train --preset llama-3.1-8b ...
    """
    from gorilla.training import config as tc
    from gorilla.training.presets import preset as preset_overrides

    if eval_only and not config and (out / tc.CONFIG_NAME).is_file():
        config = out / tc.CONFIG_NAME  # evaluate the run as it was trained
    file_values = tc.read_toml(config) if config else {}
    cfg = tc.merge(tc.TrainConfig(), preset_overrides(preset or file_values.get("preset", "tiny")), "preset")
    cfg = tc.merge(cfg, file_values, str(config))
    flags = dict(out=str(out), hubs=hub, train_files=[str(f) for f in train_file or []] or None, base=base, lora=lora,
                 lora_r=lora_r, lora_alpha=lora_alpha,
                 lora_targets=[t.strip() for t in lora_targets.split(",") if t.strip()] if lora_targets else None,
                 retriever=retriever, rat_rate=rat_rate, rat_k=rat_k, val_split=val_split, answer=answer,
                 packing=packing, max_steps=max_steps, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed,
                 merge=merge, evaluate=evaluate or eval_only or None, eval_constrained=eval_constrained,
                 eval_limit=eval_limit, data_dir=str(data_dir) if data_dir else None)
    cfg = tc.merge(cfg, {k: v for k, v in flags.items() if v is not None}, "flags")

    if not eval_only:
        from gorilla.training.trainer import train as run

        run(cfg)
    if cfg.evaluate:
        from gorilla.training.evaluate import evaluate_model

        evaluate_model(cfg)
