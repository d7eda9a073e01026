"""What every doc parser shares: located errors, found records, markdown front matter, code blocks, tables."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gorilla.errors import GorillaError


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
    """A parser's result for one file: its records (empty for pages that hold no API)."""

    path: str
    found: list[Found] = field(default_factory=list)


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raw = path.read_bytes()
        line = raw[: e.start].count(b"\n") + 1
        col = e.start - (raw.rfind(b"\n", 0, e.start) + 1) + 1
        raise SourceError(path, line, col, f"invalid UTF-8 byte 0x{raw[e.start]:02x}") from None


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
