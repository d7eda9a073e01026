"""The reference scorer's matching rules, reproduced exactly (quirks included), but fast.

What the reference does per response and per database entry, we do once: each entry's API
name and identifying values are extracted when the matcher is built, and a response's
candidate call is walked once into a map {first-child text -> first subtree text}. Identical
candidates (responses repeat a lot) are matched once. See ../shared/reference/scoring.md.
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tree_sitter import Node

from gorilla.data.jsonl import atomic_write
from gorilla.data.records import ApiEntry
from gorilla.errors import GorillaError
from gorilla.scoring.grammar import compat_identity, compat_parser

log = logging.getLogger("gorilla.scoring")

_PUNCT = ("(", ")", ",")
_GRAM = 4


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
    """First-match search over one hub's API database, as the reference scorer does it.

    With `cache_dir`, results persist across runs in a file keyed by everything they depend
    on (grammar build, hub, the database's calls, this module's rules version), so re-scoring
    responses seen before skips their parse.
    """

    def __init__(self, hub: str, entries: Sequence[ApiEntry], cache_dir: Path | None = None):
        self.hub = hub
        self._parser = compat_parser()
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
        self._index = _GramIndex(usable)
        self._cache: dict[str, int] = {}
        self._file: Path | None = None
        self._stored = 0
        if cache_dir is not None:
            key = hashlib.sha1("\n".join([_RULES_VERSION, compat_identity(), hub, *(e.api_call for e in entries)]).encode())
            self._file = cache_dir / f"compat-{hub}-{key.hexdigest()[:16]}.json"
            try:
                self._cache = json.loads(self._file.read_text())
                self._stored = len(self._cache)
            except (OSError, ValueError):
                self._cache = {}

    def match(self, candidate: str) -> int:
        """Index of the first matching entry, or -1 (a hallucination)."""
        key = _digest(candidate)
        hit = self._cache.get(key)
        if hit is None:
            hit = self._cache[key] = self._match(candidate)
        return hit

    def save(self) -> None:
        """Persist new results (atomically); a no-op without a cache directory or anything new. An unwritable
        cache (read-only, full, a file in the way) only costs the next run its speed-up: scores stand, so it
        is one warning and this matcher stops trying."""
        if self._file is None or len(self._cache) == self._stored:
            return
        try:
            with atomic_write(self._file) as f:
                json.dump(self._cache, f, separators=(",", ":"))
        except OSError as e:
            log.warning("gorilla: warning: verdict cache not saved (%s: %s); scores are unaffected, "
                        "--no-cache skips it", self._file.parent, e.strerror or e)
            self._file = None
            return
        self._stored = len(self._cache)

    def prefetch(self, candidates: Iterable[str], workers: int = 1) -> None:
        """Match many candidates at once, in `workers` forked processes when there are enough.

        Parsing long free-text candidates dominates the cost and holds the GIL, so threads
        would not help; a fork shares the built matcher with the workers for free.
        """
        todo = sorted({c for c in candidates if _digest(c) not in self._cache}, key=len, reverse=True)
        if workers > 1 and len(todo) >= _PARALLEL_MIN and "fork" in multiprocessing.get_all_start_methods():
            global _WORKER
            _WORKER = self
            chunks = [todo[i:: workers * 4] for i in range(workers * 4)]  # dealt by length: balanced
            try:
                with multiprocessing.get_context("fork").Pool(workers) as pool:
                    for chunk, hits in zip(chunks, pool.map(_match_chunk, chunks), strict=True):
                        self._cache.update(zip(map(_digest, chunk), hits, strict=True))
            finally:
                _WORKER = None
        for c in todo:
            self.match(c)

    def _match(self, candidate: str) -> int:
        # Every subtree's text is a substring of the candidate: entries whose values do not all
        # occur in the candidate can never match, and most responses are decided without a parse.
        possible = self._index.possible(candidate)
        if not possible:
            return -1
        src = candidate.encode()
        root = self._parser.parse(src).root_node
        first, last = self._subtree_texts(root, src, [n for n in {e.name for e in possible} if n in candidate])
        for e in possible:
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


_RULES_VERSION = "compat-1"  # bump when matching rules change: invalidates every persisted result
_PARALLEL_MIN = 300  # below this, starting workers costs more than it saves
_WORKER: CompatMatcher | None = None


def _match_chunk(chunk: list[str]) -> list[int]:
    assert _WORKER is not None
    return [_WORKER._match(c) for c in chunk]


class _GramIndex:
    """Finds the entries whose values all occur in a text, without scanning every entry.

    Each entry is filed under one 4-gram taken from inside an alphanumeric run of its values,
    the rarest across the database. Wherever a value occurs in a text, each of its runs lies
    inside one run of the text, so the text can only contain the value if the gram is among the
    grams of the text's (deduplicated) runs: far fewer than the grams of the whole text.
    Entries without a run of 4 characters are always checked.
    """

    def __init__(self, entries: Sequence[_Entry]):
        counts = Counter(g for e in entries for v in set(e.values) for g in _run_grams(v))
        self._by_gram: dict[str, list[_Entry]] = defaultdict(list)
        self._always: list[_Entry] = []
        for e in entries:
            grams = [g for v in e.values for g in _run_grams(v)]
            if grams:
                self._by_gram[min(grams, key=counts.__getitem__)].append(e)
            else:
                self._always.append(e)

    def possible(self, text: str) -> list[_Entry]:
        """Entries whose values all occur in `text`, in database order."""
        found = list(self._always)
        for g in _run_grams(text) & self._by_gram.keys():
            found += self._by_gram[g]
        return sorted((e for e in found if all(v in text for v in e.values)), key=lambda e: e.index)


_RUN = re.compile(rf"[A-Za-z0-9]{{{_GRAM},}}")


def _digest(candidate: str) -> str:
    return hashlib.sha1(candidate.encode()).hexdigest()[:24]


def _run_grams(text: str) -> set[str]:
    return {run[i: i + _GRAM] for run in set(_RUN.findall(text)) for i in range(len(run) - _GRAM + 1)}
