"""Retrievers over a hub's API database: bm25, dense (FAISS), hybrid (RRF of the two), examples (solved-example
memory), fusion (the domain vote picks the domain; inside it, RRF of bm25, dense, the vote and, where train
examples exist, the example memory), oracle.

    from gorilla.retrieval import get_retriever
    r = get_retriever("best", "torchhub")
    for hit in r.search("classify sports activities in videos", k=5):
        print(hit.index, hit.score, hit.entry.api_call)

Heavy libraries (torch, sentence-transformers, faiss) load only when a dense retriever is built.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from gorilla.data import Hub, get_hub
from gorilla.errors import GorillaError
from gorilla.retrieval.base import Corpus, Hit, Retriever, normalize_call

if TYPE_CHECKING:
    from gorilla.retrieval.dense import DenseRetriever
    from gorilla.retrieval.domains import DomainVoteRetriever
    from gorilla.retrieval.examples import ExampleRetriever

# The default where the domain vote has something to go on (best_for): the best measured design on the dev halves
# of all three hubs (eval/results/retrieval.md); elsewhere dense alone (docs/hubs.md).
BEST = "fusion"
PLAIN = "dense"
# From this many entries on, the default is LARGE_BEST: fusion embeds every entry in four texts and trains a task
# head on them, several times hybrid's one text per entry (measured at 10k operations: eval/results/scale.md), for
# a domain vote that a catalogue of one's own seldom feeds (no solved requests, no task glossary).
LARGE_HUB = 10_000
LARGE_BEST = "hybrid"

__all__ = ["Hit", "Retriever", "Corpus", "RETRIEVERS", "RetrieverSettings", "get_retriever", "best_for",
           "hub_settings", "normalize_call", "LARGE_HUB"]


def get_retriever(name: str | None, hub: str | Hub, *, data_dir: str | Path | None = None,
                  embedder: str | None = None, train_files: Sequence[Path] = (), cache: Path | None = None,
                  doc_fields: str | None = None, on_stale: str = "rebuild", corpus: Corpus | None = None,
                  tasks: str | Path | None = None, head: bool = True) -> Retriever:
    """Build (or load from `cache`, default `<cache_dir>/indexes`) the named retriever for `hub` (a name that
    `gorilla.data.get_hub` resolves, from `data_dir` for the APIBench hubs, or a Hub).

    name: one of RETRIEVERS, or "best"/None for the default (best_for); an unknown name fails before anything loads.
    corpus: an already-loaded database (tests use a fixture DB) whose examples are `train_files` alone and which has
    no glossary unless `tasks` names one; default: the hub's API database, whose example memory also holds the hub's
    solved requests (Hub.example_files) and whose vote hears its glossary.
    The other keywords are RetrieverSettings' fields: embedder, train_files, cache, doc_fields, on_stale, tasks, head.
    The oracle needs the gold entry: `r.search(query, k, gold=entry)`.
    """
    _builder(name)
    settings = RetrieverSettings(train_files=tuple(Path(f) for f in train_files), embedder=embedder, cache=cache,
                                 on_stale=on_stale, doc_fields=doc_fields, tasks=tasks, head=head)
    if corpus is None:
        hub = get_hub(hub, data_dir)
        corpus, settings = Corpus.load(hub.name, hub.api_db), hub_settings(hub, settings)
    return _builder(name, corpus, settings)(corpus, settings)


def hub_settings(hub: Hub, settings: RetrieverSettings) -> RetrieverSettings:
    """`settings` with the hub's own solved requests first in the example memory and its glossary as the default."""
    return replace(settings, train_files=(*hub.example_files, *settings.train_files),
                   tasks=hub.glossary if settings.tasks is None else settings.tasks)


def best_for(corpus: Corpus, s: RetrieverSettings | None = None) -> str:
    """What "best" builds for this corpus (with settings `s`), from its data (never its name): LARGE_BEST from
    LARGE_HUB entries on; below, fusion where the domain vote has something to choose and something to go on,
    else dense.

    Something to choose: two domains or more. Something to go on: domains that group the calls (at most half as
    many domains as distinct calls: the vote then hears several docs per domain), or solved requests or a task
    glossary of the hub's own. The APIBench hubs have both (7 domains for 94 calls, 14 / 77, 40 / 895). A hub of
    one's own may have one domain, or one per API (an OpenAPI tag per operation), and no requests yet: its vote
    would be a nearest-neighbour search over four doc texts, with a head of one class per API, so it gets dense.
    Measured on the API Zoo hub (4,101 APIs, 136 domains, no requests; 60 hand-written requests,
    eval/ownapi/, docs/hubs.md): fusion found the API first for 36, dense 32, hybrid 32 (fusion vs dense: 6
    won, 2 lost), for three times the build (dense 237 s; fusion's three more indexes and head 514 s more, on two
    busy cores)."""
    from gorilla.retrieval.tasks import glossary_path

    if len(corpus.entries) >= LARGE_HUB:
        return LARGE_BEST
    s = s or RetrieverSettings()
    domains = len({e.domain for e in corpus.entries})
    learns = bool(s.train_files) or glossary_path(s.tasks) is not None
    grouped = 2 * domains <= len(corpus.call_to_group)
    return BEST if domains >= 2 and (grouped or learns) else PLAIN


@dataclass(frozen=True)
class RetrieverSettings:
    """How a hub's retrievers are built. One value is shared by every part of a composite retriever, so
    fusion's dense index, its vote views and its example memory agree on embedder, cache and staleness.

    embedder: sentence-transformers id or local path (default: embedder.resolve_embedder).
    train_files: solved examples for the example memory. cache: where indexes live.
    on_stale: "rebuild" or "error" when an index no longer matches its sources.
    doc_fields: the entry text the dense part embeds (docs.DOC_PRESETS); for "bm25" alone, the text it indexes.
    tasks: a task glossary file for fusion's domain vote (tasks.py); None or "none": none (get_retriever puts the
    hub's own here, if it has one).
    head: mix the task head (taskhead.py) and the lexical head (lexhead.py) into fusion's domain vote.
    """

    train_files: tuple[Path, ...] = ()
    embedder: str | None = None
    cache: Path | None = None
    on_stale: str = "rebuild"
    doc_fields: str | None = None
    tasks: str | Path | None = None
    head: bool = True

    def __post_init__(self) -> None:
        """Refuse a bad on_stale here, before any database or index loads."""
        if self.on_stale not in ("rebuild", "error"):
            raise GorillaError(f"on_stale must be 'rebuild' or 'error', got {self.on_stale!r}")

    @property
    def dense_fields(self) -> str:
        """The text the dense index embeds: doc_fields, else the measured default."""
        from gorilla.retrieval.docs import DEFAULT_DOC_FIELDS

        return self.doc_fields or DEFAULT_DOC_FIELDS

    def dense(self, corpus: Corpus, fields: str | None = None) -> DenseRetriever:
        """A dense index over `fields` of each entry (default: dense_fields)."""
        from gorilla.retrieval.dense import DenseRetriever

        return DenseRetriever(corpus, self.embedder, fields or self.dense_fields, self.cache, self.on_stale)

    def memory(self, corpus: Corpus) -> ExampleRetriever:
        """The example memory over train_files (an error when there are none)."""
        from gorilla.retrieval.examples import ExampleRetriever

        return ExampleRetriever(corpus, self.train_files, self.embedder, self.cache, self.on_stale)


Builder = Callable[[Corpus, RetrieverSettings], Retriever]


def _builder(name: str | None, corpus: Corpus | None = None, s: RetrieverSettings | None = None) -> Builder:
    """The builder for `name` ("best" or None: best_for, once the corpus is known), so a typo fails before any
    database or index loads."""
    key = (name or "best").lower()
    if key == "best" and corpus is not None and s is not None:
        key = best_for(corpus, s)
    if key not in BUILDERS and key != "best":
        raise GorillaError(f"unknown retriever {key!r}: expected one of {', '.join(RETRIEVERS)} or best")
    return BUILDERS.get(key, BUILDERS[BEST])


def _bm25(corpus: Corpus, s: RetrieverSettings) -> Retriever:
    """Alone, bm25 indexes doc_fields when given (else its own default text)."""
    from gorilla.retrieval.bm25 import DEFAULT_BM25_FIELDS, BM25Retriever

    return BM25Retriever(corpus, s.doc_fields or DEFAULT_BM25_FIELDS)


def _hybrid(corpus: Corpus, s: RetrieverSettings) -> Retriever:
    """RRF of bm25 (its own default text: doc_fields names the dense part's) and dense."""
    from gorilla.retrieval.bm25 import BM25Retriever
    from gorilla.retrieval.hybrid import HybridRetriever

    return HybridRetriever(corpus, [(BM25Retriever(corpus), 1.0), (s.dense(corpus), 1.0)])


def _oracle(corpus: Corpus, s: RetrieverSettings) -> Retriever:
    """The gold entry first (an upper bound for the benchmark); it needs no settings."""
    from gorilla.retrieval.oracle import OracleRetriever

    return OracleRetriever(corpus)


def _fusion(corpus: Corpus, s: RetrieverSettings) -> Retriever:
    """The domain vote picks the domain; inside it, RRF of bm25, dense, the vote and (where the hub has solved
    examples) the example memory orders the entries."""
    from gorilla.retrieval.bm25 import BM25Retriever
    from gorilla.retrieval.domains import DomainFirstRetriever
    from gorilla.retrieval.hybrid import HybridRetriever

    dense, memory = s.dense(corpus), (s.memory(corpus) if s.train_files else None)
    vote = _domain_vote(corpus, s, dense, memory)
    parts = [(BM25Retriever(corpus), 1.0), (dense, 1.0), (vote, 1.0)] + ([(memory, 1.0)] if memory else [])
    return DomainFirstRetriever(corpus, vote, HybridRetriever(corpus, parts, name="rrf"))


def vote_views(dense_fields: str) -> list[str]:
    """The doc texts the domain vote hears beside the dense part's own (each one more dense index)."""
    from gorilla.retrieval.domains import VOTE_VIEWS

    return [f for f in VOTE_VIEWS if f != dense_fields]


def head_sources(example_sources: dict[str, str] | None, db_sources: dict[str, str], dense_fields: str) -> dict[str, str]:
    """What the task head is trained on: the example memory's files (else the database alone) and the doc views."""
    from gorilla.retrieval.domains import VOTE_VIEWS

    return (example_sources or db_sources) | {"views": ",".join((dense_fields, *VOTE_VIEWS))}


def _domain_vote(corpus: Corpus, s: RetrieverSettings, dense: DenseRetriever,
                 memory: ExampleRetriever | None) -> DomainVoteRetriever:
    """The vote hears `dense`, the other VOTE_VIEWS, the task glossary (if any) and `memory`; with s.head, the
    task head and the lexical head trained on all of them (retrained when any of its sources changes) are mixed in."""
    from gorilla.retrieval.domains import DomainVoteRetriever
    from gorilla.retrieval.embedder import embedder_identity
    from gorilla.retrieval.lexhead import load_or_train_lexical
    from gorilla.retrieval.taskhead import load_or_train
    from gorilla.retrieval.tasks import TaskView, glossary_path

    views: list[Retriever] = [s.dense(corpus, f) for f in vote_views(s.dense_fields)]
    if glossary := glossary_path(s.tasks):
        views.append(TaskView(corpus, glossary, s.embedder, s.cache, s.on_stale))
    vote = DomainVoteRetriever(corpus, dense, memory, views=views)
    if s.head:
        sources = head_sources(memory.sources if memory else None, {corpus.path.name: corpus.sha256}, s.dense_fields)
        vote.head = load_or_train(corpus.hub, embedder_identity(s.embedder), sources, vote.labelled_vectors,
                                  vote.n_domains, s.cache)
        vote.lexical = load_or_train_lexical(corpus.hub, sources, vote.labelled_texts, vote.n_domains, s.cache)
    return vote


# One builder per retriever name. RETRIEVERS lists the names in this order (`gorilla eval retrieval -r all`
# runs them so).
BUILDERS: dict[str, Builder] = {
    "bm25": _bm25,
    "dense": lambda corpus, s: s.dense(corpus),
    "hybrid": _hybrid,
    "examples": lambda corpus, s: s.memory(corpus),
    "fusion": _fusion,
    "oracle": _oracle,
}
RETRIEVERS = tuple(BUILDERS)
