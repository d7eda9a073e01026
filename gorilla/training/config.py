"""Every training setting in one dataclass, read from and written to TOML next to the model.

The TOML saved beside a model is the full record of how it was made: rerunning
`gorilla train --config DIR/train_config.toml` repeats the run.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gorilla.errors import GorillaError
from gorilla.models.tiny import TinyConfig

CONFIG_NAME = "train_config.toml"
# Llama-class attention and MLP projections: LoRA on all of them is the usual strong default.
LLAMA_LINEAR = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


@dataclass
class TrainConfig:
    """What to train, on what, and how. Empty strings and 0 mean "not set" (TOML has no null)."""

    preset: str = "tiny"
    # base: "tiny" (random-initialised small Llama), "embedded" (SmolLM2-135M-Instruct), an HF id, a dir or a .gguf
    base: str = "tiny"
    out: str = ""
    hubs: list[str] = field(default_factory=lambda: ["torchhub"])
    train_files: list[str] = field(default_factory=list)  # empty: each hub's upstream train file
    data_dir: str = ""
    # function calling: tool-call train files (gorilla.training.tooldata); when given, the run trains on them alone
    tool_files: list[str] = field(default_factory=list)
    distractors: float = 0.5  # share of tool-call examples given extra functions from other lines
    max_distractors: int = 3
    # answer: "short" = domain + api_call + provider; "full" adds explanation and code (costs tokens)
    answer: str = "short"
    # retriever-aware training: this share of examples carries the top-k docs from `retriever`
    retriever: str = ""
    rat_rate: float = 0.5
    rat_k: int = 1
    # validation: held out from the train files only, by API (unseen calls) or by example
    val_split: str = "api"
    val_fraction: float = 0.05
    max_len: int = 192
    packing: bool = False
    # model
    lora: bool = True
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    lora_targets: list[str] = field(default_factory=lambda: list(LLAMA_LINEAR))
    tiny_layers: int = TinyConfig.num_hidden_layers  # base "tiny": the same random Llama the tests build
    tiny_hidden: int = TinyConfig.hidden_size
    # optimisation
    epochs: float = 1.0
    max_steps: int = 0
    batch_size: int = 8
    grad_accum: int = 1
    lr: float = 2e-4
    warmup: float = 0.05
    weight_decay: float = 0.0
    scheduler: str = "cosine"
    seed: int = 0
    # "auto": bf16 and gradient checkpointing on CUDA, float32 and none on CPU
    precision: str = "auto"
    grad_checkpointing: str = "auto"
    # bookkeeping
    logging_steps: int = 10
    save_steps: int = 50
    save_total_limit: int = 2
    eval_steps: int = 0  # 0: validate once, at the end
    merge: bool = False
    evaluate: bool = False
    eval_limit: int = 0  # 0: the whole eval set
    eval_constrained: bool = False  # also score constrained decoding (to the DB 0-shot, to the retrieved docs RAT)

    def validate(self) -> TrainConfig:
        """Fail before loading anything heavy; every message is one line."""
        checks = [
            (self.answer in ("short", "full"), f"answer must be 'short' or 'full', not {self.answer!r}"),
            (self.val_split in ("api", "example"), f"val_split must be 'api' or 'example', not {self.val_split!r}"),
            (0 <= self.val_fraction < 1, f"val_fraction must be in [0, 1), not {self.val_fraction}"),
            (0 <= self.rat_rate <= 1, f"rat_rate must be in [0, 1], not {self.rat_rate}"),
            (0 <= self.distractors <= 1, f"distractors must be in [0, 1], not {self.distractors}"),
            (not (self.tool_files and self.train_files), "give tool_files or train_files, not both"),
            (not (self.tool_files and self.evaluate), "--eval scores APIBench answers; score a function-calling model "
                                                      "with gorilla eval bfcl --model OUT or eval/bench_toolcalls.py"),
            (self.rat_k >= 1, f"rat_k must be at least 1, not {self.rat_k}"),
            (self.max_len >= 16, f"max_len must be at least 16, not {self.max_len}"),
            (self.batch_size >= 1 and self.grad_accum >= 1, "batch_size and grad_accum must be at least 1"),
            (self.lr > 0, f"lr must be positive, not {self.lr}"),
            (self.max_steps >= 0, f"max_steps must be at least 1, or 0 to train by epochs, not {self.max_steps}"),
            (self.epochs > 0 or self.max_steps > 0, "set epochs or max_steps"),
            (self.precision in ("auto", "fp32", "bf16", "fp16"), f"precision must be auto, fp32, bf16 or fp16, not {self.precision!r}"),
            (self.grad_checkpointing in ("auto", "on", "off"), "grad_checkpointing must be auto, on or off"),
            (not self.lora or self.lora_targets, "LoRA needs at least one target module"),
            (bool(self.out), "no output directory: pass --out DIR"),
        ]
        for ok, message in checks:
            if not ok:
                raise GorillaError(f"training config: {message}")
        return self

    def to_toml(self) -> str:
        """Every field, so the file beside a model repeats the run on its own (tomli_w: imported only to write)."""
        import tomli_w

        return tomli_w.dumps(dataclasses.asdict(self))


def merge(base: TrainConfig, overrides: dict[str, Any], source: str) -> TrainConfig:
    """`base` with `overrides` applied; unknown keys and wrong types are errors naming `source`."""
    known = {f.name: f for f in dataclasses.fields(TrainConfig)}
    values = dataclasses.asdict(base)
    for key, value in overrides.items():
        if key not in known:
            raise GorillaError(f"{source}: unknown training setting {key!r}")
        want = type(values[key])
        if want is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, want) or (want is int and isinstance(value, bool)):
            raise GorillaError(f"{source}: {key}: expected {want.__name__}, got {type(value).__name__}")
        values[key] = list(value) if isinstance(value, list) else value
    return TrainConfig(**values)


def read_toml(path: str | Path) -> dict[str, Any]:
    """The file's table; a missing or malformed file is a one-line error naming it."""
    path = Path(path)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GorillaError(f"{path}: no such config file") from None
    except tomllib.TOMLDecodeError as e:
        raise GorillaError(f"{path}: invalid TOML: {e}") from None
