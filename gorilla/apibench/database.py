"""Found records -> API database: every api_call parsed, duplicates merged, one deterministic order."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from gorilla.apibench.source import Found, SourceError
from gorilla.calls import call_key
from gorilla.data import write_jsonl
from gorilla.data.records import API_FIELDS


def _empty(value: Any) -> bool:
    """A field with nothing in it, which a duplicate's value may fill (upstream writes `N/A` too)."""
    return value in (None, "", [], {}, "N/A")


def check(found: Found) -> str:
    """The record's key; a SourceError at its origin when a field is missing or its api_call is not one call."""
    rec = found.record
    for name in ("domain", "api_call"):
        if not isinstance(rec.get(name), str) or not rec[name].strip():
            raise SourceError(found.path, found.line, found.col, f"{name}: missing or not a string")
    key = call_key(rec["api_call"])
    if key is None:
        raise SourceError(found.path, found.line, found.col, f"api_call: not a single Python call: {rec['api_call'][:80]!r}")
    return key


def merge(found: Iterable[Found]) -> tuple[list[dict[str, Any]], int]:
    """Records keyed by their call; a page's own example wins over a variant listed elsewhere, then
    earlier files win, and empty fields are filled from the duplicates. Returns (records, merged count)."""
    items = sorted(found, key=lambda f: (f.variant, f.path, f.line))
    by_key: dict[str, dict[str, Any]] = {}
    merged = 0
    for f in items:
        key = check(f)
        if key in by_key:
            merged += 1
            kept = by_key[key]
            for k, v in f.record.items():
                if _empty(kept.get(k)) and not _empty(v):
                    kept[k] = v
        else:
            by_key[key] = {k: f.record.get(k) for k in API_FIELDS} | {k: v for k, v in f.record.items() if k not in API_FIELDS}
    return [by_key[k] for k in sorted(by_key)], merged


def write(path: Path, records: list[dict[str, Any]]) -> int:
    """Write the database as JSONL, atomically; return the number of records."""
    return write_jsonl(path, records)
