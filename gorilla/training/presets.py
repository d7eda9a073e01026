"""Named recipes: a preset is a set of TrainConfig overrides; flags and --config override it in turn.

`tiny` and `smollm2-135m` run on a CPU. The others are LLaMA-class bases by Hugging Face id for
GPUs (bf16, gradient checkpointing); they need the weights in the local HF cache or a path
given with --base, since nothing here downloads at run time.
"""

from __future__ import annotations

from typing import Any

from gorilla.errors import GorillaError

PRESETS: dict[str, dict[str, Any]] = {
    # random-initialised 2-layer Llama with the embedded tokenizer: seconds per run, used by tests
    "tiny": dict(base="tiny", lora=False, max_steps=6, batch_size=4, lr=1e-3, max_len=128, logging_steps=2,
                 save_steps=3, val_fraction=0.05, warmup=0.0, scheduler="constant"),
    # the embedded SmolLM2-135M-Instruct on a 2-core CPU (~55 tokens/s on one thread): short targets, full
    # fine-tuning (a 6-step probe: LoRA r=16 51 vs full 46 tokens/s, but loss 4.64 vs 3.04 at step 5), one
    # epoch, a quarter of the prompts RAT with BM25 docs; validation by example so every API stays in training
    "smollm2-135m": dict(base="embedded", lora=False, epochs=1.0, batch_size=8, lr=2e-4, max_len=256,
                         warmup=0.03, logging_steps=5, save_steps=25, retriever="bm25", rat_rate=0.25,
                         val_split="example", val_fraction=0.03),
    # function calling (--tool-file): the embedded base, LoRA r=8 on every projection (an adapter of ~5 MB in
    # bf16, small enough to ship), prompts of up to a few function stubs; bf16 autocast even on a CPU (this box's
    # AMX: 5.4 s vs 8.6 s per step of 8 x 300 tokens in fp32, measured)
    "smollm2-135m-tools": dict(base="embedded", lora=True, lora_r=8, lora_alpha=16, lora_dropout=0.0, epochs=1.0,
                               batch_size=8, lr=1e-3, max_len=768, warmup=0.05, logging_steps=5, save_steps=25,
                               val_split="example", val_fraction=0.03, precision="bf16"),
    # GPU presets (documented; not runnable on the CPU box). LoRA on every projection; full FT with --full + FSDP.
    "llama-3.2-1b": dict(base="meta-llama/Llama-3.2-1B-Instruct", lora=True, lora_r=32, lora_alpha=64, epochs=3.0,
                         batch_size=32, lr=2e-4, max_len=512, answer="full", logging_steps=10, save_steps=200),
    "llama-3.2-3b": dict(base="meta-llama/Llama-3.2-3B-Instruct", lora=True, lora_r=32, lora_alpha=64, epochs=3.0,
                         batch_size=16, grad_accum=2, lr=2e-4, max_len=512, answer="full", logging_steps=10,
                         save_steps=200),
    "llama-3.1-8b": dict(base="meta-llama/Llama-3.1-8B-Instruct", lora=True, lora_r=16, lora_alpha=32, epochs=3.0,
                         batch_size=8, grad_accum=4, lr=1e-4, max_len=512, answer="full", logging_steps=10,
                         save_steps=200),
    # Gorilla's own base (LLaMA-7B class); upstream fine-tuned it fully, which wants FSDP or DeepSpeed ZeRO-3
    "llama-2-7b": dict(base="meta-llama/Llama-2-7b-hf", lora=False, epochs=3.0, batch_size=4, grad_accum=8,
                       lr=2e-5, max_len=512, answer="full", logging_steps=10, save_steps=200),
}


def preset(name: str) -> dict[str, Any]:
    """The recipe's overrides plus its own name, so the saved train_config.toml says which preset a run began from."""
    if name not in PRESETS:
        raise GorillaError(f"unknown preset {name!r}: expected one of {', '.join(PRESETS)}")
    return {"preset": name, **PRESETS[name]}
