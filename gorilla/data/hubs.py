"""The three APIBench hubs and the file names upstream gives them."""

from __future__ import annotations

from pathlib import Path

from gorilla.errors import GorillaError

HUBS: tuple[str, ...] = ("torchhub", "tensorflowhub", "huggingface")

# upstream names the TF Hub eval/train files "tensorflow_*", the others "<hub>_*"
EVAL_FILES = {"torchhub": "torchhub_eval.json", "tensorflowhub": "tensorflow_eval.json", "huggingface": "huggingface_eval.json"}
TRAIN_FILES = {"torchhub": "torchhub_train.json", "tensorflowhub": "tensorflow_train.json", "huggingface": "huggingface_train.json"}

# the one table of hub aliases: every command that takes --hub reads it
ALIASES = {"th": "torchhub", "torch": "torchhub", "tf": "tensorflowhub", "tfhub": "tensorflowhub",
           "tensorflow": "tensorflowhub", "hf": "huggingface"}


def resolve_alias(name: str) -> str:
    """The name lower-cased, an alias (`tf`, `hf`, `th`) replaced by its hub; not checked, so that the
    builder, which knows one source more than HUBS (`apizoo`), reads the same table."""
    key = name.strip().lower()
    return ALIASES.get(key, key)


def normalize_hub(name: str) -> str:
    """Accept the canonical names and a few obvious aliases (`tf`, `hf`, `torch`)."""
    hub = resolve_alias(name)
    if hub not in HUBS:
        raise GorillaError(f"unknown hub {name!r}: expected one of {', '.join(HUBS)}")
    return hub


def hub_from_filename(path: str | Path) -> str | None:
    """The hub named in a file name (`response_torchhub_...jsonl`), or None."""
    name = Path(path).name.lower()
    found = [h for h in HUBS if h in name]
    return found[0] if len(found) == 1 else None
