"""Which text of an API entry a retriever indexes.

Presets are compared by `gorilla eval retrieval --doc-fields ...`; eval/results/retrieval.md
says which won (chosen on the dev half of each eval split).
"""

from __future__ import annotations

import json
from typing import Any

from gorilla.data import ApiEntry
from gorilla.errors import GorillaError

DOC_PRESETS: dict[str, tuple[str, ...]] = {
    "name": ("api_name", "api_call"),
    "description": ("description",),
    "short": ("domain", "functionality", "api_name"),
    "rich": ("domain", "functionality", "api_name", "description"),
    "full": ("domain", "functionality", "api_name", "api_call", "description", "performance"),
    "all": ("domain", "framework", "functionality", "api_name", "api_call", "api_arguments",
            "python_environment_requirements", "example_code", "performance", "description"),
}
DEFAULT_DOC_FIELDS = "full"


def _text(value: Any) -> str:
    if value is None or value in ("N/A", "", [], {}):
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def doc_text(entry: ApiEntry, preset: str = DEFAULT_DOC_FIELDS) -> str:
    """`field: value` lines for the preset's fields (empty and N/A values skipped)."""
    try:
        fields = DOC_PRESETS[preset]
    except KeyError:
        raise GorillaError(f"unknown doc fields {preset!r}: expected one of {', '.join(DOC_PRESETS)}") from None
    lines = []
    for name in fields:
        value = _text(entry.raw.get(name, getattr(entry, name, "")))
        if value:
            lines.append(f"{name}: {value}")
    return "\n".join(lines)
