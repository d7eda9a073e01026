"""PyTorch Hub pages (front matter + Python blocks calling `torch.hub.load`) -> API records.

A page loads one model in its example; sibling variants appear as commented-out calls, a commented
assignment to the variable holding the model name, names listed in comments, or the first column
of the page's model table. All of them become records.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gorilla.apibench.source import (
    Found,
    ParsedFile,
    SourceError,
    code_blocks,
    first_paragraph,
    front_matter,
    plain,
    read_text,
    section,
    tables,
)
from gorilla.calls import SourceCall, find_calls, string_assignments, string_value

LOAD = ("torch.hub.load",)
# entrypoints that load helpers (pre/post-processing), not models
HELPER = re.compile(r"(utils|transforms|_get)$")
_NAME = re.compile(r"^[A-Za-z][\w.]*$")
# first-column headers of tables that list model variants
_TABLE_HEAD = re.compile(r"model|network|arch", re.I)
_PIP = re.compile(r"pip install (?:-q |-U |--quiet )*([\w\-=<>.\[\], ]+)")
_DOMAINS = (  # (pattern over title, summary and tags, upstream-style domain), first hit wins
    (r"voice activity", "Voice Activity Detection"),
    (r"text.to.speech|tts|mel spectrogram|waveform|speech from", "Text-To-Speech"),
    (r"speech.to.text|stt", "Speech-To-Text"), (r"separation", "Audio Separation"), (r"translation", "Translation"),
    (r"depth", "Depth Estimation"), (r"video|kinetics", "Video Classification"),
    (r"detect|yolo|perception", "Object Detection"), (r"segment|deeplab|fully.convolutional", "Semantic Segmentation"),
    (r"\bgans?\b|generative|image generation", "Image Generation"), (r"\bnlp\b|bert", "Natural Language Processing"),
    (r".", "Classification"),
)


def files(docs: Path) -> list[Path]:
    """Every page under `docs` (or `docs` itself, one page), in a stable order so builds are reproducible."""
    return sorted(docs.rglob("*.md")) if docs.is_dir() else [docs]


def domain_of(meta: dict[str, Any]) -> str:
    """Upstream's domain for a page: pages carry no domain, so their title, summary and tags imply one."""
    words = " ".join(str(meta.get(k, "")) for k in ("title", "summary", "tags")).lower()
    return next(d for pat, d in _DOMAINS if re.search(pat, words))


def _shared_affix(a: str, b: str, n: int = 5) -> bool:
    """Two different names that share their first or last `n` characters (`resnet18`, `resnet34`)."""
    a, b = a.lower(), b.lower()
    return a != b and (a[:n] == b[:n] or (len(a) > n and len(b) > n and a[-n:] == b[-n:]))


def _variant_of(name: str, primary: str) -> bool:
    """A name listed near the example that looks like a sibling of the loaded model (`resnet34` of `resnet18`)."""
    return (bool(_NAME.match(name)) and bool(re.search(r"[\d_]", name))
            and (name.islower() or not primary.islower()) and _shared_affix(name, primary))


def _uncomment(code: str) -> str:
    """Commented-out lines as code (`# model = ...` -> `model = ...`), other lines blanked, line numbers kept."""
    return "\n".join(re.sub(r"^\s*#\s?", "", ln) if ln.lstrip().startswith("#") else "" for ln in code.split("\n"))


def _comment_names(code: str) -> list[str]:
    """Identifier-like words in the code's comments, where pages list a model's siblings."""
    names = []
    for ln in code.split("\n"):
        if "#" in ln:
            names += re.findall(r"(?<![/\w.:-])[A-Za-z][\w.]*", ln.split("#", 1)[1])
    return names


def _table_names(text: str) -> tuple[list[str], dict[str, dict[str, str]]]:
    """First-column names of model tables, and each name's row as {header: cell} (for `performance`)."""
    names, rows = [], {}
    for table in tables(text):
        if len(table) < 2 or not _TABLE_HEAD.search(table[0][0]):
            continue
        for row in table[1:]:
            name = plain(row[0]) if row else ""
            if _NAME.match(name):
                names.append(name)
                rows.setdefault(name.lower(), {plain(h): plain(c) for h, c in zip(table[0][1:], row[1:], strict=False) if plain(h)})
    return names, rows


# where a load call names its model: the `model` keyword, a positional index, or nowhere
Slot = str | int | None


def _model_slot(call: SourceCall) -> Slot:
    """Where the model name sits: `"model"` for the keyword, else the positional after the repo.

    A second positional string after the repo (MEAL-V2: repo, entrypoint, variant) is the variant's name.
    """
    if call.kw("model") is not None:
        return "model"
    positions = range(0 if call.kw("repo_or_dir") is not None else 1, len(call.args))
    if len(positions) >= 2 and string_value(call.args[positions[1]]) is not None:
        return positions[1]
    return positions[0] if positions else None


def _slot_text(call: SourceCall, slot: Slot) -> str | None:
    """The source text in the model slot: a string literal or a variable."""
    if slot == "model":
        return call.kw("model")
    return call.args[slot] if isinstance(slot, int) else None


def _with(call: SourceCall, slot: Slot, value: str, env: dict[str, str]) -> SourceCall:
    """The call with its model slot set to `value` and variable arguments replaced by their literal values."""
    def lit(v: str) -> str:
        """A variable's literal value, as Python source; anything else as written."""
        return repr(env[v]) if v in env else v
    args = [lit(a) for a in call.args]
    kwargs = [(k, lit(v)) for k, v in call.kwargs]
    if slot == "model":
        kwargs = [(k, repr(value) if k == "model" else v) for k, v in kwargs]
    elif isinstance(slot, int):
        args[slot] = repr(value)
    return SourceCall(call.name, tuple(args), tuple(kwargs), call.line)


def _canonical(call: SourceCall) -> str:
    """Upstream's spelling: `torch.hub.load(repo_or_dir='r', model='m', ...)` when that is valid Python."""
    args, kwargs = list(call.args), [(k, v) for k, v in call.kwargs if k not in ("repo_or_dir", "model")]
    repo, model = call.kw("repo_or_dir"), call.kw("model")
    if repo is None and args:
        repo = args.pop(0)
    if model is None and len(args) == 1:
        model = args.pop(0)
    if args:  # extra positionals (MEAL-V2): keep them positional
        return SourceCall(call.name, (repo, *([model] if model else []), *args), tuple(kwargs)).text()
    head = [("repo_or_dir", repo)] + ([("model", model)] if model else [])
    return SourceCall(call.name, (), (*head, *kwargs)).text()


@dataclass(frozen=True)
class _Page:
    """What every record of one page shares."""

    meta: dict[str, Any]
    description: str
    requirements: list[str]
    dataset: str
    table_names: list[str]  # first-column names of the page's model tables
    table_rows: dict[str, dict[str, str]]  # lower-cased name -> its row, the record's `performance`


def _requirements(text: str) -> list[str]:
    """torch, and every package a `pip install` line anywhere in the page installs (flags dropped)."""
    packages: set[str] = set()
    for block in code_blocks(text):
        for spec in _PIP.findall(block.code):
            packages.update(p for p in spec.replace(",", " ").split() if not p.startswith("-"))
    return ["torch", *sorted(packages)]


def _page(text: str, meta: dict[str, Any]) -> _Page:
    """Read once per page what its records share."""
    description = " ".join(x for x in (meta.get("summary", ""), first_paragraph(section(text, "Model Description"))) if x)
    return _Page(meta, description, _requirements(text), _dataset(text), *_table_names(text))


@dataclass(frozen=True)
class _Block:
    """A code block that loads a model, and the string variables it assigns (in live code and in comments)."""

    code: str
    commented: str  # the commented-out lines as code, line numbers kept
    env: dict[str, str]
    env_commented: dict[str, str]

    @classmethod
    def of(cls, code: str) -> _Block:
        """The block with its variables read, from live code and from commented-out lines."""
        commented = _uncomment(code)
        return cls(code, commented, string_assignments(code), string_assignments(commented))


def _load_calls(block: _Block) -> list[tuple[SourceCall, bool]]:
    """(call, written in a comment) for each torch.hub.load in the block, the live ones first."""
    return [(c, False) for c in find_calls(block.code, LOAD)] + [(c, True) for c in find_calls(block.commented, LOAD)]


def _loaded_model(call: SourceCall, slot: Slot, block: _Block) -> str | None:
    """The model name a load call asks for, a variable resolved; None for helpers and local repos."""
    raw = _slot_text(call, slot)
    name = None if raw is None else string_value(raw) or block.env.get(raw) or block.env_commented.get(raw)
    local = any((string_value(a) or "").startswith((".", "/")) for a in call.args)
    return None if name is None or HELPER.search(name) or local else name


def _siblings(call: SourceCall, slot: Slot, primary: str, block: _Block, page: _Page) -> list[str]:
    """Variants listed beside a live load call: values its model variable gets in comments, names in comments,
    and model-table rows (a row naming a prefix of the loaded model, `shufflenet_v2`, is that model itself)."""
    raw = _slot_text(call, slot)
    names = [v for k, v in _all_string_assignments(block.commented) if k == raw] if raw in block.env else []
    names += [n for n in _comment_names(block.code) if _variant_of(n, primary)]
    return names + [n for n in page.table_names if _variant_of(n, primary) and not primary.startswith(n)]


def _models(block: _Block, page: _Page) -> Iterator[tuple[SourceCall, str]]:
    """(load call for the model, its name) for each model the block loads or lists, variables resolved."""
    env = {**block.env_commented, **block.env}
    for call, from_comment in _load_calls(block):
        slot = _model_slot(call)
        primary = _loaded_model(call, slot, block)
        if primary is None:
            continue
        names = [primary] if from_comment else [primary, *_siblings(call, slot, primary, block, page)]
        for name in dict.fromkeys(names):
            yield _with(call, slot, name, env), name


def _record(page: _Page, code: str, call: SourceCall, name: str) -> dict[str, Any]:
    """The API record, in upstream's schema, of model `name` loaded by `call` in a page's `code`."""
    perf = page.table_rows.get(name.lower(), {})
    return {
        "domain": domain_of(page.meta), "framework": "PyTorch", "functionality": str(page.meta.get("title", "")),
        "api_name": name, "api_call": _canonical(call),
        "api_arguments": {k: v for k, v in call.kwargs if k not in ("repo_or_dir", "model")},
        "python_environment_requirements": page.requirements,
        "example_code": code.strip(),
        "performance": {"dataset": page.dataset, **({"accuracy": perf} if perf else {})},
        "description": page.description,
    }


def parse_file(path: Path) -> ParsedFile:
    """A record for every model the page loads in its Python blocks or lists beside them, each call once."""
    text = read_text(path)
    meta, body_line = front_matter(text, path)
    out = ParsedFile(str(path))
    blocks = [b for b in code_blocks(text) if b.lang in ("python", "py", "") and LOAD[0] in b.code]
    if not blocks:
        return out
    page = _page(text, meta)
    seen: set[str] = set()
    for block in blocks:
        for call, name in _models(_Block.of(block.code), page):
            record = _record(page, block.code, call, name)
            if record["api_call"] not in seen:
                seen.add(record["api_call"])
                # the page's first live model call is its own; later ones (a vocoder beside a TTS model) are guests
                out.found.append(Found(record, str(path), block.line + call.line - 1, 1, variant=bool(out.found)))
    if not out.found and not meta:
        raise SourceError(path, body_line, 1, "no front matter and no model loaded by torch.hub.load")
    return out


def _all_string_assignments(code: str) -> list[tuple[str, str]]:
    """Every `name = 'literal'` line in `code`, in order (a variable's other values, in commented-out lines)."""
    return re.findall(r"""^\s*([A-Za-z_]\w*)\s*=\s*['"]([^'"]+)['"]""", code, re.M)


def _dataset(text: str) -> str:
    """The first well-known dataset the page names (the record's `performance.dataset`)."""
    m = re.search(r"\b(ImageNet|Kinetics[- ]?\d*|COCO|CIFAR-?\d+|LibriSpeech|LJSpeech|MUSDB18|CUB-?200|WMT\s?\d+|Cityscapes|BDD100K)\b", text)
    return m.group(1) if m else ""
