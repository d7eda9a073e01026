"""A user's hub of 100,000 operations: build time, memory, query latency, and the approximate index's recall.

The catalogue is synthetic (eval/scale_ops.py: service x verb x resource x qualifier, seeded). It is built
through the library's own path, `get_retriever("best", hub, corpus=...)` on a fresh cache, with the phases
timed by wrapping (not replacing) the functions that path calls: the embedding (`resumable.embed`), the FAISS
index (`index.build_index`); BM25 and the rest are the remainder. Then, over `queries` requests written from
random operations (worded differently from their records): end-to-end search p50/p95 (query embedding
included), the FAISS search alone, and recall@10 of the index against an exact one over the same vectors
(reconstructed from it). `compare` also measures bf16 against float32 embedding on 2,000 records, and, on the
hub's vectors, exact search at growing sizes and HNSW and IVF at a few settings (where index.APPROX_MIN and
index.HNSW come from).

    GORILLA_THREADS=1 PYTHONPATH=. .venv/bin/python eval/bench_scale.py               # 100,000 operations
    GORILLA_THREADS=1 PYTHONPATH=. .venv/bin/python eval/bench_scale.py --n 10000     # quick check
    GORILLA_THREADS=1 PYTHONPATH=. .venv/bin/python eval/bench_scale.py --n 10000 --retriever fusion --no-compare --queries 100

Results: eval/results/scale.json (one entry per n / retriever / doc text) and eval/results/scale.md. The
embedding is resumable: rerunning after an interruption reuses the chunks under `work`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import resource
import shutil
import statistics
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale_ops import catalogue  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "eval" / "results"
HUB = "scale"


@dataclass
class ScaleConfig:
    n: int = 100_000                  # operations in the catalogue
    seed: int = 0
    queries: int = 300                # timed requests (after 10 warm-up ones)
    retriever: str = "best"           # what a user hub gets by default (retrieval.best_for)
    doc_fields: str | None = None     # the dense text (default: the library's)
    compare: bool = True              # exact at growing sizes, HNSW and IVF settings, on the same vectors
    work: Path = Path("/tmp/scale/work")  # the catalogue and its index cache (a rerun resumes the embedding)
    fresh: bool = True                # delete the index cache first, so the build is measured from nothing
    out: Path | None = RESULTS / "scale.json"


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(q * (len(xs) - 1)))]


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (ru_maxrss: KiB on Linux)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def rss_mb() -> float:
    """Resident memory now (/proc/self/statm), to tell what the built hub keeps from what building it took."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return round(pages * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)


@contextlib.contextmanager
def timed(module: Any, name: str, into: dict[str, float], rows: int) -> Iterator[None]:
    """Wrap `module.name` so each call's seconds add up in into[name] and the length of its argument number
    `rows` (the texts, the vectors) in into[name + "_rows"]; the real function runs."""
    real = getattr(module, name)

    def wrapper(*args: Any, **kw: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return real(*args, **kw)
        finally:
            into[name] = into.get(name, 0.0) + time.perf_counter() - t0
            into[name + "_rows"] = into.get(name + "_rows", 0) + len(args[rows])

    setattr(module, name, wrapper)
    try:
        yield
    finally:
        setattr(module, name, real)


def build(cfg: ScaleConfig) -> tuple[Any, dict[str, Any]]:
    """The catalogue written as an API database, then the hub's retriever built through get_retriever."""
    from gorilla.data import write_jsonl
    from gorilla.retrieval import Corpus, best_for, get_retriever
    from gorilla.retrieval import dense as dense_module

    db = cfg.work / f"ops-{cfg.n}-{cfg.seed}.jsonl"
    write_jsonl(db, [op.record for op in catalogue(cfg.n, cfg.seed)])
    if cfg.fresh:
        shutil.rmtree(cfg.work / "indexes", ignore_errors=True)
    t0 = time.perf_counter()
    corpus = Corpus.load(HUB, db)
    load_s = time.perf_counter() - t0
    phases: dict[str, float] = {}
    t0 = time.perf_counter()
    with timed(dense_module, "embed", phases, 1), timed(dense_module, "build_index", phases, 0):
        r = get_retriever(cfg.retriever, HUB, corpus=corpus, cache=cfg.work / "indexes", doc_fields=cfg.doc_fields)
    total = time.perf_counter() - t0
    t0 = time.perf_counter()
    get_retriever(cfg.retriever, HUB, corpus=corpus, cache=cfg.work / "indexes", doc_fields=cfg.doc_fields,
                  on_stale="error")
    reload_s = time.perf_counter() - t0
    index_files = list((cfg.work / "indexes").rglob("index.faiss"))
    return r, {"retriever": r.name, "best_for": best_for(corpus), "db_mb": round(db.stat().st_size / 2**20, 1),
               "corpus_load_s": round(load_s, 2), "build_s": round(total, 1),
               "embed_s": round(phases.get("embed", 0.0), 1), "index_s": round(phases.get("build_index", 0.0), 2),
               "other_s": round(total - phases.get("embed", 0.0) - phases.get("build_index", 0.0), 1),
               "texts_embedded": phases.get("embed_rows", 0),
               "embed_texts_per_s": round(phases["embed_rows"] / phases["embed"], 1) if phases.get("embed") else None,
               "reload_s": round(reload_s, 2), "index_mb": round(sum(f.stat().st_size for f in index_files) / 2**20, 1),
               "peak_rss_mb_after_build": peak_rss_mb(), "rss_mb_after_build": rss_mb()}


def dense_part(r: Any) -> Any:
    """The retriever's dense index (hybrid: its dense part; fusion: its domain vote's)."""
    if hasattr(r, "index"):
        return r
    parts = getattr(r, "parts", None) or getattr(getattr(r, "ranking", None), "parts", [])
    return next(p for p, _ in parts if hasattr(p, "index"))


def exact_twin(index: Any) -> Any:
    """An exact inner-product index over the vectors `index` holds (HNSWFlat stores them as they are)."""
    from gorilla.retrieval.index import flat_ip, is_exact

    return index if is_exact(index) else flat_ip(index.reconstruct_n(0, index.ntotal))


def recall_at(got: np.ndarray, exact: np.ndarray, k: int = 10) -> float:
    """Mean share of the exact top k that `got`'s top k also holds."""
    return float(np.mean([len(set(a[:k]) & set(b[:k])) / k for a, b in zip(got, exact, strict=True)]))


def search_ms(index: Any, vectors: np.ndarray, k: int) -> list[float]:
    """Milliseconds per single-query search (one query at a time, as a user asks)."""
    out = []
    for v in vectors:
        t0 = time.perf_counter()
        index.search(v[None], k)
        out.append(1000 * (time.perf_counter() - t0))
    return out


def queries(r: Any, cfg: ScaleConfig) -> tuple[dict[str, Any], np.ndarray]:
    """End-to-end latency and hit@10 over requests for random operations; then the index alone vs exact.
    Also returns the query vectors (for `compare`)."""
    from gorilla.calls import normalize_call
    from gorilla.retrieval.dense import CANDIDATES

    ops = catalogue(cfg.n, cfg.seed)
    picked = random.Random(cfg.seed + 1).sample(range(cfg.n), cfg.queries + 10)
    for i in picked[:10]:
        r.search(ops[i].query, k=10)  # warm-up: first-touch pages, caches
    total, hit = [], 0
    for i in picked[10:]:
        t0 = time.perf_counter()
        hits = r.search(ops[i].query, k=10)
        total.append(1000 * (time.perf_counter() - t0))
        hit += normalize_call(ops[i].record["api_call"]) in {normalize_call(h.entry.api_call) for h in hits}
    dense = dense_part(r)
    rows, encode = [], []
    for i in picked[10:]:
        t0 = time.perf_counter()
        rows.append(dense.model.encoder([ops[i].query]).numpy())
        encode.append(1000 * (time.perf_counter() - t0))
    vecs = np.concatenate(rows).astype(np.float32)
    exact = exact_twin(dense.index)
    _, want = exact.search(vecs, 10)
    _, got = dense.index.search(vecs, 10)
    alone = search_ms(dense.index, vecs, CANDIDATES)
    return {"queries": cfg.queries, "p50_ms": round(statistics.median(total), 2), "p95_ms": round(pct(total, 0.95), 2),
            "hit@10": round(hit / cfg.queries, 4), "index_type": type(dense.index).__name__,
            "query_embedding_p50_ms": round(statistics.median(encode), 2),
            "index_search_p50_ms": round(statistics.median(alone), 3), "index_search_p95_ms": round(pct(alone, 0.95), 3),
            "exact_search_p50_ms": round(statistics.median(search_ms(exact, vecs, CANDIDATES)), 3),
            "recall@10_vs_exact": round(recall_at(got, want), 4), "peak_rss_mb_after_queries": peak_rss_mb()}, vecs


def precision(r: Any, cfg: ScaleConfig, qvecs: np.ndarray, sample: int = 2000) -> dict[str, Any]:
    """bf16 against float32 embedding on `sample` records: vector cosines, and recall@10 of exact search over the
    bf16 vectors against the float32 ones (the hub's queries); plus each one's texts per second."""
    from gorilla.retrieval.docs import doc_text
    from gorilla.retrieval.embedder import native_bf16
    from gorilla.retrieval.index import flat_ip

    dense = dense_part(r)
    texts = [doc_text(e, dense.doc_fields) for e in random.Random(cfg.seed + 2).sample(dense.corpus.entries, sample)]
    out: dict[str, Any] = {"texts": sample, "native_bf16": native_bf16()}
    vecs = {}
    for name, bf16 in (("fp32", False), ("bf16", True)):
        t0 = time.perf_counter()
        vecs[name] = dense.model.encode(texts, bf16=bf16)
        out[f"{name}_texts_per_s"] = round(sample / (time.perf_counter() - t0), 1)
    cos = (vecs["fp32"] * vecs["bf16"]).sum(1)
    _, want = flat_ip(vecs["fp32"]).search(qvecs, 10)
    _, got = flat_ip(vecs["bf16"]).search(qvecs, 10)
    return out | {"cosine_min": round(float(cos.min()), 6), "cosine_mean": round(float(cos.mean()), 6),
                  "recall@10_bf16_vs_fp32": round(recall_at(got, want), 4)}


def compare(index: Any, qvecs: np.ndarray) -> dict[str, Any]:
    """On the hub's own vectors: exact search (k = every row, as small hubs score) at growing sizes; HNSW and IVF."""
    import faiss

    from gorilla.retrieval.dense import CANDIDATES
    from gorilla.retrieval.index import HNSW, build_index, flat_ip

    x = index.reconstruct_n(0, index.ntotal)
    n = len(x)
    sizes = [s for s in (5_000, 10_000, 20_000, 50_000, 100_000, 200_000) if s <= n]
    exact_at = {}
    for s in sizes:
        flat = flat_ip(x[:s])
        exact_at[s] = {"all_rows_p50_ms": round(statistics.median(search_ms(flat, qvecs[:100], s)), 2),
                       "top100_p50_ms": round(statistics.median(search_ms(flat, qvecs[:100], CANDIDATES)), 2)}
    flat = flat_ip(x)
    _, want = flat.search(qvecs, 10)
    rows = []
    for params in ({**HNSW, "M": 16, "ef_construction": 40}, {**HNSW, "ef_construction": 40}, HNSW):
        t0 = time.perf_counter()
        hnsw = build_index(x, params)
        built = time.perf_counter() - t0
        for ef in (32, 64, 128, 256):
            hnsw.hnsw.efSearch = ef
            rows.append({"index": f"HNSW M={params['M']} efC={params['ef_construction']} efS={ef}",
                         "build_s": round(built, 1), "mb": round(len(faiss.serialize_index(hnsw)) / 2**20, 1),
                         "search_p50_ms": round(statistics.median(search_ms(hnsw, qvecs, CANDIDATES)), 3),
                         "recall@10": round(recall_at(hnsw.search(qvecs, 10)[1], want), 4)})
    nlist = int(4 * np.sqrt(n))
    t0 = time.perf_counter()
    ivf = faiss.IndexIVFFlat(faiss.IndexFlatIP(x.shape[1]), x.shape[1], nlist, faiss.METRIC_INNER_PRODUCT)
    ivf.train(x)
    ivf.add(x)
    built = time.perf_counter() - t0
    for nprobe in (4, 8, 16, 32):
        ivf.nprobe = nprobe
        rows.append({"index": f"IVFFlat nlist={nlist} nprobe={nprobe}", "build_s": round(built, 1),
                     "mb": round(len(faiss.serialize_index(ivf)) / 2**20, 1),
                     "search_p50_ms": round(statistics.median(search_ms(ivf, qvecs, CANDIDATES)), 3),
                     "recall@10": round(recall_at(ivf.search(qvecs, 10)[1], want), 4)})
    return {"exact_by_size": exact_at, "approximate": rows}


def main(cfg: ScaleConfig) -> dict[str, Any]:
    """Build, query, compare; merge the run into cfg.out (keyed by n, retriever and doc text) and render scale.md."""
    from gorilla.retrieval.index import APPROX_MIN, HNSW
    from gorilla.threads import torch_threads

    cfg.work.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    r, built = build(cfg)
    where = ("work", "out")  # this machine's paths: not part of what was measured
    run: dict[str, Any] = {"config": {k: v for k, v in asdict(cfg).items() if k not in where},
                           "threads": torch_threads(), "approx_min": APPROX_MIN, "hnsw": HNSW, "build": built}
    run["search"], qvecs = queries(r, cfg)
    if cfg.compare:
        run["precision"] = precision(r, cfg, qvecs)
        run["compare"] = compare(dense_part(r).index, qvecs)
    run["wall_s"] = round(time.perf_counter() - t0, 1)
    run["load_avg_1m"] = {"start": round(load_before[0], 2), "end": round(os.getloadavg()[0], 2)}
    run["machine"] = f"{platform.machine()}, {os.cpu_count()} CPUs (shared), Python {platform.python_version()}"
    if cfg.out:
        key = f"n={cfg.n} retriever={cfg.retriever} doc_fields={cfg.doc_fields or 'default'}"
        old = json.loads(cfg.out.read_text()) if cfg.out.is_file() else {}
        cfg.out.write_text(json.dumps(old | {key: run}, indent=1) + "\n")
        cfg.out.with_suffix(".md").write_text(render(old | {key: run}))
    return run


def render(runs: dict[str, Any]) -> str:
    """scale.md: one row per run, then each run's index comparison."""
    head = ("| run | retriever | threads | build s (embed / index / rest) | texts/s | index MB | peak RSS MB | "
            "reload s | p50 / p95 ms | of which query embedding p50 ms | index search p50 ms (exact) | recall@10 vs exact | hit@10 | load (start/end) |")
    lines = ["# A large hub: 100,000 synthetic operations", "", " ".join(__doc__.split("\n\n")[1].split()), "",
             "Reproduce (threads: GORILLA_THREADS; load: the 1-minute load average of the shared 2-core machine at "
             "start and end; hit@10: the operation a request was written from is among the 10 calls returned):", "",
             *[line for line in __doc__.splitlines() if "bench_scale.py" in line and line.startswith("    ")], "",
             head, "|" + "---|" * (head.count("|") - 1)]
    for key, run in runs.items():
        b, s = run["build"], run["search"]
        lines.append(f"| {key} | {b['retriever']} | {run['threads']} | {b['build_s']} ({b['embed_s']} / {b['index_s']} / "
                     f"{b['other_s']}) | {b['embed_texts_per_s']} | {b['index_mb']} | {s['peak_rss_mb_after_queries']} | "
                     f"{b['reload_s']} | {s['p50_ms']} / {s['p95_ms']} | {s['query_embedding_p50_ms']} | {s['index_search_p50_ms']} "
                     f"({s['exact_search_p50_ms']}) | {s['recall@10_vs_exact']} | {s['hit@10']} | "
                     f"{run['load_avg_1m']['start']} / {run['load_avg_1m']['end']} |")
    for key, run in runs.items():
        if "compare" not in run:
            continue
        c, p = run["compare"], run["precision"]
        lines += ["", f"## {key}: bf16 embedding against float32 ({p['texts']} records)", "",
                  f"native bf16: {p['native_bf16']}; texts/s float32 {p['fp32_texts_per_s']}, bf16 {p['bf16_texts_per_s']}; "
                  f"cosine min {p['cosine_min']}, mean {p['cosine_mean']}; recall@10 of exact search over bf16 vectors "
                  f"against float32 ones: {p['recall@10_bf16_vs_fp32']}"]
        lines += ["", f"## {key}: exact search by size (single query)", "",
                  "| vectors | every row scored, p50 ms | top 100, p50 ms |", "|---|---|---|"]
        lines += [f"| {n} | {v['all_rows_p50_ms']} | {v['top100_p50_ms']} |" for n, v in c["exact_by_size"].items()]
        lines += ["", f"## {key}: approximate indexes on the same vectors (top 100 per query)", "",
                  "| index | build s | MB | search p50 ms | recall@10 vs exact |", "|---|---|---|---|---|"]
        lines += [f"| {a['index']} | {a['build_s']} | {a['mb']} | {a['search_p50_ms']} | {a['recall@10']} |"
                  for a in c["approximate"]]
    return "\n".join(lines) + "\n"


def parse(argv: list[str] | None = None) -> ScaleConfig:
    """--field value for every ScaleConfig field (--no-compare, --no-fresh for the booleans)."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for f in fields(ScaleConfig):
        flag = "--" + f.name.replace("_", "-")
        if f.type == "bool":
            ap.add_argument(flag, action=argparse.BooleanOptionalAction, default=f.default)
        else:
            kind = {"int": int, "Path": Path, "Path | None": Path}.get(f.type, str)
            ap.add_argument(flag, type=kind, default=f.default)
    return ScaleConfig(**vars(ap.parse_args(argv)))


if __name__ == "__main__":
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    logging.getLogger("faiss").setLevel(logging.WARNING)  # which CPU build it loaded: noise here
    result = main(parse())
    print(json.dumps({k: result[k] for k in ("build", "search", "wall_s", "load_avg_1m")}, indent=1))
