"""Fine-tuning on APIBench-format train files: data (+ retriever-aware prompts), presets, TOML configs, the trainer.

    from gorilla.training import TrainConfig, train
    train(TrainConfig(base="embedded", out="runs/th", retriever="bm25"))

torch and transformers load inside `train`, so importing this package stays light.
"""

from collections.abc import Sequence
from typing import Any

from gorilla.training.config import TrainConfig
from gorilla.training.presets import PRESETS


def train(cfg: TrainConfig, callbacks: Sequence[Any] = ()) -> dict[str, Any]:
    """Run or resume one fine-tuning job: gorilla.training.trainer.main, imported on call so that importing
    this package stays light."""
    from gorilla.training.trainer import main as run

    return run(cfg, callbacks)


__all__ = ["TrainConfig", "PRESETS", "train"]
