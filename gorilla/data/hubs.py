"""The three APIBench hubs (the predefined ones: gorilla.data.registry) and the file names upstream gives them."""

from __future__ import annotations

from pathlib import Path

HUBS: tuple[str, ...] = ("torchhub", "tensorflowhub", "huggingface")

# upstream names the TF Hub eval/train files "tensorflow_*", the others "<hub>_*"
EVAL_FILES = {"torchhub": "torchhub_eval.json", "tensorflowhub": "tensorflow_eval.json", "huggingface": "huggingface_eval.json"}
TRAIN_FILES = {"torchhub": "torchhub_train.json", "tensorflowhub": "tensorflow_train.json", "huggingface": "huggingface_train.json"}

# the one table of hub aliases: every command that takes --hub reads it
ALIASES = {"th": "torchhub", "torch": "torchhub", "tf": "tensorflowhub", "tfhub": "tensorflowhub",
           "tensorflow": "tensorflowhub", "hf": "huggingface"}


def resolve_alias(name: str) -> str:
    """The name lower-cased, an alias (`tf`, `hf`, `th`) replaced by its hub; not checked here: `get_hub` checks
    names against the registry too, and the builder knows one source more than HUBS (`apizoo`)."""
    key = name.strip().lower()
    return ALIASES.get(key, key)


def hub_from_filename(path: str | Path) -> str | None:
    """The hub named in a file name (`response_torchhub_...jsonl`), or None."""
    name = Path(path).name.lower()
    found = [h for h in HUBS if h in name]
    return found[0] if len(found) == 1 else None
