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

from collections.abc import Sequence
from pathlib import Path

from gorilla.data import ApiBenchPaths, normalize_hub
from gorilla.data.paths import RESOURCES
from gorilla.errors import GorillaError
from gorilla.retrieval.base import Corpus, Hit, Retriever, normalize_call

RETRIEVERS = ("bm25", "dense", "hybrid", "examples", "fusion", "oracle")

# The default: the best measured design on the dev halves of all three hubs (eval/results/retrieval.md).
BEST = "fusion"

__all__ = ["Hit", "Retriever", "Corpus", "RETRIEVERS", "get_retriever", "default_train_files", "normalize_call"]


def default_train_files(paths: ApiBenchPaths, hub: str) -> list[Path]:
    """The hub's upstream train split if it has one (only torchhub does) and the instructions we ship for it
    (gorilla/resources/instructions/<hub>.jsonl: Hugging Face and TF Hub; their card says how they were made)."""
    return [p for p in [paths.train(hub), RESOURCES / "instructions" / f"{hub}.jsonl"] if p.exists()]


def get_retriever(name: str | None, hub: str, *, data_dir: str | Path | None = None, embedder: str | None = None,
                  train_files: Sequence[Path] = (), cache: Path | None = None, doc_fields: str | None = None,
                  on_stale: str = "rebuild", corpus: Corpus | None = None,
                  tasks: str | Path | None = None, head: bool = True) -> Retriever:
    """Build (or load from `cache`, default `<cache_dir>/indexes`) the named retriever for `hub`.

    name: one of RETRIEVERS, or "best"/None for the measured default. embedder: sentence-transformers
    id or local path (default: embedder.resolve_embedder). doc_fields: the entry text the dense part
    embeds (docs.DOC_PRESETS; for "bm25" alone, the text it indexes). train_files: extra solved examples for
    the example memory, added to the hub's upstream train split. on_stale: "rebuild" or "error".
    corpus: an already-loaded database (tests use a fixture DB); default: the hub's API database.
    tasks: a task glossary for fusion's domain vote (tasks.py); default the hub's own, if it has one; "none": off.
    head: mix the task head (taskhead.py) into fusion's domain vote.
    The oracle needs the gold entry: `r.search(query, k, gold=entry)`.
    """
    from gorilla.retrieval.bm25 import DEFAULT_BM25_FIELDS, BM25Retriever
    from gorilla.retrieval.dense import DenseRetriever
    from gorilla.retrieval.docs import DEFAULT_DOC_FIELDS
    from gorilla.retrieval.domains import VOTE_VIEWS, DomainFirstRetriever, DomainVoteRetriever
    from gorilla.retrieval.embedder import embedder_identity
    from gorilla.retrieval.examples import ExampleRetriever
    from gorilla.retrieval.hybrid import HybridRetriever
    from gorilla.retrieval.oracle import OracleRetriever
    from gorilla.retrieval.taskhead import load_or_train
    from gorilla.retrieval.tasks import TaskView, glossary_path

    hub = normalize_hub(hub)
    if on_stale not in ("rebuild", "error"):
        raise GorillaError(f"on_stale must be 'rebuild' or 'error', got {on_stale!r}")
    examples = [Path(f) for f in train_files]
    if corpus is None:  # a given corpus (tests' fixture DB) comes with its own examples only
        paths = ApiBenchPaths.resolve(data_dir)
        corpus = Corpus.load(hub, paths.api_db(hub))
        examples = default_train_files(paths, hub) + examples
    name = (name or "best").lower()
    if name == "best":
        name = BEST
    fields = doc_fields or DEFAULT_DOC_FIELDS

    def dense() -> DenseRetriever:
        return DenseRetriever(corpus, embedder, fields, cache, on_stale)

    def memory() -> ExampleRetriever:
        return ExampleRetriever(corpus, examples, embedder, cache, on_stale)

    if name == "bm25":
        return BM25Retriever(corpus, doc_fields or DEFAULT_BM25_FIELDS)
    if name == "dense":
        return dense()
    if name == "examples":
        return memory()
    if name == "hybrid":
        return HybridRetriever(corpus, [(BM25Retriever(corpus), 1.0), (dense(), 1.0)])
    if name == "fusion":  # the example memory joins where the hub has solved examples
        d, m = dense(), (memory() if examples else None)
        views: list[Retriever] = [DenseRetriever(corpus, embedder, f, cache, on_stale) for f in VOTE_VIEWS if f != fields]
        if glossary := glossary_path(corpus.hub, tasks):
            views.append(TaskView(corpus, glossary, embedder, cache, on_stale))
        vote = DomainVoteRetriever(corpus, d, m, views=views)
        if head:
            sources = (m.sources if m else {corpus.path.name: corpus.sha256}) | {"views": ",".join((fields, *VOTE_VIEWS))}
            vote.head = load_or_train(corpus.hub, embedder_identity(embedder), sources, vote.labelled_vectors,
                                      vote.n_domains, cache)
        parts = [(BM25Retriever(corpus), 1.0), (d, 1.0), (vote, 1.0)] + ([(m, 1.0)] if m else [])
        return DomainFirstRetriever(corpus, vote, HybridRetriever(corpus, parts, name="rrf"))
    if name == "oracle":
        return OracleRetriever(corpus)
    raise GorillaError(f"unknown retriever {name!r}: expected one of {', '.join(RETRIEVERS)} or best")
