"""A tiny random-initialised LLaMA with the embedded tokenizer: real forward passes in milliseconds.

Tests (generation, constrained decoding, training, serving) need a real model, not a mock;
this one has the embedded model's vocabulary, so prompts and API calls tokenise exactly as
they do for SmolLM2, yet it is built from a config in well under a second.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TinyConfig:
    """The tiny Llama's shape and seed. Training's `tiny_layers` and `tiny_hidden` default to these fields, so
    `gorilla train --base tiny` builds the tests' architecture unless told otherwise."""

    hidden_size: int = 64
    intermediate_size: int = 128
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    max_position_embeddings: int = 2048
    initializer_range: float = 0.02  # larger values give a less uniform, more varied random model
    seed: int = 0


def tiny_llama(config: TinyConfig | None = None, **overrides: Any) -> tuple[Any, Any]:
    """(model, tokenizer): a LlamaForCausalLM with random weights from a fixed seed, in eval mode."""
    import dataclasses

    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from gorilla.models.embedded import embedded_tokenizer

    cfg = dataclasses.replace(config or TinyConfig(), **overrides)
    tok = embedded_tokenizer()
    llama = LlamaConfig(vocab_size=len(tok), hidden_size=cfg.hidden_size, intermediate_size=cfg.intermediate_size,
                        num_hidden_layers=cfg.num_hidden_layers, num_attention_heads=cfg.num_attention_heads,
                        num_key_value_heads=cfg.num_key_value_heads, max_position_embeddings=cfg.max_position_embeddings,
                        initializer_range=cfg.initializer_range,
                        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
                        tie_word_embeddings=True)
    with torch.random.fork_rng():
        torch.manual_seed(cfg.seed)
        model = LlamaForCausalLM(llama)
    return model.eval(), tok
