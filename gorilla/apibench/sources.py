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
from gorilla.apibench.source import Found, ParsedFile, Problems, SourceError, load_document
from gorilla.errors import GorillaError

SUFFIXES = (".json", ".yaml", ".yml")
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
        if p.is_dir():
            out += sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in SUFFIXES)
        elif p.is_file():
            out.append(p)
        else:
            raise GorillaError(f"{p}: no such file or folder")
    return list(dict.fromkeys(out))


def parse_source(path: Path) -> ParsedFile:
    """One file's records, by its content's format; a SourceError (`file:line:col: message`) when malformed."""
    doc = load_document(path)
    parser = {"openapi": openapi, "tools": tools, "apizoo": apizoo}[kind_of(doc.data)]
    return parser.parse_document(doc)


def collect_sources(paths: list[Path], problems: Problems) -> list[Found]:
    """Every record found under `paths` whose api_call parses; malformed files and records go to `problems`."""
    found: list[Found] = []
    for path in source_files(paths):
        try:
            got = parse_source(path).found
        except SourceError as e:
            problems(e, whole_file=True)
            continue
        for f in got:
            try:
                database.check(f, "sources")
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
