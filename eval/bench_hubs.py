"""`--hub all`: which hub should answer? Merge rules compared on the three eval splits pooled.

Each query of the torchhub, tensorflowhub and huggingface eval splits is searched in all three hubs
with the default retriever; a rule picks one hub, and we count how often it is the query's own hub
(a proxy: a same-task API from another hub can also be a right answer, so this is a lower bound).
Rules: `fused` (the retrievers' own top scores, rank-based inside one database: the old merge),
`top_cos` (cosine between query and each hub's top document), `max_cos` (the best cosine between
query and any document of the hub: what `Retriever.relevance` returns, the pipeline's rule).

    .venv/bin/python eval/bench_hubs.py --out eval/results/hub_merge.json
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from gorilla.data import HUBS, ApiBenchPaths, load_eval
from gorilla.retrieval import get_retriever
from gorilla.retrieval.base import check_query

RULES = ("fused", "top_cos", "max_cos")


def main(args: argparse.Namespace) -> dict:
    paths = ApiBenchPaths.resolve(args.data_dir)
    retrievers = {h: get_retriever("best", h, data_dir=args.data_dir) for h in HUBS}
    hits: dict[str, dict[str, list[bool]]] = {rule: {h: [] for h in HUBS} for rule in RULES}
    start = time.perf_counter()
    for true in HUBS:
        for pair in load_eval(paths.eval(true)):
            query = check_query(pair.instruction)
            feats = {}
            for hub, r in retrievers.items():
                scores = r.scores(query)
                top = int(np.argmax(scores))
                cos = r.vote.dense.scores(query)
                feats[hub] = {"fused": scores[top], "top_cos": cos[top], "max_cos": r.relevance(query)}
            for rule in RULES:
                hits[rule][true].append(max(HUBS, key=lambda h: feats[h][rule]) == true)
    result = {"n": {h: len(hits["fused"][h]) for h in HUBS}, "seconds": round(time.perf_counter() - start, 1),
              "own_hub_rate": {rule: {"pooled": round(float(np.mean([x for v in per.values() for x in v])), 4),
                                      **{h: round(float(np.mean(v)), 4) for h, v in per.items()}}
                               for rule, per in hits.items()},
              "command": "eval/bench_hubs.py", "load": round(os.getloadavg()[0], 1)}
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--out", type=Path)
    print(json.dumps(main(ap.parse_args()), indent=1))
