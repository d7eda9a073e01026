"""A hub of one's own with no solved requests yet: which retriever should "best" fall back to?

The requests (eval/hubs/apizoo_requests.jsonl) were written by hand for 40 APIs drawn at random
(random.Random(7)) from the API Zoo hub, reading each API's name and description only, before any
retriever was run on them. Each is searched in the hub's database alone (its train/eval splits, if
`gorilla apibench build` made any, are left out: a just-added hub has none); gold is the API's call.
This set chose the fallback (gorilla.retrieval.best_name), so its figures flatter the winner a little.

    gorilla hub add apizoo ../shared/docs/apizoo --keep-going
    GORILLA_THREADS=1 .venv/bin/python eval/bench_own_hub.py --hub apizoo --out eval/results/own_hub.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from gorilla.calls import normalize_call
from gorilla.data import Hub, atomic_write, get_hub, load_api_db, read_jsonl
from gorilla.retrieval import get_retriever

REQUESTS = Path(__file__).parent / "hubs" / "apizoo_requests.jsonl"


def run(hub: Hub, name: str, requests: list[dict]) -> dict:
    """recall@1, recall@5 and domain@1 of retriever `name` over `requests`, and its build time."""
    domain = {normalize_call(e.api_call): e.domain for e in load_api_db(hub.api_db)}
    t0 = time.perf_counter()
    r = get_retriever(name, hub)
    build = time.perf_counter() - t0
    r1 = r5 = dom = 0
    for q in requests:
        hits = r.search(q["request"], 5)
        calls = [normalize_call(h.entry.api_call) for h in hits]
        want = normalize_call(q["api_call"])
        r1 += calls[:1] == [want]
        r5 += want in calls
        dom += hits[0].entry.domain == domain[want]
    n = len(requests)
    return {"hub": hub.name, "retriever": r.name, "n": n, "recall@1": round(r1 / n, 3), "recall@5": round(r5 / n, 3),
            "domain@1": round(dom / n, 3), "build_s": round(build, 1)}


def main(args: argparse.Namespace) -> list[dict]:
    registered = get_hub(args.hub)
    hub = Hub(registered.name, registered.api_db)  # the database alone
    requests = [obj for _, obj in read_jsonl(REQUESTS)]
    rows = [run(hub, name, requests) for name in args.retriever]
    if args.out:
        with atomic_write(args.out) as f:
            json.dump({"requests": str(REQUESTS.name), "rows": rows}, f, indent=2)
    return rows


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--hub", default="apizoo")
    p.add_argument("--retriever", nargs="+", default=["bm25", "dense", "hybrid", "fusion"])
    p.add_argument("--out", type=Path)
    for row in main(p.parse_args()):
        print(json.dumps(row))
