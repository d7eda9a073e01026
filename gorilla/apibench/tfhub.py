"""TF Hub model pages (`# Module publisher/name/version` + `<!-- key: value -->` metadata) -> API records.

The load call is the page's own `hub.KerasLayer(...)`/`hub.load(...)` on its tfhub.dev URL when the
page shows one, else the one its task and format imply (Keras layers for images and text embeddings
in TF2 format, `hub.load` otherwise). Lite, TF.js, Coral, placeholder, collection and publisher
pages hold no Python API and are passed over.
"""

from __future__ import annotations

import re
from pathlib import Path

from gorilla.apibench.source import Found, ParsedFile, SourceError, code_blocks, first_paragraph, read_text
from gorilla.calls import SourceCall, find_calls, string_value, tfhub_handle

URL = "https://tfhub.dev/"
LOADERS = ("hub.KerasLayer", "hub.load", "hub.Module")
_META = re.compile(r"^<!--\s*([\w-]+)\s*:\s*(.*?)\s*-->\s*$", re.M)
_KERAS_TASKS = {"image-classification", "image-feature-vector", "text-embedding", "image-classifier"}


def files(docs: Path) -> list[Path]:
    return sorted(docs.rglob("*.md")) if docs.is_dir() else [docs]


def handle_from_path(path: Path) -> str | None:
    """`<publisher>/models/<name...>/<version>.md` -> `publisher/name.../version`."""
    parts = path.with_suffix("").parts
    if "models" not in parts:
        return None
    i = len(parts) - 1 - parts[::-1].index("models")
    return "/".join((parts[i - 1], *parts[i + 1:])) if i >= 1 and len(parts) > i + 2 else None


def metadata(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for key, value in _META.findall(text):
        out.setdefault(key, []).append(value)
    return out


def _page_call(text: str, handle: str) -> SourceCall | None:
    """The page's own load call on its handle, literal arguments only."""
    for block in code_blocks(text):
        if handle not in block.code:
            continue
        for call in find_calls(block.code, LOADERS):
            url = string_value(call.args[0]) if call.args else string_value(call.kw("handle") or "")
            if url and tfhub_handle(url) == handle and not call.name.endswith("Module"):
                kwargs = tuple((k, v) for k, v in call.kwargs if k != "handle" and (string_value(v) is not None
                                                                                   or v in ("True", "False") or v.isdigit()))
                return SourceCall(call.name.split(".", 1)[-1] if call.name.startswith("tensorflow_hub.") else call.name,
                                  (repr(URL + handle),), kwargs)
    return None


def parse_file(path: Path) -> ParsedFile:
    text = read_text(path)
    out = ParsedFile(str(path))
    first = text.split("\n", 1)[0].strip()
    m = re.match(r"#\s*(Module|Lite|Tfjs|Placeholder|Collection|Publisher|Coral)\s+(\S+)\s*$", first)
    if not m:
        raise SourceError(path, 1, 1, "expected a '# Module publisher/name/version' header (or Lite, Tfjs, Placeholder, "
                                      "Collection, Publisher, Coral)")
    if m.group(1) != "Module":
        return out
    # a few headers carry `&zwnj;` joiners or the `models/` path segment; the handle is without both
    handle = re.sub(r"&zwnj;|\u200c", "", m.group(2)).strip().strip("/")
    handle = re.sub(r"^([^/]+)/models/", r"\1/", handle)
    expected = handle_from_path(path)
    if expected is not None and expected != handle:
        raise SourceError(path, 1, m.start(2) + 1, f"module handle {handle!r} does not match the page's path ({expected!r})")
    meta = metadata(text)
    task = (meta.get("task") or [""])[0]
    fmt = (meta.get("format") or [""])[0]
    call = _page_call(text, handle)
    if call is None:
        loader = "hub.KerasLayer" if task in _KERAS_TASKS and fmt != "hub" else "hub.load"
        call = SourceCall(loader, (repr(URL + handle),), ())
    summary = " ".join(text.split("\n", 1)[1].split("<!--", 1)[0].split()) if "\n" in text else ""
    overview = first_paragraph(text.split("## Overview", 1)[1]) if "## Overview" in text else ""
    publisher, *name, version = handle.split("/")
    arch = (meta.get("network-architecture") or [""])[0]
    example = next((b.code.strip() for b in code_blocks(text) if handle in b.code), "")
    record = {
        "domain": task.replace("-", " ").capitalize() or "Other",
        "framework": "TensorFlow Hub",
        "functionality": task.replace("-", " ").capitalize() + (f" ({arch})" if arch else ""),
        "api_name": "/".join(name),
        "api_call": call.text(),
        "api_arguments": {"handle": URL + handle, **dict(call.kwargs)},
        "python_environment_requirements": ["tensorflow", "tensorflow-hub"]
        + (["tensorflow-text"] if "tensorflow_text" in text else []),
        "example_code": example,
        "performance": {"dataset": ", ".join(meta.get("dataset", [])), "fine_tunable": (meta.get("fine-tunable") or [""])[0],
                        "format": fmt, "publisher": publisher, "version": version},
        "description": " ".join(x for x in (summary, overview) if x),
    }
    out.found.append(Found(record, str(path), 1, 1))
    return out
