"""Users' own API descriptions -> API records: one entry point for every format, chosen by content.

A file is read as JSON, or YAML when named `.yaml`/`.yml` (`source.load_document`), then: an object
with an `openapi` (or `swagger`, refused there) key is an OpenAPI document (`openapi.py`), a list of
tool or function objects is a tools list (`tools.py`), anything else is an API Zoo file (`apizoo.py`).
Folders are searched recursively for `.json`, `.yaml` and `.yml` files, in sorted order, so the same
sources always give the same records in the same order. Every record's `api_call` must parse as one
Python call (`database.check`), as everywhere else in the database.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from gorilla.apibench import apizoo, database, openapi, tools
from gorilla.apibench.source import (
    Document,
    Found,
    ParsedFile,
    Problems,
    SourceError,
    load_document,
    structured_files,
)
from gorilla.errors import GorillaError

PARSERS = {"openapi": openapi, "tools": tools, "apizoo": apizoo}
log = logging.getLogger("gorilla")


def kind_of(data: Any) -> str:
    """`openapi`, `tools` or `apizoo`: which parser reads a loaded document."""
    if isinstance(data, dict) and ("openapi" in data or "swagger" in data):
        return "openapi"
    return "tools" if tools.looks_like_tools(data) else "apizoo"


def source_files(paths: list[Path]) -> list[Path]:
    """The files named, and the JSON/YAML files under the folders named (sorted), each once."""
    out: list[Path] = []
    for p in paths:
        if not p.exists():
            raise GorillaError(f"{p}: no such file or folder")
        out += structured_files(p)
    return list(dict.fromkeys(out))


def _parse_all(files: list[Path], problems: Problems) -> list[ParsedFile]:
    """Each file parsed, OpenAPI documents first so that the files their `$ref`s read (shared schemas beside
    the spec) are known as parts of them and not read as sources; results in the files' order."""
    docs: dict[Path, Document] = {}
    for path in files:
        try:
            docs[path] = load_document(path)
        except SourceError as e:
            problems(e, whole_file=True)
    parsed: dict[Path, ParsedFile] = {}
    included: set[Path] = set()
    for first in (True, False):
        for path, doc in docs.items():
            kind = kind_of(doc.data)
            if (kind == "openapi") != first or path.resolve() in included:
                continue
            try:
                parsed[path] = PARSERS[kind].parse_document(doc)
            except SourceError as e:
                problems(e, whole_file=True)
                continue
            included |= {p.resolve() for p in parsed[path].includes}
    return [parsed[p] for p in docs if p in parsed and p.resolve() not in included]


def collect_sources(paths: list[Path], problems: Problems) -> list[Found]:
    """Every record found under `paths` whose api_call parses; malformed files and records go to `problems`."""
    found: list[Found] = []
    for parsed_file in _parse_all(source_files(paths), problems):
        for f in parsed_file.found:
            try:
                database.check(f)
                found.append(f)
            except SourceError as e:
                problems(e, whole_file=False)
    return found


def read_sources(paths: list[Path], keep_going: bool = False) -> list[dict[str, Any]]:
    """API records (upstream's fields, `parameters`, and `http` for REST operations) from OpenAPI documents,
    tools lists and API Zoo files, files and folders alike.

    A malformed file or record raises SourceError, or with `keep_going` is reported through the `gorilla`
    logger (one line each) and skipped, with a last line counting what was read and skipped.
    """
    problems = Problems(keep_going, log.warning, shown=1_000_000)
    found = collect_sources([Path(p) for p in paths], problems)
    if problems.skipped_files or problems.skipped_records:
        log.warning(f"read {len(found)} API records; skipped {len(problems.skipped_files)} malformed files "
                    f"and {len(problems.skipped_records)} records")
    return [f.record for f in found]
