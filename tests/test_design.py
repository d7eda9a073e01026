"""DESIGN.md's table of rooms is the rule: every `gorilla.*` import inside the package must be one it allows."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def allowed() -> dict[str, set[str]]:
    """room -> the rooms its row lets it import (the names before any parenthesis or `;`)."""
    rules = {}
    for line in (REPO / "DESIGN.md").read_text(encoding="utf-8").splitlines():
        if m := re.match(r"\| `gorilla\.(\w+)` \|.*\| ([^|]+) \|$", line):
            text = re.sub(r"\([^)]*\)", "", m.group(2).split(";")[0])
            rules[m.group(1)] = {w.strip() for w in text.split(",")} - {"nothing", ""}
    rules["cli"] = set(rules) - {"cli"}  # "everything above"
    return rules


def imports(room: Path) -> set[str]:
    found = set()
    for path in ([room] if room.is_file() else room.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("gorilla."):
                found.add(node.module.split(".")[1])
            elif isinstance(node, ast.ImportFrom) and node.module == "gorilla":
                found |= {a.name for a in node.names}
    return found


def test_every_import_is_one_design_md_allows():
    rules = allowed()
    rooms = [p for p in (REPO / "gorilla").iterdir() if (p.suffix == ".py" or p.is_dir()) and
             p.stem not in ("__init__", "__main__", "__pycache__", "resources")]
    assert {p.stem for p in rooms} == set(rules), "DESIGN.md must have one row per room"
    for room in rooms:
        extra = imports(room) - rules[room.stem] - {room.stem}
        assert not extra, f"gorilla.{room.stem} imports {sorted(extra)}, which DESIGN.md does not allow"
