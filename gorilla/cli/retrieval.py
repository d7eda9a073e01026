"""`gorilla retrieve`, `gorilla index build|finetune`, `gorilla eval retrieval`: thin wrappers over gorilla.retrieval."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from gorilla.cli.app import (
    ApiDbOpt,
    DataDirOpt,
    HubOrAllOpt,
    MaybeHubOpt,
    app,
    eval_app,
    index_app,
    one_hub,
    option,
    option_set,
)

if TYPE_CHECKING:
    from gorilla.data import Hub
    from gorilla.retrieval import Hit, Retriever

RetrieverOpt = Annotated[str, typer.Option("--retriever", "-r", help="bm25, dense, hybrid, examples, fusion, "
                                           "oracle (eval only), or best (the measured default per hub).")]
EmbedderOpt = Annotated[str | None, typer.Option("--embedder", help="sentence-transformers id (offline cache) or local "
                                                 "folder; default: the packaged all-MiniLM-L6-v2.", show_default=False)]
TrainFilesOpt = Annotated[list[Path] | None, typer.Option("--train-file", help="Extra solved examples (JSON lines, "
                                                          "plain or .gz: upstream train pairs or instruction/api_call "
                                                          "lines) for the example memory; repeatable.", show_default=False)]
DocFieldsOpt = Annotated[str | None, typer.Option("--doc-fields", help="Entry text to index: name, description, short, "
                                                  "rich, full, all (default: full for the dense part; all for bm25).",
                                                  show_default=False)]
TasksOpt = Annotated[str | None, typer.Option("--tasks", help="Task glossary (JSON: domain -> one sentence) for the "
                                              "fusion vote; default: gorilla/resources/tasks/<hub>.json where it exists; "
                                              "none: off.", show_default=False)]
CacheOpt = Annotated[Path | None, typer.Option("--cache", help="Index folder (default: <cache>/indexes).",
                                               show_default=False)]
StaleOpt = Annotated[str, typer.Option("--stale", help="When an index is stale: rebuild or error.")]
FormatOpt = Annotated[str, typer.Option("--format", help="table or json (eval also: markdown).")]


@dataclass(frozen=True)
class IndexOptions:
    """What the retrievers index and where (embedder, extra examples, doc text, glossary, cache folder): shared by
    retrieve, index build and eval retrieval, so the three build the same indexes from the same flags."""

    embedder: str | None
    train_file: list[Path] | None
    doc_fields: str | None
    tasks: str | None
    cache: Path | None

    def retriever(self, name: str, hub: str | Hub, data_dir: Path | None, **extra: Any) -> Retriever:
        """`get_retriever` with these options (`extra`: e.g. on_stale)."""
        from gorilla.retrieval import get_retriever

        return get_retriever(name, hub, data_dir=data_dir, embedder=self.embedder, train_files=self.train_file or (),
                             cache=self.cache, doc_fields=self.doc_fields, tasks=self.tasks, **extra)


index_options = option_set("index", [
    option("embedder", EmbedderOpt, None), option("train_file", TrainFilesOpt, None),
    option("doc_fields", DocFieldsOpt, None), option("tasks", TasksOpt, None), option("cache", CacheOpt, None),
], IndexOptions)


def _hubs(hub: str, data_dir: Path | None) -> list[Hub]:
    """The hubs `--hub` names (all: the APIBench hubs and every registered one); an unknown name is one line."""
    from gorilla.data import all_hubs, get_hub

    return all_hubs(data_dir) if hub.strip().lower() == "all" else [get_hub(hub, data_dir)]


def _check_format(fmt: str, allowed: tuple[str, ...]) -> None:
    """Refuse a bad --format before any index is built (which can take minutes)."""
    from gorilla.errors import GorillaError

    if fmt not in allowed:
        raise GorillaError(f"--format {fmt!r}: expected one of {', '.join(allowed)}")


@app.command("retrieve")
@index_options
def retrieve(
    query: Annotated[str, typer.Argument(help="What you want to do, in words.")],
    hub: MaybeHubOpt = None,
    *,
    k: Annotated[int, typer.Option("-k", help="How many distinct API calls to show.")] = 5,
    retriever: RetrieverOpt = "best",
    index: IndexOptions,
    stale: StaleOpt = "rebuild",
    fmt: FormatOpt = "table",
    data_dir: DataDirOpt = None,
    api_db: ApiDbOpt = None,
) -> None:
    """Rank API entries for a request and show them with scores.

    Example: gorilla retrieve "transcribe my podcast" --hub huggingface -k 3
    """
    from gorilla.errors import GorillaError

    _check_format(fmt, ("table", "json"))
    if retriever == "oracle":
        raise GorillaError("the oracle retriever needs a gold entry; use it through `gorilla eval retrieval`")
    target = one_hub(hub, api_db, data_dir)
    r = index.retriever(retriever, target, data_dir, on_stale=stale)
    hub = target.name
    hits = r.search(query, k)
    if fmt == "json":
        print(json.dumps([{"rank": i + 1, "index": h.index, "score": round(h.score, 6), "domain": h.entry.domain,
                           "api_name": h.entry.api_name, "api_call": h.entry.api_call}
                          for i, h in enumerate(hits)], ensure_ascii=False, indent=2))
        return
    _hits_table(f"{r.name} on {hub}: {query[:60]}", hits)


def _hits_table(title: str, hits: list[Hit]) -> None:
    """Ranked hits as a rich table; the call column folds rather than cuts, since the call is the answer."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    table.add_column("#", justify="right")
    table.add_column("score", justify="right")
    table.add_column("domain")
    table.add_column("api_call", overflow="fold", ratio=3)  # never cut the call: it is the answer
    for i, h in enumerate(hits, 1):
        table.add_row(str(i), f"{h.score:.4f}", h.entry.domain, h.entry.api_call)
    Console().print(table)


@index_app.command("build")
@index_options
def build(
    hub: HubOrAllOpt,
    *,
    retriever: RetrieverOpt = "best",
    index: IndexOptions,
    data_dir: DataDirOpt = None,
) -> None:
    """Embed the API database (and train examples) into cached FAISS indexes; stale ones are rebuilt.

    Example: gorilla index build --hub all
    """
    import time

    from gorilla.retrieval.index import default_index_root

    for h in _hubs(hub, data_dir):
        t0 = time.perf_counter()
        r = index.retriever(retriever, h, data_dir)
        print(f"{h.name}: {r.name} ready in {time.perf_counter() - t0:.1f}s under {index.cache or default_index_root()}")


@eval_app.command("retrieval")
@index_options
def eval_retrieval(
    hub: HubOrAllOpt,
    *,
    retriever: Annotated[list[str] | None, typer.Option("--retriever", "-r", help="Retriever name(s), repeatable, "
                                                        "or all (default: best).", show_default=False)] = None,
    split: Annotated[str, typer.Option("--split", help="all, dev (even positions) or test (odd).")] = "all",
    index: IndexOptions,
    fmt: FormatOpt = "table",
    upstream: Annotated[bool, typer.Option("--upstream", help="Also report the documents upstream inlined "
                                           "in questions_<hub>_{bm25,gpt_index}.jsonl (domain@1).")] = False,
    data_dir: DataDirOpt = None,
) -> None:
    """Recall@1/5/10, MRR, domain@1 and latency of retrievers on the eval split's instructions.

    Example: gorilla eval retrieval --hub torchhub --format json
    """
    from gorilla.retrieval import RETRIEVERS
    from gorilla.retrieval.benchmark import markdown_table

    _check_format(fmt, ("table", "json", "markdown"))
    names = list(RETRIEVERS) if retriever == ["all"] else (retriever or ["best"])
    rows = _eval_rows(_hubs(hub, data_dir), names, split, index, upstream, data_dir)
    if fmt == "json":
        print(json.dumps(rows[0] if len(rows) == 1 else rows, indent=2))
    elif fmt == "markdown":
        print(markdown_table(rows))
    else:
        from rich.console import Console

        Console().print(markdown_table(rows), markup=False, highlight=False)


def _eval_rows(hubs: list[Hub], names: list[str], split: str, index: IndexOptions, upstream: bool,
               data_dir: Path | None) -> list[dict[str, Any]]:
    """One benchmark row per (hub, retriever); with several retrievers, one that cannot be built on a hub (e.g.
    examples where there are no train files) is skipped with a note rather than ending the whole run. Hubs without
    an eval split are skipped with a note under --hub all."""
    import sys

    from gorilla.data import ApiBenchPaths
    from gorilla.errors import GorillaError
    from gorilla.retrieval.benchmark import eval_queries, evaluate, upstream_domain_at1

    rows = []
    for h in hubs:
        if h.eval is None and len(hubs) > 1:
            print(f"skip {h.name}: no eval split", file=sys.stderr)
            continue
        if upstream and h.predefined:  # upstream's question files exist for APIBench's hubs only
            rows += [upstream_domain_at1(ApiBenchPaths.resolve(data_dir), h.name, kind) for kind in ("bm25", "gpt_index")]
        pairs = eval_queries(h, split)
        for name in names:
            try:
                r = index.retriever(name, h, data_dir)
            except GorillaError as e:
                if len(names) == 1:
                    raise
                print(f"skip {name} on {h.name}: {e}", file=sys.stderr)
                continue
            rows.append(evaluate(r, pairs, h.name) | {"split": split})
    return rows


@index_app.command("finetune")
def finetune_cmd(
    hub: Annotated[str, typer.Option("--hub", help="A hub (gorilla hub list), or all (pooled).")] = "all",
    out: Annotated[Path | None, typer.Option("--out", help="Folder for the fine-tuned model (default: "
                                             "<cache>/embedders/minilm-apibench; use it with --embedder).",
                                             show_default=False)] = None,
    embedder: EmbedderOpt = None,
    train_file: TrainFilesOpt = None,
    epochs: Annotated[int, typer.Option(help="Passes over the train pairs.")] = 1,
    batch_size: Annotated[int, typer.Option(help="In-batch negatives per step.")] = 32,
    lr: Annotated[float, typer.Option(help="AdamW learning rate.")] = 2e-5,
    doc_fields: DocFieldsOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Fine-tune the embedder contrastively on solved requests (instruction -> API doc), hubs pooled.

    Pairs: torchhub_train.json and the instructions shipped for Hugging Face and TF Hub, plus --train-file
    (which needs a single --hub). Same-API pairs in a batch are not negatives. Use the result with
    --embedder (the default stays the packaged MiniLM: a fresh install's figures must not depend on this step).

    Example: gorilla index finetune --hub all
    """
    from gorilla.retrieval.docs import DEFAULT_DOC_FIELDS
    from gorilla.retrieval.embedder import finetuned_path
    from gorilla.retrieval.finetune import FinetuneConfig, finetune

    sources = _finetune_sources(hub, train_file or [], data_dir)
    cfg = FinetuneConfig(epochs=epochs, batch_size=batch_size, lr=lr, doc_fields=doc_fields or DEFAULT_DOC_FIELDS)
    out = out or finetuned_path()
    log = finetune(sources, out, embedder or "all-MiniLM-L6-v2", cfg)
    print(json.dumps(log, indent=2))
    print(f"saved to {out}; measure it: gorilla eval retrieval --hub all --embedder {out}")


def _finetune_sources(hub: str, train_files: list[Path], data_dir: Path | None) -> list[tuple[Any, list[Any]]]:
    """(corpus, solved examples) per hub that has any: its default train files plus `train_files`, which belong
    to one hub's database and so need a single --hub."""
    from gorilla.data import load_examples
    from gorilla.errors import GorillaError
    from gorilla.retrieval import Corpus

    hubs = _hubs(hub, data_dir)
    if train_files and len(hubs) > 1:
        raise GorillaError("--train-file needs one --hub: its calls belong to one database")
    sources = []
    for h in hubs:
        files = h.example_files + list(train_files)
        if files:
            sources.append((Corpus.load(h.name, h.api_db), [ex for f in files for ex in load_examples(f)]))
    if not sources:
        raise GorillaError(f"no train pairs for {hub}: pass --train-file (e.g. self-instruct output)")
    return sources
