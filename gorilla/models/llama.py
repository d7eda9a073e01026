"""LLaMA-architecture inference in plain torch, for checkpoints in Hugging Face layout.

Why: importing transformers' modeling stack (modeling_utils -> torch._dynamo, sympy, scipy...) costs
~3.5 s of a ~5 s interactive query; the forward pass itself is a few dozen lines. This module reads
config.json + model.safetensors directly and computes the same logits as transformers' LlamaForCausalLM
(tests compare them). `load_llama` returns None for anything it does not implement exactly, so the
caller falls back to transformers rather than answering differently.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from gorilla.data import read_json
from gorilla.layers import Embedding, Linear

# a config naming another head (sequence classification...) is not a causal LM we can serve
_SUPPORTED_ARCHS = (None, ["LlamaForCausalLM"])


@dataclass(frozen=True)
class LlamaConfig:
    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    head_dim: int
    rms_norm_eps: float
    rope_theta: float
    tie_word_embeddings: bool
    eos_token_ids: tuple[int, ...]

    @classmethod
    def from_hf(cls, cfg: dict[str, Any], generation: dict[str, Any] | None = None) -> LlamaConfig | None:
        """The config if this module computes exactly what transformers would for it, else None."""
        if cfg.get("model_type") != "llama" or cfg.get("architectures") not in _SUPPORTED_ARCHS:
            return None
        if cfg.get("quantization_config") or cfg.get("rope_scaling") is not None:
            return None
        if cfg.get("attention_bias") or cfg.get("mlp_bias") or cfg.get("hidden_act", "silu") != "silu":
            return None
        if cfg.get("pretraining_tp", 1) != 1:
            return None
        rope = cfg.get("rope_parameters")  # transformers 5 spelling: {"rope_type": ..., "rope_theta": ...}
        if rope is not None:
            if not isinstance(rope, dict) or rope.get("rope_type", "default") != "default" or \
                    set(rope) - {"rope_type", "rope_theta"}:
                return None
            theta = rope.get("rope_theta", cfg.get("rope_theta", 10000.0))
        else:
            theta = cfg.get("rope_theta", 10000.0)
        try:
            heads = int(cfg["num_attention_heads"])
            kv = int(cfg.get("num_key_value_heads") or heads)
            hidden = int(cfg["hidden_size"])
            eos = (generation or {}).get("eos_token_id", cfg.get("eos_token_id"))
            eos_ids = tuple(int(e) for e in (eos if isinstance(eos, list) else [eos] if eos is not None else []))
            out = cls(vocab_size=int(cfg["vocab_size"]), hidden_size=hidden,
                      intermediate_size=int(cfg["intermediate_size"]), num_hidden_layers=int(cfg["num_hidden_layers"]),
                      num_attention_heads=heads, num_key_value_heads=kv,
                      head_dim=int(cfg.get("head_dim") or hidden // heads), rms_norm_eps=float(cfg.get("rms_norm_eps", 1e-6)),
                      rope_theta=float(theta), tie_word_embeddings=bool(cfg.get("tie_word_embeddings", False)),
                      eos_token_ids=eos_ids)
        except (KeyError, TypeError, ValueError):
            return None
        return out if heads % kv == 0 and out.head_dim % 2 == 0 else None


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(dim), requires_grad=False)
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = x.dtype
        x = x.float()
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x.to(dtype)


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


class KVCache:
    """Keys and values of every layer so far, (batch, kv_heads, seq, head_dim); grows by concatenation
    (a query writes ~64 tokens, so preallocating buys nothing measurable)."""

    def __init__(self, n_layers: int):
        self.layers: list[tuple[torch.Tensor, torch.Tensor] | None] = [None] * n_layers

    @property
    def length(self) -> int:
        return 0 if self.layers[0] is None else self.layers[0][0].shape[2]

    def update(self, i: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        prev = self.layers[i]
        if prev is not None:
            k, v = torch.cat([prev[0], k], dim=2), torch.cat([prev[1], v], dim=2)
        self.layers[i] = (k, v)
        return k, v


class Attention(nn.Module):
    def __init__(self, c: LlamaConfig):
        super().__init__()
        self.n_heads, self.n_kv, self.head_dim = c.num_attention_heads, c.num_key_value_heads, c.head_dim
        self.q_proj = Linear(c.hidden_size, self.n_heads * c.head_dim, bias=False)
        self.k_proj = Linear(c.hidden_size, self.n_kv * c.head_dim, bias=False)
        self.v_proj = Linear(c.hidden_size, self.n_kv * c.head_dim, bias=False)
        self.o_proj = Linear(self.n_heads * c.head_dim, c.hidden_size, bias=False)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, mask: torch.Tensor,
                cache: KVCache | None, layer: int) -> torch.Tensor:
        b, t, _ = x.shape
        q = self.q_proj(x).view(b, t, self.n_heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(b, t, self.n_kv, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(b, t, self.n_kv, self.head_dim).transpose(1, 2)
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        if cache is not None:
            k, v = cache.update(layer, k, v)
        if self.n_kv != self.n_heads:  # grouped-query attention: each kv head serves a group of query heads
            k = k.repeat_interleave(self.n_heads // self.n_kv, dim=1)
            v = v.repeat_interleave(self.n_heads // self.n_kv, dim=1)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=1.0 / math.sqrt(self.head_dim))
        return self.o_proj(y.transpose(1, 2).reshape(b, t, self.n_heads * self.head_dim))


class MLP(nn.Module):
    def __init__(self, c: LlamaConfig):
        super().__init__()
        self.gate_proj = Linear(c.hidden_size, c.intermediate_size, bias=False)
        self.up_proj = Linear(c.hidden_size, c.intermediate_size, bias=False)
        self.down_proj = Linear(c.intermediate_size, c.hidden_size, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Block(nn.Module):
    def __init__(self, c: LlamaConfig):
        super().__init__()
        self.input_layernorm = RMSNorm(c.hidden_size, c.rms_norm_eps)
        self.self_attn = Attention(c)
        self.post_attention_layernorm = RMSNorm(c.hidden_size, c.rms_norm_eps)
        self.mlp = MLP(c)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, mask: torch.Tensor,
                cache: KVCache | None, layer: int) -> torch.Tensor:
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, mask, cache, layer)
        return x + self.mlp(self.post_attention_layernorm(x))


class Body(nn.Module):
    """`model.*` in the checkpoint: embeddings, blocks, final norm (names match the safetensors keys)."""

    def __init__(self, c: LlamaConfig):
        super().__init__()
        self.embed_tokens = Embedding(c.vocab_size, c.hidden_size)
        self.layers = nn.ModuleList(Block(c) for _ in range(c.num_hidden_layers))
        self.norm = RMSNorm(c.hidden_size, c.rms_norm_eps)


@dataclass
class LlamaOutput:
    logits: torch.Tensor
    cache: KVCache | None


class Llama(nn.Module):
    """A LlamaForCausalLM forward: `model(input_ids, attention_mask, position_ids, cache, use_cache)`.

    With a cache, pass the attention mask of the whole sequence so far (past + new), as HF does;
    position ids default to the count of real tokens before each one (left padding starts at 0)."""

    def __init__(self, c: LlamaConfig):
        super().__init__()
        self.config = c
        self.model = Body(c)
        self.lm_head = Linear(c.hidden_size, c.vocab_size, bias=False)
        if c.tie_word_embeddings:
            self.lm_head.weight = self.model.embed_tokens.weight
        inv_freq = 1.0 / (c.rope_theta ** (torch.arange(0, c.head_dim, 2, dtype=torch.int64).float() / c.head_dim))
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    @property
    def device(self) -> torch.device:
        return self.lm_head.weight.device

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                position_ids: torch.Tensor | None = None, cache: KVCache | None = None,
                use_cache: bool = False) -> LlamaOutput:
        b, t = input_ids.shape
        if use_cache and cache is None:
            cache = KVCache(self.config.num_hidden_layers)
        past = cache.length if cache is not None else 0
        if attention_mask is None:
            attention_mask = torch.ones(b, past + t, dtype=torch.long, device=input_ids.device)
        if position_ids is None:
            position_ids = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)[:, past:]
        x = self.model.embed_tokens(input_ids)
        freqs = position_ids[:, :, None].float() * self.inv_freq[None, None, :]  # (b, t, head_dim / 2)
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos().to(x.dtype)[:, None], emb.sin().to(x.dtype)[:, None]  # (b, 1, t, head_dim)
        # query i (absolute past + i) sees key j if j <= past + i and key j is a real token
        causal = torch.ones(t, past + t, dtype=torch.bool, device=x.device).tril(diagonal=past)
        allowed = causal[None] & attention_mask[:, None, :].bool()
        mask = torch.zeros(b, 1, t, past + t, dtype=x.dtype, device=x.device)
        mask.masked_fill_(~allowed[:, None], torch.finfo(x.dtype).min)  # finite: a pad query row stays NaN-free
        for i, block in enumerate(self.model.layers):
            x = block(x, cos, sin, mask, cache if use_cache else None, i)
        return LlamaOutput(self.lm_head(self.model.norm(x)), cache if use_cache else None)


def read_llama_config(folder: Path) -> LlamaConfig | None:
    """The config if `folder` is a plain, single-file, unquantised llama checkpoint we implement, else None."""
    if not (folder / "config.json").is_file() or not (folder / "model.safetensors").is_file():
        return None
    if any((folder / name).exists() for name in ("adapter_config.json", "model.safetensors.index.json")) or \
            any(folder.glob("*.gguf")):
        return None
    cfg = read_json(folder / "config.json")
    gen_path = folder / "generation_config.json"
    gen = read_json(gen_path) if gen_path.is_file() else None
    if not isinstance(cfg, dict) or (gen_path.is_file() and not isinstance(gen, dict)):
        return None
    return LlamaConfig.from_hf(cfg, gen)


def lora_deltas(adapter: str | Path) -> dict[str, torch.Tensor] | None:
    """`{weight name: scale * B @ A}` of a plain LoRA adapter folder (PEFT's `adapter_config.json` and
    `adapter_model.safetensors`), or None for anything else (DoRA, rsLoRA, extra trained modules, biases, per-module
    ranks), which PEFT then merges through transformers. Why our own: the adapter merged into our pure-torch Llama
    keeps an adapted model on the short load path (no transformers import)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    folder = Path(adapter)
    cfg = read_json(folder / "adapter_config.json")
    plain = isinstance(cfg, dict) and cfg.get("peft_type") == "LORA" and not any(
        cfg.get(k) for k in ("use_dora", "use_rslora", "modules_to_save", "rank_pattern", "alpha_pattern",
                             "fan_in_fan_out", "layers_to_transform", "layer_replication", "lora_bias",
                             "use_qalora", "target_parameters")) and cfg.get("bias", "none") == "none"
    if not plain or not (folder / "adapter_model.safetensors").is_file():
        return None
    try:
        tensors = load_file(str(folder / "adapter_model.safetensors"))
    except (OSError, SafetensorError):
        return None
    scale = float(cfg["lora_alpha"]) / float(cfg["r"])
    out = {}
    for key, a in tensors.items():
        if key.endswith(".lora_B.weight"):
            continue  # read with its A
        b = tensors.get(key.replace(".lora_A.", ".lora_B.")) if key.endswith(".lora_A.weight") else None
        if b is None:
            return None
        name = key.removeprefix("base_model.model.").replace(".lora_A.weight", ".weight")
        out[name] = scale * (b.float() @ a.float())
    return out


def load_llama(folder: str | Path, device: str = "cpu", dtype: torch.dtype = torch.float32,
               adapter: str | Path | None = None) -> Llama | None:
    """A Llama with the folder's weights (plus a plain LoRA `adapter` merged in), or None if the checkpoint is
    anything we do not implement exactly (other architecture, rope scaling, biases, quantisation, adapters in the
    folder, GGUF, shards, extra tensors, an adapter `lora_deltas` does not read)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    folder = Path(folder)
    config = read_llama_config(folder)
    if config is None:
        return None
    model = Llama(config)  # empty weights (gorilla.layers): all of them are assigned below
    try:
        weights = load_file(str(folder / "model.safetensors"))
    except (OSError, SafetensorError):  # a corrupt file: transformers then reports it in one line
        return None
    if config.tie_word_embeddings:  # transformers ties it to the embeddings whatever the file holds
        weights.pop("lm_head.weight", None)
    weights = {k: v for k, v in weights.items() if not k.endswith("rotary_emb.inv_freq")}
    expected = {k: p for k, p in model.state_dict().items() if not (config.tie_word_embeddings and k == "lm_head.weight")}
    if set(weights) != set(expected) or any(weights[k].shape != p.shape for k, p in expected.items()):
        return None
    deltas = lora_deltas(adapter) if adapter is not None else {}
    if deltas is None or any(k not in weights or weights[k].shape != d.shape for k, d in deltas.items()):
        return None
    weights |= {k: (weights[k].float() + d).to(weights[k].dtype) for k, d in deltas.items()}
    model.load_state_dict({k: v.to(dtype) for k, v in weights.items()}, strict=False, assign=True)
    if config.tie_word_embeddings:
        model.lm_head.weight = model.model.embed_tokens.weight
    return model.to(device).eval()
