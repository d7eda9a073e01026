"""Your own APIs: do plain-language requests find the right API among records read from users' sources?

Reads the sources with `gorilla.apibench.sources.read_sources` (an OpenAPI document, the API Zoo folder),
writes them as a throwaway hub database in a temporary folder (`apibench.database`, duplicates merged
by call identity) and searches each request of eval/ownapi/*_requests.jsonl with the named retrievers
over that database alone. A request counts as right at k when one of the k best distinct calls has
the expected `api_name` (the hub registry and `gorilla query --hub NAME` are not on main yet: this
measures the retrieval step the query runs first). The requests were written by hand for this check
(eval/ownapi/README.md) and are not used to tune anything.

    PYTHONPATH=. .venv/bin/python eval/bench_ownapi.py --spec /tmp/airflow/v2-rest-api-generated.yaml \
        --apizoo ../shared/docs/apizoo --retriever bm25 --retriever dense --out eval/results/ownapi.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from gorilla.apibench import database
from gorilla.apibench.source import Found
from gorilla.apibench.sources import read_sources
from gorilla.data import read_jsonl
from gorilla.retrieval import BUILDERS, RetrieverSettings
from gorilla.retrieval.base import Corpus

HERE = Path(__file__).resolve().parent / "ownapi"


def build_hub(name: str, sources: list[Path], folder: Path) -> Corpus:
    """The sources' records as a hub database in `folder`, loaded as a retrieval corpus."""
    records = read_sources(sources, keep_going=True)
    merged, _ = database.merge([Found(r, name, i + 1) for i, r in enumerate(records)])
    path = folder / name / "api.jsonl"
    path.parent.mkdir(parents=True)
    database.write(path, merged)
    return Corpus.load(name, path)


def score(corpus: Corpus, retriever: str, requests: Path, cache: Path, ks: tuple[int, ...] = (1, 5)) -> dict:
    """Right-at-k counts of one retriever over one requests file, and the misses at k=1."""
    r = BUILDERS[retriever](corpus, RetrieverSettings(cache=cache))  # get_retriever knows the three hubs alone
    right = {k: 0 for k in ks}
    misses, rows = [], [obj for _, obj in read_jsonl(requests)]
    start = time.perf_counter()
    for row in rows:
        names = [h.entry.api_name for h in r.search(row["request"], k=max(ks))]
        for k in ks:
            right[k] += row["api_name"] in names[:k]
        if names[:1] != [row["api_name"]]:
            misses.append({"request": row["request"], "expected": row["api_name"], "got": names[:1]})
    return {"requests": len(rows), **{f"right@{k}": right[k] for k in ks},
            "seconds_per_request": round((time.perf_counter() - start) / max(len(rows), 1), 4), "misses@1": misses}


def main(args: argparse.Namespace) -> dict:
    hubs = {}
    if args.spec:
        hubs["ownapi-spec"] = ([args.spec], args.spec_requests)
    if args.apizoo:
        hubs["ownapi-apizoo"] = ([args.apizoo], HERE / "apizoo_requests.jsonl")
    out: dict = {}
    with tempfile.TemporaryDirectory(prefix="gorilla-ownapi-") as tmp:
        for name, (sources, requests) in hubs.items():
            corpus = build_hub(name, sources, Path(tmp))
            out[name] = {"apis": len(corpus.entries), "requests_file": str(requests.relative_to(HERE.parent))}
            for retriever in args.retriever or ["bm25"]:
                out[name][retriever] = score(corpus, retriever, requests, Path(tmp) / "indexes")
                got = out[name][retriever]
                print(f"{name} ({len(corpus.entries)} APIs) {retriever}: right@1 {got['right@1']}/{got['requests']}, "
                      f"right@5 {got['right@5']}/{got['requests']}")
    if args.out:
        args.out.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--spec", type=Path, help="An OpenAPI document (Airflow's: eval/ownapi/README.md).")
    ap.add_argument("--spec-requests", type=Path, default=HERE / "airflow_requests.jsonl",
                    help="The requests written for --spec (default: Airflow's).")
    ap.add_argument("--apizoo", type=Path, help="The API Zoo folder (../shared/docs/apizoo).")
    ap.add_argument("--retriever", action="append", help="bm25, dense, hybrid, ... (repeatable; default bm25).")
    ap.add_argument("--out", type=Path, help="Also write the figures as JSON.")
    main(ap.parse_args())
