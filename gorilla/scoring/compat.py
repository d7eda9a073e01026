"""The reference scorer's matching rules, reproduced exactly (quirks included), but fast.

What the reference does per response and per database entry, we do once: each entry's API
name and identifying values are extracted when the matcher is built, and a response's
candidate call is walked once into a map {first-child text -> first subtree text}. Identical
candidates (responses repeat a lot) are matched once. See ../shared/reference/scoring.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tree_sitter import Node

from gorilla.data.records import ApiEntry
from gorilla.errors import GorillaError
from gorilla.scoring.grammar import parser

_PUNCT = ("(", ")", ",")


def compat_candidate(text: str, hub: str) -> str | None:
    """The candidate call cut out of a response text, or None when torchhub has no `api_call`."""
    parts = text.split("api_call")
    if len(parts) == 1:
        return None if hub == "torchhub" else parts[0]
    piece = parts[1].split("api_provider")[0]
    start = piece.index(":") if ":" in piece else 0
    end = piece.rindex(")") if ")" in piece else -2
    return piece[start + 2: end + 1]


def _text(node: Node, src: bytes) -> bytes:
    return src[node.start_byte: node.end_byte]


def _identifying_values(hub: str, args: Sequence[Node], src: bytes) -> list[bytes]:
    """Per-hub rules for which argument texts identify an entry (scoring.md, step 2)."""
    out = []
    for child in args:
        t = _text(child, src).decode()
        if hub == "torchhub":
            if "repo_or_dir" in t or "model" in t:
                out.append(_text(child.children[2], src))
        elif (hub == "huggingface" and "=" in t) or (hub == "tensorflowhub" and ("model=" in t or "model =" in t)):
            out.append(_text(child.children[2], src))
        elif t not in _PUNCT:
            out.append(_text(child, src))
    return out


@dataclass(frozen=True)
class _Entry:
    index: int
    name: str
    values: tuple[str, ...]


class CompatMatcher:
    """First-match search over one hub's API database, as the reference scorer does it."""

    def __init__(self, hub: str, entries: Sequence[ApiEntry]):
        self.hub = hub
        self._parser = parser("compat")
        usable = []
        for i, entry in enumerate(entries):
            src = entry.api_call.encode()
            root = self._parser.parse(src).root_node
            if root.child_count == 0 or root.children[0].child_count == 0:
                raise GorillaError(f"API database entry {i + 1}: api_call {entry.api_call!r} does not parse "
                                   "(the reference scorer crashes on it)")
            call = root.children[0].children[0]
            if call.child_count == 0:
                continue
            try:
                args = call.children[1].children
                values = _identifying_values(hub, args, src)
            except IndexError:
                raise GorillaError(f"API database entry {i + 1}: api_call {entry.api_call!r} has an argument shape "
                                   "the reference scorer crashes on") from None
            if values:
                usable.append(_Entry(i, _text(call.children[0], src).decode(),
                                     tuple(v.decode().lstrip("'").rstrip("'") for v in values)))
        self._entries = usable
        self._names = {e.name for e in usable}
        self._cache: dict[str, int] = {}

    def match(self, candidate: str) -> int:
        """Index of the first matching entry, or -1 (a hallucination)."""
        hit = self._cache.get(candidate)
        if hit is None:
            hit = self._cache[candidate] = self._match(candidate)
        return hit

    def _match(self, candidate: str) -> int:
        src = candidate.encode()
        root = self._parser.parse(src).root_node
        first, last = self._subtree_texts(root, src, [n for n in self._names if n in candidate])
        for e in self._entries:
            text = first.get(e.name, last)
            if all(v in text for v in e.values):
                return e.index
        return -1

    @staticmethod
    def _subtree_texts(root: Node, src: bytes, names: list[str]) -> tuple[dict[str, str], str]:
        """{first-child text: text of the first subtree with it} for `names`, and the last subtree's text.

        The reference lists subtrees by popping a stack and pushing each node's children that have
        children, in order; the last listed node is therefore reached by always descending into
        the first child that has children. The full walk is only needed when some API name occurs.
        """
        last = root
        while kids := [c for c in last.children if c.child_count]:
            last = kids[0]
        first: dict[str, str] = {}
        if names:
            wanted = {n.encode(): n for n in names}
            stack = [root]
            while stack and len(first) < len(wanted):
                node = stack.pop()
                children = node.children
                if children:
                    head = wanted.get(_text(children[0], src))
                    if head is not None and head not in first:
                        first[head] = _text(node, src).decode()
                stack.extend(c for c in children if c.child_count)
        return first, _text(last, src).decode()
