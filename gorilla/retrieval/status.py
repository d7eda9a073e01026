"""What a hub's default retriever ("best": fusion, dense or hybrid, best_for) needs built, and whether each piece is
fresh, stale or missing.

Read from the manifests, the database (to see which retriever "best" is) and the source files' hashes alone: no
torch, no faiss, nothing built or trained,
so `gorilla doctor` can say in a moment what a first query would have to prepare. The expectations are
the builders' own (index.expectation, examples.example_sources, taskhead.head_expectation), so this
report cannot drift from the check a query makes before it uses an index.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gorilla.data import Hub
from gorilla.retrieval import BEST, RetrieverSettings, best_for, head_sources, hub_settings, vote_views
from gorilla.retrieval.base import Corpus, file_sha256
from gorilla.retrieval.embedder import embedder_identity
from gorilla.retrieval.examples import example_sources, example_variant
from gorilla.retrieval.index import expectation, index_dir, read_manifest, stale_reason
from gorilla.retrieval.lexhead import lexical_dir, lexical_expectation
from gorilla.retrieval.taskhead import head_dir, head_expectation
from gorilla.retrieval.tasks import glossary_path


@dataclass(frozen=True)
class Piece:
    """One index or head of a hub: what it holds, where, and why it is not fresh (None: fresh)."""

    name: str
    folder: Path
    built: bool  # a manifest is there (stale rather than missing when not fresh)
    reason: str | None

    @property
    def state(self) -> str:
        """fresh, stale (built from other sources or another embedder) or missing."""
        return "fresh" if self.reason is None else "stale" if self.built else "missing"


def check(name: str, folder: Path, expected: dict[str, Any]) -> Piece:
    """Compare `folder`'s manifest with `expected` (a count, known only once built, is not compared)."""
    found = read_manifest(folder)
    return Piece(name, folder, found is not None, stale_reason(found, expected))


def hub_pieces(hub: Hub, embedder: str | None = None, cache: Path | None = None) -> list[Piece]:
    """Every piece `get_retriever("best", hub)` would load or build, in build order; [] without a database."""
    if not hub.api_db.is_file():
        return []
    corpus = Corpus.load(hub.name, hub.api_db)
    settings = hub_settings(hub, RetrieverSettings(embedder=embedder, cache=cache))
    identity, fields = embedder_identity(embedder), settings.dense_fields
    db_sources = {corpus.path.name: corpus.sha256}
    fusion = best_for(corpus, settings) == BEST
    wanted = [(f"docs ({v} text)", "dense", v, db_sources) for v in (fields, *(vote_views(fields) if fusion else ()))]
    examples = example_sources(settings.train_files, corpus.path) if fusion and settings.train_files else None
    if examples:
        wanted.append(("solved requests", "examples", example_variant(examples), examples))
    if fusion and (glossary := glossary_path(settings.tasks)):
        wanted.append(("task glossary", "tasks", "tasks", {glossary.name: file_sha256(glossary)}))
    pieces = [check(name, index_dir(cache, hub.name, kind, identity[0], variant),
                    expectation(kind, hub.name, identity, variant, sources)) for name, kind, variant, sources in wanted]
    if not fusion:
        return pieces
    sources = head_sources(examples, db_sources, fields)
    return [*pieces, check("task head", head_dir(cache, hub.name, identity[0]), head_expectation(hub.name, identity, sources)),
            check("lexical head", lexical_dir(cache, hub.name), lexical_expectation(hub.name, sources))]


def hub_state(pieces: list[Piece]) -> str:
    """One word for a hub: fresh (all fresh), missing (none built) or stale (anything else: a query rebuilds)."""
    states = {p.state for p in pieces}
    if states == {"fresh"}:
        return "fresh"
    return "missing" if states == {"missing"} else "stale"
