"""What every doc parser shares: located errors, found records, structured documents (JSON or YAML, every
object and list locatable), Python names for calls, markdown front matter, code blocks, tables."""

from __future__ import annotations

import json
import json.scanner
import keyword
import re
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gorilla.errors import GorillaError

STRUCTURED = (".json", ".yaml", ".yml")


def structured_files(docs: Path) -> list[Path]:
    """Every JSON or YAML file under a folder (or the one file given): what the OpenAPI and tools parsers read."""
    if not docs.is_dir():
        return [docs]
    return sorted(p for p in docs.rglob("*") if p.is_file() and p.suffix.lower() in STRUCTURED)


class SourceError(GorillaError):
    """A malformed source file, located as `file:line:col: message` (what compilers print, editors jump to)."""

    def __init__(self, path: str | Path, line: int, col: int, message: str):
        self.path, self.line, self.col, self.message = str(path), line, col, message
        super().__init__(f"{path}:{line}:{col}: {message}")


@dataclass
class Found:
    """One API record in upstream's schema and where in the docs it came from."""

    record: dict[str, Any]
    path: str
    line: int = 1
    col: int = 1
    variant: bool = False  # listed as an alternative (comment, table), not the page's own example

    @property
    def origin(self) -> str:
        return f"{self.path}:{self.line}:{self.col}"


@dataclass
class ParsedFile:
    """A parser's result for one file: its records (empty for pages that hold no API), and the other files
    it read (an OpenAPI document's `$ref`s into them), which are parts of it and not sources of their own."""

    path: str
    found: list[Found] = field(default_factory=list)
    includes: list[Path] = field(default_factory=list)


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raw = path.read_bytes()
        line = raw[: e.start].count(b"\n") + 1
        col = e.start - (raw.rfind(b"\n", 0, e.start) + 1) + 1
        raise SourceError(path, line, col, f"invalid UTF-8 byte 0x{raw[e.start]:02x}") from None


@dataclass
class Problems:
    """Malformed sources met along the way: raised at once, or collected under --keep-going."""

    keep_going: bool
    report: Callable[[str], None]
    skipped_files: list[str] = field(default_factory=list)
    skipped_records: list[str] = field(default_factory=list)
    shown: int = 20  # the rest are counted, and listed in the manifest

    def __call__(self, error: SourceError, whole_file: bool) -> None:
        """Raise `error`, or under --keep-going count it (a whole file or one record) and show the first few."""
        if not self.keep_going:
            raise error
        (self.skipped_files if whole_file else self.skipped_records).append(str(error))
        if len(self.skipped_files) + len(self.skipped_records) <= self.shown:
            self.report(f"skipped: {error}")


MAX_DOCUMENT_BYTES = 32 * 1024 * 1024  # GitHub's REST API description, among the largest public ones, is ~12 MB
MAX_VALUES = 5_000_000  # values a YAML file may expand to through its aliases (a "billion laughs" file is refused)


@dataclass
class Document:
    """A JSON or YAML file's value, and where each of its objects and lists starts (so errors can point)."""

    path: Path
    text: str
    data: Any
    starts: dict[int, int | tuple[int, int]]  # id(object or list) -> offset (JSON) or (line, col) (YAML)
    _newlines: list[int] | None = field(default=None, repr=False)

    def where(self, value: Any) -> tuple[int, int]:
        """(line, col) where `value`, an object or list of this document, starts; (1, 1) for anything else."""
        start = self.starts.get(id(value))
        if start is None:
            return 1, 1
        if isinstance(start, tuple):
            return start
        if self._newlines is None:
            self._newlines = [m.end() for m in re.finditer("\n", self.text)]
        line = bisect_right(self._newlines, start)
        return line + 1, start - (self._newlines[line - 1] if line else 0) + 1

    def error(self, value: Any, message: str) -> SourceError:
        """A SourceError located at `value` (an object or list of this document)."""
        return SourceError(self.path, *self.where(value), message)


class _LocatingDecoder(json.JSONDecoder):
    """The standard decoder with its pure-Python scanner, noting where each object and list starts.

    Strings are still scanned in C, so a 700 KB document takes ~25 ms (C alone: ~4 ms)."""

    def __init__(self, starts: dict[int, int | tuple[int, int]]):
        super().__init__()

        def noting(parse: Callable) -> Callable:
            def parse_and_note(s_and_end: tuple[str, int], *args: Any) -> tuple[Any, int]:
                value, end = parse(s_and_end, *args)
                starts[id(value)] = s_and_end[1] - 1  # the index after `{` or `[`
                return value, end
            return parse_and_note

        self.parse_object, self.parse_array = noting(self.parse_object), noting(self.parse_array)
        self.scan_once = json.scanner.py_make_scanner(self)


_YAML_LOADER: type | None = None


def _yaml_loader() -> type:
    """PyYAML's safe loader (libyaml's when built with it) that notes each mapping's and sequence's mark and keeps
    timestamps as the strings they were written as (`version: 2024-01-01` must stay JSON)."""
    global _YAML_LOADER
    if _YAML_LOADER is None:
        import yaml

        class Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
            def construct_object(self, node: Any, deep: bool = False) -> Any:
                value = super().construct_object(node, deep)
                if isinstance(value, (dict, list)):
                    self.starts.setdefault(id(value), (node.start_mark.line + 1, node.start_mark.column + 1))
                return value

        Loader.add_constructor("tag:yaml.org,2002:timestamp", lambda loader, node: loader.construct_scalar(node))
        _YAML_LOADER = Loader
    return _YAML_LOADER


def _count_values(data: Any, path: Path) -> None:
    """Refuse a document whose aliases expand it past MAX_VALUES values (each alias counted as often as used)."""
    stack, seen = [data], 0
    while stack:
        value = stack.pop()
        seen += 1
        if seen > MAX_VALUES:
            raise SourceError(path, 1, 1, f"expands to more than {MAX_VALUES} values (YAML aliases?)")
        if isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)


def _load_yaml(path: Path, text: str, starts: dict) -> Any:
    import yaml

    loader = _yaml_loader()(text)
    loader.starts = starts
    try:
        data = loader.get_single_data()
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise SourceError(path, line, col, f"invalid YAML: {getattr(e, 'problem', None) or e}") from None
    finally:
        loader.dispose()
    _count_values(data, path)
    return data


def load_document(path: Path, max_bytes: int = MAX_DOCUMENT_BYTES) -> Document:
    """A `.yaml`/`.yml` file read as YAML, anything else as JSON; larger than `max_bytes`, unreadable or
    malformed files are a SourceError at the fault's line and column."""
    try:
        size = path.stat().st_size
    except OSError as e:
        raise SourceError(path, 1, 1, f"cannot read: {e.strerror or e}") from None
    if size > max_bytes:
        raise SourceError(path, 1, 1, f"{size} bytes, more than the {max_bytes} allowed")
    try:
        text = read_text(path)
    except OSError as e:
        raise SourceError(path, 1, 1, f"cannot read: {e.strerror or e}") from None
    starts: dict[int, int | tuple[int, int]] = {}
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            data = _load_yaml(path, text, starts)
        else:
            data = _LocatingDecoder(starts).decode(text)
    except json.JSONDecodeError as e:
        raise SourceError(path, e.lineno, e.colno, f"invalid JSON: {e.msg}") from None
    except RecursionError:
        raise SourceError(path, 1, 1, "nested too deeply") from None
    return Document(path, text, data, starts)


def python_name(text: str) -> str:
    """`text` as a name a Python call can use: each dotted part made an identifier (`list-pets` -> `list_pets`,
    `pets.list` stays dotted, `import` -> `import_`, `2fa` -> `_2fa`), so the call parses (tree-sitter)."""
    parts = []
    for part in text.strip().split("."):
        part = re.sub(r"[^0-9A-Za-z_]+", "_", part).strip("_") or "call"
        part = f"_{part}" if part[0].isdigit() else part
        parts.append(f"{part}_" if keyword.iskeyword(part) else part)
    return ".".join(parts)


def is_keyword_name(name: str) -> bool:
    """Whether `name` can be written as a keyword argument (`name=...`)."""
    return name.isidentifier() and not keyword.iskeyword(name)


def call_template(name: str, required: list[str]) -> str:
    """`name(a=..., b=...)`: the call with each required argument shown as `...` (Python's Ellipsis, so the
    template parses as a call); names that cannot be keywords (`X-Request-ID`, `from`) go in one
    `**{'X-Request-ID': ...}`, which `gorilla.calls` reads as keyword arguments too."""
    args = [f"{a}=..." for a in required if is_keyword_name(a)]
    odd = [f"{a!r}: ..." for a in required if not is_keyword_name(a)]
    if odd:
        args.append("**{" + ", ".join(odd) + "}")
    return f"{python_name(name)}({', '.join(args)})"


def front_matter(text: str, path: Path) -> tuple[dict[str, Any], int]:
    """YAML between leading `---` lines, and the line the body starts on; ({}, 1) when absent."""
    if not text.startswith("---"):
        return {}, 1
    end = re.search(r"^---\s*$", text[3:], re.M)
    if end is None:
        raise SourceError(path, 1, 1, "front matter opened with '---' is never closed")
    import yaml

    block = text[3: 3 + end.start()]
    try:
        data = yaml.safe_load(block) or {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        # the YAML text starts right after the opening `---`, so its line 0 is the file's line 1
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise SourceError(path, line, col, f"front matter: {getattr(e, 'problem', None) or e}") from None
    if not isinstance(data, dict):
        raise SourceError(path, 2, 1, f"front matter: expected a mapping, got {type(data).__name__}")
    return data, text[: 3 + end.end()].count("\n") + 1


@dataclass(frozen=True)
class CodeBlock:
    lang: str
    code: str
    line: int  # 1-based line of the first code line in the file


_FENCE = re.compile(r"^(\s*)```([\w+-]*)[^\n]*\n(.*?)^\s*```", re.S | re.M)


def code_blocks(text: str) -> list[CodeBlock]:
    return [CodeBlock(m.group(2).lower(), m.group(3), text[: m.start(3)].count("\n") + 1) for m in _FENCE.finditer(text)]


def tables(text: str) -> list[list[list[str]]]:
    """Markdown tables as rows of stripped cells (header first, separator row dropped)."""
    out: list[list[list[str]]] = []
    rows: list[list[str]] = []
    for line in [*text.splitlines(), ""]:
        s = line.strip()
        if s.startswith("|"):
            cells = [c.strip() for c in s.strip("|").split("|")]
            if not all(re.fullmatch(r":?-+:?", c) or not c for c in cells):
                rows.append(cells)
        elif rows:
            out.append(rows)
            rows = []
    return out


def plain(cell: str) -> str:
    """A markdown cell without emphasis, code ticks or links."""
    cell = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", cell)
    return re.sub(r"[*`]", "", cell).strip()


def section(text: str, title: str) -> str:
    """The paragraphs under the first heading whose text contains `title` (case-insensitive)."""
    m = re.search(rf"^#+\s*[^\n]*{re.escape(title)}[^\n]*\n(.*?)(?=^#|\Z)", text, re.S | re.M | re.I)
    return m.group(1).strip() if m else ""


def first_paragraph(text: str, limit: int = 600) -> str:
    """The first prose paragraph (no code, tables, lists or images), whitespace folded."""
    for para in re.split(r"\n\s*\n", re.sub(r"```.*?```", "", text, flags=re.S)):
        p = para.strip()
        if p and not p.startswith(("|", "<", "!", "#", "-", "*", "[")):
            p = " ".join(p.split())
            return p if len(p) <= limit else p[: limit].rsplit(" ", 1)[0] + "..."
    return ""
