"""A BERT encoder in plain torch (last hidden state), for sentence embedders in Hugging Face layout.

Why: `transformers.AutoModel` imports the modeling stack (torch._dynamo, sympy, scipy...), seconds of an
interactive query, to run six small post-LayerNorm layers. `load_bert` reads config.json + model.safetensors
and returns None for anything it does not implement exactly; the caller then uses transformers.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from gorilla.data import read_json
from gorilla.layers import Embedding, LayerNorm, Linear


@dataclass(frozen=True)
class BertConfig:
    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    max_position_embeddings: int
    type_vocab_size: int
    layer_norm_eps: float

    @classmethod
    def from_hf(cls, cfg: dict[str, Any]) -> BertConfig | None:
        if cfg.get("model_type") != "bert" or cfg.get("hidden_act", "gelu") != "gelu":
            return None
        if cfg.get("position_embedding_type", "absolute") != "absolute" or cfg.get("is_decoder") \
                or cfg.get("add_cross_attention") or cfg.get("quantization_config"):
            return None
        try:
            out = cls(vocab_size=int(cfg["vocab_size"]), hidden_size=int(cfg["hidden_size"]),
                      intermediate_size=int(cfg["intermediate_size"]), num_hidden_layers=int(cfg["num_hidden_layers"]),
                      num_attention_heads=int(cfg["num_attention_heads"]),
                      max_position_embeddings=int(cfg["max_position_embeddings"]),
                      type_vocab_size=int(cfg.get("type_vocab_size", 2)), layer_norm_eps=float(cfg.get("layer_norm_eps", 1e-12)))
        except (KeyError, TypeError, ValueError):
            return None
        return out if out.hidden_size % out.num_attention_heads == 0 else None


class Dense(nn.Module):
    """`dense` + optional residual `LayerNorm`, named as in the checkpoint (attention.output, output)."""

    def __init__(self, n_in: int, n_out: int, eps: float | None):
        super().__init__()
        self.dense = Linear(n_in, n_out)
        if eps is not None:
            self.LayerNorm = LayerNorm(n_out, eps=eps)


class SelfAttention(nn.Module):
    def __init__(self, c: BertConfig):
        super().__init__()
        self.query = Linear(c.hidden_size, c.hidden_size)
        self.key = Linear(c.hidden_size, c.hidden_size)
        self.value = Linear(c.hidden_size, c.hidden_size)


class AttentionBlock(nn.Module):
    def __init__(self, c: BertConfig):
        super().__init__()
        self.self = SelfAttention(c)
        self.output = Dense(c.hidden_size, c.hidden_size, c.layer_norm_eps)


class Layer(nn.Module):
    def __init__(self, c: BertConfig):
        super().__init__()
        self.n_heads = c.num_attention_heads
        self.attention = AttentionBlock(c)
        self.intermediate = Dense(c.hidden_size, c.intermediate_size, None)
        self.output = Dense(c.intermediate_size, c.hidden_size, c.layer_norm_eps)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        att = self.attention.self

        def heads(y: torch.Tensor) -> torch.Tensor:
            return y.view(b, t, self.n_heads, d // self.n_heads).transpose(1, 2)

        y = F.scaled_dot_product_attention(heads(att.query(x)), heads(att.key(x)), heads(att.value(x)), attn_mask=mask,
                                           scale=1.0 / math.sqrt(d // self.n_heads))
        out = self.attention.output
        x = out.LayerNorm(out.dense(y.transpose(1, 2).reshape(b, t, d)) + x)  # post-LayerNorm, as BERT
        h = F.gelu(self.intermediate.dense(x))  # exact (erf) GELU: BERT's "gelu"
        return self.output.LayerNorm(self.output.dense(h) + x)


class Embeddings(nn.Module):
    def __init__(self, c: BertConfig):
        super().__init__()
        self.word_embeddings = Embedding(c.vocab_size, c.hidden_size)
        self.position_embeddings = Embedding(c.max_position_embeddings, c.hidden_size)
        self.token_type_embeddings = Embedding(c.type_vocab_size, c.hidden_size)
        self.LayerNorm = LayerNorm(c.hidden_size, eps=c.layer_norm_eps)


class Encoder(nn.Module):
    def __init__(self, c: BertConfig):
        super().__init__()
        self.layer = nn.ModuleList(Layer(c) for _ in range(c.num_hidden_layers))


@dataclass
class BertOutput:
    last_hidden_state: torch.Tensor


class Bert(nn.Module):
    """BertModel without the pooler: `model(input_ids, attention_mask, token_type_ids).last_hidden_state`."""

    def __init__(self, c: BertConfig):
        super().__init__()
        self.config = c
        self.embeddings = Embeddings(c)
        self.encoder = Encoder(c)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None) -> BertOutput:
        b, t = input_ids.shape
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        e = self.embeddings
        positions = torch.arange(t, device=input_ids.device)[None]
        x = e.LayerNorm(e.word_embeddings(input_ids) + e.token_type_embeddings(token_type_ids) + e.position_embeddings(positions))
        mask = torch.zeros(b, 1, 1, t, dtype=x.dtype, device=x.device)
        mask.masked_fill_(~attention_mask.bool()[:, None, None, :], torch.finfo(x.dtype).min)  # padding keys
        for layer in self.encoder.layer:
            x = layer(x, mask)
        return BertOutput(x)


_IGNORED = ("pooler.", "embeddings.position_ids")


def load_bert(folder: str | Path) -> Bert | None:
    """float32 Bert with the folder's weights, or None if it is not a plain BERT checkpoint in one safetensors file."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    folder = Path(folder)
    cfg = read_json(folder / "config.json")
    config = BertConfig.from_hf(cfg) if isinstance(cfg, dict) else None
    if config is None or not (folder / "model.safetensors").is_file():
        return None
    try:
        weights = load_file(str(folder / "model.safetensors"))
    except (OSError, SafetensorError):  # a corrupt file: transformers then reports it in one line
        return None
    if weights and all(k.startswith("bert.") for k in weights):
        weights = {k[len("bert."):]: v for k, v in weights.items()}
    weights = {k: v for k, v in weights.items() if not k.startswith(_IGNORED)}
    model = Bert(config)  # empty weights (gorilla.layers): all of them are assigned below
    expected = model.state_dict()
    if set(weights) != set(expected) or any(weights[k].shape != p.shape for k, p in expected.items()):
        return None
    model.load_state_dict({k: v.float() for k, v in weights.items()}, assign=True)
    return model.eval()


def load_bert_tokenizer(folder: str | Path, max_length: int) -> Any | None:
    """tokenizer.json, truncating to max_length and right-padding to the longest, if its normaliser agrees with
    tokenizer_config.json (what transformers' BertTokenizer would apply), else None."""
    from tokenizers import Tokenizer

    folder = Path(folder)
    config = read_json(folder / "tokenizer_config.json")
    try:
        text = (folder / "tokenizer.json").read_text(encoding="utf-8")
        spec, tok = json.loads(text), Tokenizer.from_str(text)
    except Exception:  # noqa: BLE001 - tokenizers raises a bare Exception for unreadable files
        return None
    if not isinstance(config, dict) or not isinstance(spec, dict):
        return None
    norm = spec.get("normalizer") or {}
    if config.get("tokenizer_class") not in ("BertTokenizer", "BertTokenizerFast") or norm.get("type") != "BertNormalizer":
        return None
    if norm.get("lowercase") != config.get("do_lower_case", True) or \
            norm.get("strip_accents") != config.get("strip_accents") or \
            norm.get("handle_chinese_chars") != config.get("tokenize_chinese_chars", True):
        return None
    pad = config.get("pad_token", "[PAD]")
    if not isinstance(pad, str) or tok.token_to_id(pad) is None:
        return None
    tok.enable_padding(direction="right", pad_id=tok.token_to_id(pad), pad_token=pad,
                       pad_type_id=int(config.get("pad_token_type_id", 0)))
    tok.enable_truncation(max_length)
    return tok
