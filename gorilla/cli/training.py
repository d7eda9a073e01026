"""`gorilla train`: fine-tune a LLaMA-class model on APIBench-format train files (full or LoRA, optional RAT)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from gorilla.cli.app import DataDirOpt, app, option, option_set

Opt = typer.Option

# The recipe's flags, in help order: each overrides the TrainConfig field of its name when given (None: not given).
RECIPE = [
    option("hub", Annotated[list[str] | None, Opt("--hub", help="Hub(s) whose upstream train file to use (repeatable).")],
           None),
    option("train_file", Annotated[list[Path] | None, Opt("--train-file", help="APIBench-format train file(s) "
                                                                               "(repeatable).")], None),
    option("tool_file", Annotated[list[Path] | None, Opt("--tool-file", help="Tool-call train file(s) (JSONL: "
                                                                             "request, functions, calls; repeatable): "
                                                                             "train function calling.")], None),
    option("distractors", Annotated[float | None, Opt("--distractors", help="Share of tool-call examples given "
                                                                            "extra functions of other lines.")], None),
    option("base", Annotated[str | None, Opt("--base", help="tiny, embedded, a model dir, a .gguf, or a cached HF id.")],
           None),
    option("lora", Annotated[bool | None, Opt("--lora/--full", help="LoRA adapter or full fine-tuning.")], None),
    option("lora_r", Annotated[int | None, Opt("--lora-r")], None),
    option("lora_alpha", Annotated[int | None, Opt("--lora-alpha")], None),
    option("lora_targets", Annotated[str | None, Opt("--lora-targets", help="Comma-separated module names.")], None),
    option("retriever", Annotated[str | None, Opt("--retriever", help="Retriever for RAT prompts (e.g. bm25).")], None),
    option("rat_rate", Annotated[float | None, Opt("--rat-rate", help="Share of prompts that carry retrieved docs.")],
           None),
    option("rat_k", Annotated[int | None, Opt("--rat-k", help="Docs per RAT prompt.")], None),
    option("val_split", Annotated[str | None, Opt("--val-split", help="Hold out by 'api' or by 'example'.")], None),
    option("answer", Annotated[str | None, Opt("--answer", help="short (call only) or full (with explanation and "
                                                                "code).")], None),
    option("packing", Annotated[bool | None, Opt("--packing/--no-packing")], None),
    option("max_len", Annotated[int | None, Opt("--max-len", help="Longest example in tokens (longer ones are "
                                                                   "dropped).")], None),
    option("max_steps", Annotated[int | None, Opt("--max-steps")], None),
    option("epochs", Annotated[float | None, Opt("--epochs")], None),
    option("lr", Annotated[float | None, Opt("--lr")], None),
    option("batch_size", Annotated[int | None, Opt("--batch-size")], None),
    option("seed", Annotated[int | None, Opt("--seed")], None),
]


def print_accelerate_config(name: str | None) -> None:
    """Eager `--accelerate-config NAME`: print the packaged launcher config's path and stop.

    Why: the configs ship inside the package (gorilla/resources/accelerate), whose folder depends on the install,
    so `accelerate launch --config_file "$(gorilla train --accelerate-config fsdp)"` finds them from anywhere."""
    if name is None:
        return
    from gorilla.data.paths import RESOURCES
    from gorilla.errors import GorillaError

    folder = RESOURCES / "accelerate"
    path = folder / f"{name.removesuffix('.yaml')}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in folder.glob("*.yaml")))
        raise GorillaError(f"--accelerate-config {name!r}: no such packaged config (known: {known})")
    print(path)
    raise typer.Exit()


def recipe_flags(hub: list[str] | None, train_file: list[Path] | None, tool_file: list[Path] | None,
                 lora_targets: str | None, **given: Any) -> dict[str, Any]:
    """The recipe flags the user gave, as TrainConfig fields: repeatable and comma lists become lists."""
    given |= {"hubs": hub, "train_files": [str(f) for f in train_file or []] or None,
              "tool_files": [str(f) for f in tool_file or []] or None,
              "lora_targets": [t.strip() for t in lora_targets.split(",") if t.strip()] if lora_targets else None}
    return {k: v for k, v in given.items() if v is not None}


@app.command("train")
@option_set("recipe", RECIPE, recipe_flags)
def train(
    out: Annotated[Path, Opt("--out", help="Output directory: checkpoints, config, final model.")],
    *,
    preset: Annotated[str | None, Opt("--preset", help="tiny, smollm2-135m, llama-3.2-1b, llama-3.2-3b, llama-3.1-8b, llama-2-7b.")] = None,
    recipe: dict[str, Any],
    config: Annotated[Path | None, Opt("--config", help="TOML file of settings (e.g. a saved train_config.toml).")] = None,
    merge: Annotated[bool | None, Opt("--merge", help="Also save the adapter merged into its base (OUT/merged).")] = None,
    evaluate: Annotated[bool | None, Opt("--eval", help="Afterwards generate + score the hubs' eval sets.")] = None,
    eval_only: Annotated[bool, Opt("--eval-only", help="Skip training; evaluate the model already in OUT.")] = False,
    eval_constrained: Annotated[bool | None, Opt("--eval-constrained", help="Also score constrained decoding.")] = None,
    eval_limit: Annotated[int | None, Opt("--eval-limit", help="Only the first N eval questions.")] = None,
    data_dir: DataDirOpt = None,
    accelerate_config: Annotated[str | None, Opt("--accelerate-config", help="Print the path of a packaged launcher "
                                                  "config (cpu_ddp, ddp, fsdp, deepspeed_zero2, deepspeed_zero3) and "
                                                  "exit.", is_eager=True, callback=print_accelerate_config,
                                                  show_default=False)] = None,
) -> None:
    """Fine-tune on APIBench train files; resumes from OUT's last checkpoint when rerun.

    Example: gorilla train --preset smollm2-135m --hub torchhub --out runs/th --eval

    Evaluate a finished run again: gorilla train --out runs/th --eval-only --eval-constrained

    Multi-GPU: accelerate launch --config_file "$(gorilla train --accelerate-config fsdp)" -m gorilla train --preset llama-3.1-8b ...
    """
    flags = recipe | {"out": str(out), "merge": merge, "evaluate": evaluate or eval_only or None,
                      "eval_constrained": eval_constrained, "eval_limit": eval_limit,
                      "data_dir": str(data_dir) if data_dir else None}
    cfg = train_config(out, preset, config, {k: v for k, v in flags.items() if v is not None}, eval_only)
    if not eval_only:
        from gorilla.training.trainer import train as run

        run(cfg)
    if cfg.evaluate:
        from gorilla.training.evaluate import evaluate_model

        evaluate_model(cfg)


def train_config(out: Path, preset: str | None, config: Path | None, flags: dict[str, Any], eval_only: bool) -> Any:
    """The TrainConfig, layered: defaults < preset < TOML file < flags (each layer named in merge errors).

    With --eval-only and no --config, OUT's saved config is read, so a run is evaluated as it was trained.
    """
    from gorilla.training import config as tc
    from gorilla.training.presets import preset as preset_overrides

    if eval_only and not config and (out / tc.CONFIG_NAME).is_file():
        config = out / tc.CONFIG_NAME
    file_values = tc.read_toml(config) if config else {}
    cfg = tc.merge(tc.TrainConfig(), preset_overrides(preset or file_values.get("preset", "tiny")), "preset")
    cfg = tc.merge(cfg, file_values, str(config))
    return tc.merge(cfg, flags, "flags")
