"""API Zoo files (a JSON list of contributed API entries) -> API records in upstream's schema.

JSON errors are reported where they are (`file:line:col: message`); each entry's own line and
column are kept so that a bad entry can be pointed at too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gorilla.apibench.source import Found, ParsedFile, SourceError, read_text

REQUIRED = ("api_name", "api_call")


def files(docs: Path) -> list[Path]:
    return sorted(p for p in docs.rglob("*") if p.is_file() and p.suffix.lower() == ".json") if docs.is_dir() else [docs]


def _where(text: str, pos: int) -> tuple[int, int]:
    return text.count("\n", 0, pos) + 1, pos - (text.rfind("\n", 0, pos) + 1) + 1


def _entries(text: str, path: Path) -> list[tuple[dict[str, Any], int, int]]:
    """(entry, line, col) for each object of the top-level list (or the single top-level object)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise SourceError(path, e.lineno, e.colno, f"invalid JSON: {e.msg}") from None
    if isinstance(data, dict):
        return [(data, *_where(text, len(text) - len(text.lstrip())))]
    if not isinstance(data, list):
        raise SourceError(path, 1, 1, f"expected a JSON list of API entries, got {type(data).__name__}")
    decoder, out, pos = json.JSONDecoder(), [], text.index("[") + 1
    for _ in data:  # walk the list again to learn where each entry starts
        while text[pos] in " \t\r\n,":
            pos += 1
        obj, end = decoder.raw_decode(text, pos)
        line, col = _where(text, pos)
        if not isinstance(obj, dict):
            raise SourceError(path, line, col, f"expected an API entry object, got {type(obj).__name__}")
        out.append((obj, line, col))
        pos = end
    return out


def provider_of(api_name: str, path: Path) -> str:
    """`Gmail API - Users.getProfile` -> `Gmail API`; else the file's name."""
    return api_name.split(" - ")[0].strip() if " - " in api_name else path.stem.replace("_", " ")


def parse_file(path: Path) -> ParsedFile:
    text = read_text(path)
    out = ParsedFile(str(path))
    for entry, line, col in _entries(text, path):
        for key in REQUIRED:
            if not isinstance(entry.get(key), str) or not entry[key].strip():
                raise SourceError(path, line, col, f"{key}: missing or not a string")
        meta = entry.get("meta_data") if isinstance(entry.get("meta_data"), dict) else {}
        provider = provider_of(entry["api_name"], path)
        record = {
            "domain": str(meta.get("domain") or provider),
            "framework": provider,
            "functionality": str(entry.get("functionality", "")),
            "api_name": entry["api_name"],
            "api_call": entry["api_call"].strip(),
            "api_arguments": entry.get("api_arguments", {}),
            "python_environment_requirements": entry.get("env_requirements", []),
            "example_code": entry.get("example_code", ""),
            "performance": {},
            "description": str(meta.get("description", "")),
        }
        out.found.append(Found(record, str(path), line, col))
    return out
