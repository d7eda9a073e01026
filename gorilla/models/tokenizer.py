"""A tokenizer straight from tokenizer.json via the `tokenizers` library: the slice of transformers'
tokenizer API that gorilla uses (call, encode, decode, batch_decode, len, special token ids).

Why: `AutoTokenizer.from_pretrained` imports torch plus transformers' configuration stack and takes ~2 s
on a loaded 2-core machine; `tokenizers.Tokenizer.from_file` takes a few ms. `load_fast_tokenizer`
returns None where transformers would do more than run tokenizer.json as saved (a slow-only tokenizer,
add_bos/add_eos overrides), so the caller falls back to AutoTokenizer.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gorilla.data import read_json

# tokenizer classes whose transformers behaviour is exactly "tokenizer.json as saved"
_PLAIN_CLASSES = {"TokenizersBackend", "PreTrainedTokenizerFast", "GPT2Tokenizer", "GPT2TokenizerFast"}


class Encoding(dict):
    """A dict of input_ids / attention_mask with BatchEncoding's `.to(device)`."""

    def to(self, device: Any) -> Encoding:
        return Encoding({k: v.to(device) if hasattr(v, "to") else v for k, v in self.items()})


class FastTokenizer:
    """tokenizers.Tokenizer behind the calls gorilla makes on a transformers tokenizer."""

    def __init__(self, tok: Any, special: dict[str, str | None]):
        self._tok = tok
        self.padding_side = "left"
        self.eos_token = special.get("eos_token")
        self.bos_token = special.get("bos_token")
        self.unk_token = special.get("unk_token")
        self.pad_token = special.get("pad_token")

    def _id(self, token: str | None) -> int | None:
        return None if token is None else self._tok.token_to_id(token)

    @property
    def eos_token_id(self) -> int | None:
        return self._id(self.eos_token)

    @property
    def bos_token_id(self) -> int | None:
        return self._id(self.bos_token)

    @property
    def pad_token_id(self) -> int | None:
        return self._id(self.pad_token)

    def __len__(self) -> int:
        return self._tok.get_vocab_size(with_added_tokens=True)

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        return self._tok.encode(text, add_special_tokens=add_special_tokens).ids

    def __call__(self, text: str | Sequence[str], *, add_special_tokens: bool = True, padding: bool = False,
                 return_tensors: str | None = None) -> Encoding:
        single = isinstance(text, str)
        ids = [e.ids for e in self._tok.encode_batch([text] if single else list(text), add_special_tokens=add_special_tokens)]
        masks = [[1] * len(i) for i in ids]
        if padding and ids:
            width, pad = max(map(len, ids)), self.pad_token_id
            if self.padding_side == "left":
                ids = [[pad] * (width - len(i)) + i for i in ids]
                masks = [[0] * (width - len(m)) + m for m in masks]
            else:
                ids = [i + [pad] * (width - len(i)) for i in ids]
                masks = [m + [0] * (width - len(m)) for m in masks]
        if return_tensors == "pt":
            import torch

            return Encoding(input_ids=torch.tensor(ids, dtype=torch.long), attention_mask=torch.tensor(masks, dtype=torch.long))
        if return_tensors is not None:
            raise ValueError(f"return_tensors={return_tensors!r}: only 'pt' is supported")
        return Encoding(input_ids=ids[0], attention_mask=masks[0]) if single else Encoding(input_ids=ids, attention_mask=masks)

    def decode(self, ids: Any, skip_special_tokens: bool = False) -> str:
        ids = ids.tolist() if hasattr(ids, "tolist") else list(ids)
        return self._tok.decode(ids, skip_special_tokens=skip_special_tokens)

    def batch_decode(self, seqs: Any, skip_special_tokens: bool = False) -> list[str]:
        seqs = seqs.tolist() if hasattr(seqs, "tolist") else [list(s) for s in seqs]
        return self._tok.decode_batch(seqs, skip_special_tokens=skip_special_tokens)


def _token_text(value: Any) -> str | None:
    if isinstance(value, dict):  # {"content": "<|im_end|>", ...} in older tokenizer configs
        value = value.get("content")
    return value if isinstance(value, str) else None


def load_fast_tokenizer(folder: str | Path) -> FastTokenizer | None:
    """tokenizer.json + tokenizer_config.json as a FastTokenizer, or None where AutoTokenizer would differ."""
    from tokenizers import Tokenizer

    folder = Path(folder)
    config = read_json(folder / "tokenizer_config.json")
    if not isinstance(config, dict) or config.get("tokenizer_class") not in _PLAIN_CLASSES:
        return None
    if config.get("add_bos_token") or config.get("add_eos_token") or config.get("clean_up_tokenization_spaces"):
        return None
    if not (folder / "tokenizer.json").is_file() or (folder / "special_tokens_map.json").is_file():
        return None  # a separate special-tokens map may override what tokenizer_config says
    try:
        tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    except Exception:  # noqa: BLE001 - tokenizers raises a bare Exception for unreadable files
        return None
    special = {k: _token_text(config.get(k)) for k in ("eos_token", "bos_token", "unk_token", "pad_token")}
    if any(v is not None and tok.token_to_id(v) is None for v in special.values()):
        return None
    out = FastTokenizer(tok, special)
    if out.pad_token is None:
        out.pad_token = out.eos_token
    return out
