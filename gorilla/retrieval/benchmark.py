"""Retrieval benchmark on a hub's eval split (APIBench's, or one `gorilla apibench build` made): recall@k and MRR
on api_call, domain@1, latency.

Queries are the eval records' instructions, gold is each record's `api_data`. Recall compares
normalised api_call text (many entries share a call). `split` picks the dev half (even
positions), the test half (odd positions) or all: settings are chosen on dev, reported on all.
"""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Sequence
from pathlib import Path

from gorilla.data import ApiBenchPaths, EvalPair, Hub, load_eval, load_questions
from gorilla.errors import GorillaError
from gorilla.retrieval.base import Retriever, normalize_call

KS = (1, 5, 10)
SPLITS = ("all", "dev", "test")


def eval_queries(hub: Hub, split: str = "all") -> list[EvalPair]:
    if split not in SPLITS:
        raise GorillaError(f"unknown split {split!r}: expected one of {', '.join(SPLITS)}")
    if hub.eval is None:
        raise GorillaError(f"hub {hub.name!r} has no eval split (make one: gorilla apibench build --hub {hub.name})")
    pairs = load_eval(hub.eval)
    return pairs if split == "all" else pairs[split == "test"::2]


def evaluate(retriever: Retriever, pairs: Sequence[EvalPair], hub: str, ks: Sequence[int] = KS) -> dict:
    """One JSON-able row: hub, retriever, n, recall@k, mrr (@max k), domain@1, p50_ms, qps."""
    if not pairs:
        raise GorillaError("no queries to evaluate")
    depth = max(ks)
    found = dict.fromkeys(ks, 0)
    rr = dom = 0.0
    latencies = []
    for pair in pairs:
        gold = pair.api_data
        extra = {"gold": gold} if getattr(retriever, "needs_gold", False) else {}
        t0 = time.perf_counter()
        hits = retriever.search(pair.instruction, depth, **extra)
        latencies.append(time.perf_counter() - t0)
        calls = [normalize_call(h.entry.api_call) for h in hits]
        want = normalize_call(gold.api_call)
        rank = calls.index(want) + 1 if want in calls else None
        for k in ks:
            found[k] += rank is not None and rank <= k
        rr += 1 / rank if rank else 0.0
        dom += bool(hits) and hits[0].entry.domain == gold.domain
    n = len(pairs)
    row = {"hub": hub, "retriever": retriever.name, "n": n}
    row |= {f"recall@{k}": round(found[k] / n, 4) for k in ks}
    row |= {"mrr": round(rr / n, 4), "domain@1": round(dom / n, 4),
            "p50_ms": round(1000 * statistics.median(latencies), 2), "qps": round(n / sum(latencies), 1)}
    return row


_DOC_DOMAIN = re.compile(r"""reference:.*?\\?['"]domain\\?['"]\s*:\s*\\?['"](.*?)\\?['"]""", re.S)


def upstream_domain_at1(paths: ApiBenchPaths, hub: str, kind: str) -> dict:
    """domain@1 of the document upstream inlined in `questions_<hub>_<kind>.jsonl` (kind: bm25, gpt_index)."""
    pairs = load_eval(paths.eval(hub))
    path: Path = paths.questions(hub, kind)
    hit = n = 0
    for q in load_questions(path):
        if not 1 <= q.question_id <= len(pairs):
            continue
        m = _DOC_DOMAIN.search(q.text)
        n += 1
        hit += bool(m) and m.group(1) == pairs[q.question_id - 1].domain
    return {"hub": hub, "retriever": f"upstream-{kind}", "n": n, "domain@1": round(hit / max(n, 1), 4)}


COLUMNS = ("hub", "retriever", "split", "n", "recall@1", "recall@5", "recall@10", "mrr", "domain@1", "p50_ms", "qps")


def markdown_table(rows: Sequence[dict]) -> str:
    """Rows from `evaluate`/`upstream_domain_at1` as a Markdown table (missing cells shown as -)."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(str(row.get(c, "-")) for c in COLUMNS) + " |" for row in rows]
    return "\n".join(lines)
