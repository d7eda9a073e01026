"""A tokenizer for API text: model ids, URLs and code split into the words a user would type.

Upstream's BM25 split on whitespace, so `facebookresearch/pytorchvideo` or `mobilenet_v2_100_224`
never matched "mobilenet". We split on punctuation, `_`, camelCase and letter/digit boundaries,
and keep the unsplit word too so exact ids still score highest.
"""

from __future__ import annotations

import functools
import re

_WORD = re.compile(r"[^\W_]+(?:_[^\W_]+)*|\w+")
_DIGITS = r"(?<=[^\W\d_])(?=\d)|(?<=\d)(?=[^\W\d_])"
_SPLIT = re.compile(r"_|(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])|" + _DIGITS)
_SPLIT_COARSE = re.compile(r"_|" + _DIGITS)
STOPWORDS = frozenset(
    "a an and are as at be by can could do does for from have how i in into is it its me my need of on or our "
    "please should so some that the their them there these this to use used using want we what which will with "
    "would you your".split()
)


@functools.lru_cache(maxsize=1 << 16)
def _forms(word: str) -> tuple[str, ...]:
    """A word's tokens; cached because API docs repeat the same ids and words thousands of times."""
    forms = [word.replace("_", "")] + _SPLIT_COARSE.split(word) + _SPLIT.split(word)
    return tuple(dict.fromkeys(f.lower() for f in forms if f and f.lower() not in STOPWORDS))


def tokenize(text: str) -> list[str]:
    """Lower-cased tokens: each word, its parts (`ResNet50` -> resnet50, resnet, res, net, 50), no stopwords."""
    return [form for word in _WORD.findall(text) for form in _forms(word)]
