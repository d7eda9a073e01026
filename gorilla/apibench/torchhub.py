"""PyTorch Hub pages (front matter + Python blocks calling `torch.hub.load`) -> API records.

A page loads one model in its example; sibling variants appear as commented-out calls, a commented
assignment to the variable holding the model name, names listed in comments, or the first column
of the page's model table. All of them become records.
"""

from __future__ import annotations

import re
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
    return sorted(docs.rglob("*.md")) if docs.is_dir() else [docs]


def domain_of(meta: dict[str, Any]) -> str:
    words = " ".join(str(meta.get(k, "")) for k in ("title", "summary", "tags")).lower()
    return next(d for pat, d in _DOMAINS if re.search(pat, words))


def _shared_affix(a: str, b: str, n: int = 5) -> bool:
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


def _slot(call: SourceCall) -> tuple[str, int | None]:
    """Where the model name sits: ('model', None) for the keyword, ('arg', i) for a positional."""
    if call.kw("model") is not None:
        return "model", None
    first = 0 if call.kw("repo_or_dir") is not None else 1
    strings = [i for i in range(first, len(call.args))]
    if len(strings) >= 2 and string_value(call.args[strings[1]]) is not None:
        return "arg", strings[1]  # repo, entrypoint, variant (MEAL-V2)
    return "arg", strings[0] if strings else None


def _with(call: SourceCall, slot: tuple[str, int | None], value: str, env: dict[str, str]) -> SourceCall:
    """The call with its model slot set to `value` and variable arguments replaced by their literal values."""
    def lit(v: str) -> str:
        return repr(env[v]) if v in env else v
    args = [lit(a) for a in call.args]
    kwargs = [(k, lit(v)) for k, v in call.kwargs]
    if slot[0] == "model":
        kwargs = [(k, repr(value) if k == "model" else v) for k, v in kwargs]
    elif slot[1] is not None:
        args[slot[1]] = repr(value)
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


def parse_file(path: Path) -> ParsedFile:
    text = read_text(path)
    meta, body_line = front_matter(text, path)
    out = ParsedFile(str(path))
    blocks = [b for b in code_blocks(text) if b.lang in ("python", "py", "") and "torch.hub.load" in b.code]
    if not blocks:
        return out
    table_names, perf_rows = _table_names(text)
    description = " ".join(x for x in (meta.get("summary", ""), first_paragraph(section(text, "Model Description"))) if x)
    requirements = ["torch", *sorted({p for b in code_blocks(text) for p in re.findall(r"pip install (?:-q |-U |--quiet )*([\w\-=<>.\[\], ]+)", b.code)
                                      for p in p.replace(",", " ").split() if not p.startswith("-")})]
    seen: set[str] = set()
    for block in blocks:
        env = string_assignments(block.code)
        commented = _uncomment(block.code)
        env_commented = string_assignments(commented)
        live = find_calls(block.code, LOAD)
        calls = [(c, False) for c in live] + [(c, True) for c in find_calls(commented, LOAD)]
        for call, from_comment in calls:
            slot = _slot(call)
            raw = call.kw("model") if slot[0] == "model" else call.args[slot[1]] if slot[1] is not None else None
            if raw is None:
                continue
            primary = string_value(raw) or env.get(raw) or env_commented.get(raw)
            local = any((string_value(a) or "").startswith((".", "/")) for a in call.args)
            if primary is None or HELPER.search(primary) or local:
                continue
            names = [primary]
            if not from_comment:
                if raw in env:  # variable: other values assigned to it in comments, names listed nearby
                    names += [v for k, v in _assignments_all(commented) if k == raw]
                names += [n for n in _comment_names(block.code) if _variant_of(n, primary)]
                # a table row may label the loaded model by a shorter name (`shufflenet_v2`)
                names += [n for n in table_names if _variant_of(n, primary) and not primary.startswith(n)]
            for name in dict.fromkeys(names):
                full = _with(call, slot, name, {**env_commented, **env})
                api_call = _canonical(full)
                if api_call in seen:
                    continue
                seen.add(api_call)
                perf = perf_rows.get(name.lower(), {})
                record = {
                    "domain": domain_of(meta), "framework": "PyTorch", "functionality": str(meta.get("title", "")),
                    "api_name": name, "api_call": api_call,
                    "api_arguments": {k: v for k, v in full.kwargs if k not in ("repo_or_dir", "model")},
                    "python_environment_requirements": requirements,
                    "example_code": block.code.strip(),
                    "performance": {"dataset": _dataset(text), **({"accuracy": perf} if perf else {})},
                    "description": description,
                }
                # the page's first live model call is its own; later ones (a vocoder loaded beside a TTS model) are guests
                out.found.append(Found(record, str(path), block.line + call.line - 1, 1, variant=bool(out.found)))
    if not out.found and not meta:
        raise SourceError(path, body_line, 1, "no front matter and no model loaded by torch.hub.load")
    return out


def _assignments_all(code: str) -> list[tuple[str, str]]:
    return re.findall(r"""^\s*([A-Za-z_]\w*)\s*=\s*['"]([^'"]+)['"]""", code, re.M)


def _dataset(text: str) -> str:
    m = re.search(r"\b(ImageNet|Kinetics[- ]?\d*|COCO|CIFAR-?\d+|LibriSpeech|LJSpeech|MUSDB18|CUB-?200|WMT\s?\d+|Cityscapes|BDD100K)\b", text)
    return m.group(1) if m else ""
