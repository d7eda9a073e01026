"""The base model to fine-tune, LoRA on top of it, and merging an adapter back into its base.

Base names: `tiny` (random-initialised small Llama, embedded tokenizer), `embedded`
(SmolLM2-135M-Instruct converted from the bundled GGUF), a model directory, a `.gguf` file, or
a Hugging Face id already in the local cache (nothing is downloaded at run time).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gorilla.errors import GorillaError
from gorilla.training.config import TrainConfig


def check_base(base: str) -> str:
    """Fail early (before data or weights load) on a base that cannot be found; return its kind."""
    from gorilla.models.embedded import is_embedded

    if base == "tiny":
        return "tiny"
    if is_embedded(base):
        return "embedded"
    path = Path(base).expanduser()
    if path.suffix == ".gguf":
        if not path.is_file():
            raise GorillaError(f"unknown base {base!r}: no such GGUF file")
        return "gguf"
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise GorillaError(f"unknown base {base!r}: directory has no config.json")
        return "dir"
    from huggingface_hub import try_to_load_from_cache

    if "/" in base and isinstance(try_to_load_from_cache(base, "config.json"), str):
        return "hub"
    raise GorillaError(f"unknown base {base!r}: not 'tiny', 'embedded', a model directory, a .gguf file, "
                       "or a Hugging Face id in the local cache (nothing is downloaded at run time)")


def load_base(cfg: TrainConfig, dtype: Any = None) -> tuple[Any, Any, str]:
    """(model, tokenizer, where the base lives on disk or by id: what an adapter points back to).

    The tiny base is random; when it gets a LoRA adapter it is saved under OUT/base so the
    adapter stays loadable.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kind = check_base(cfg.base)
    dtype = dtype or torch.float32
    if kind == "tiny":
        from gorilla.models.tiny import tiny_llama

        model, tok = tiny_llama(num_hidden_layers=cfg.tiny_layers, hidden_size=cfg.tiny_hidden,
                                intermediate_size=2 * cfg.tiny_hidden, seed=cfg.seed)
        ref = str(Path(cfg.out) / "base")
        if cfg.lora:
            model.save_pretrained(ref)
            tok.save_pretrained(ref)
        return model.train(), tok, ref
    if kind == "embedded":
        from gorilla.models.embedded import ensure_converted

        ref = str(ensure_converted())
        source: dict[str, Any] = {"pretrained_model_name_or_path": ref}
    elif kind == "gguf":
        path = Path(cfg.base).expanduser().resolve()
        ref = str(path)
        source = {"pretrained_model_name_or_path": str(path.parent), "gguf_file": path.name}
    else:
        ref = cfg.base
        source = {"pretrained_model_name_or_path": cfg.base, "local_files_only": True}
    tok = AutoTokenizer.from_pretrained(**source)
    model = AutoModelForCausalLM.from_pretrained(**source, dtype=dtype)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return model.train(), tok, ref


def linear_names(model: Any) -> list[str]:
    """Leaf names of the model's linear layers (what LoRA can target)."""
    import torch

    return sorted({name.rsplit(".", 1)[-1] for name, m in model.named_modules() if isinstance(m, torch.nn.Linear)})


def add_lora(model: Any, cfg: TrainConfig) -> Any:
    """Wrap the model with a LoRA adapter; an unknown target module is a one-line error."""
    from peft import LoraConfig, get_peft_model

    have = linear_names(model)
    missing = [t for t in cfg.lora_targets if t not in have]
    if missing:
        raise GorillaError(f"LoRA target {', '.join(missing)} not in {cfg.base}; its linear layers are: {', '.join(have)}")
    lora = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                      target_modules=list(cfg.lora_targets), task_type="CAUSAL_LM")
    return get_peft_model(model, lora)


def merge_adapter(adapter_dir: Path, dest: Path) -> Path:
    """Load base + adapter from disk, fold the adapter in, save a plain model dir (works after any run)."""
    from peft import AutoPeftModelForCausalLM
    from transformers import AutoTokenizer

    model = AutoPeftModelForCausalLM.from_pretrained(adapter_dir)
    model.merge_and_unload().save_pretrained(dest, safe_serialization=True)
    AutoTokenizer.from_pretrained(adapter_dir).save_pretrained(dest)
    return dest
