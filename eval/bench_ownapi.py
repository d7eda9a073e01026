"""Your own APIs: do plain-language requests find the right API among records read from users' sources?

Reads the sources with `gorilla.apibench.sources.read_sources` (an OpenAPI document, the API Zoo folder),
writes them as a throwaway hub database in a temporary folder (`apibench.database`, duplicates merged
by call identity), or takes a hub added with `gorilla hub add` (`--hub NAME --requests FILE`: its database
alone, its indexes in the user cache), and searches each request of eval/ownapi/*_requests.jsonl with the
named retrievers over that database alone. A request counts as right at k when one of the k best distinct
calls has the expected `api_name`: this measures the retrieval step `gorilla query --hub NAME` runs first.
The requests were written by hand for this check (eval/ownapi/README.md); apizoo_sample_requests.jsonl
chose the retriever a hub without solved requests gets (gorilla.retrieval.best_for, docs/hubs.md).

    PYTHONPATH=. .venv/bin/python eval/bench_ownapi.py --spec /tmp/airflow/v2-rest-api-generated.yaml \
        --apizoo ../shared/docs/apizoo --retriever bm25 --retriever dense --out eval/results/ownapi.json
    gorilla hub add apizoo ../shared/docs/apizoo --keep-going && GORILLA_THREADS=1 PYTHONPATH=. .venv/bin/python \
        eval/bench_ownapi.py --hub apizoo --requests eval/ownapi/apizoo_sample_requests.jsonl \
        --requests eval/ownapi/apizoo_requests.jsonl -r bm25 -r dense -r hybrid -r fusion --out eval/results/own_hub.json
    GORILLA_THREADS=1 PYTHONPATH=. .venv/bin/python eval/bench_ownapi.py --hub apizoo --query \
        --requests eval/ownapi/apizoo_requests.jsonl --out eval/results/own_hub_query.json

`--query` asks each request through the whole default pipeline instead (`gorilla query --hub NAME` with no
other flag: the hub's default retriever, the embedded model, constrained decoding) and counts the answers
whose `api_name` is the expected one.
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
from gorilla.data import Hub, get_hub, read_jsonl
from gorilla.retrieval import get_retriever

HERE = Path(__file__).resolve().parent / "ownapi"


def build_hub(name: str, sources: list[Path], folder: Path) -> Hub:
    """The sources' records as a hub database in `folder` (an unregistered hub)."""
    records = read_sources(sources, keep_going=True)
    merged, _ = database.merge([Found(r, name, i + 1) for i, r in enumerate(records)])
    path = folder / name / "api.jsonl"
    path.parent.mkdir(parents=True)
    database.write(path, merged)
    return Hub(name, path)


def score(hub: Hub, retriever: str, requests: Path, cache: Path | None, ks: tuple[int, ...] = (1, 5)) -> dict:
    """Right-at-k counts of one retriever over one requests file, its build time, and the misses at k=1."""
    t0 = time.perf_counter()
    r = get_retriever(retriever, hub, cache=cache)
    built = time.perf_counter() - t0
    right = {k: 0 for k in ks}
    misses, rows = [], [obj for _, obj in read_jsonl(requests)]
    start = time.perf_counter()
    for row in rows:
        names = [h.entry.api_name for h in r.search(row["request"], k=max(ks))]
        for k in ks:
            right[k] += row["api_name"] in names[:k]
        if names[:1] != [row["api_name"]]:
            misses.append({"request": row["request"], "expected": row["api_name"], "got": names[:1]})
    return {"retriever": r.name, "requests": len(rows), **{f"right@{k}": right[k] for k in ks},
            "build_seconds": round(built, 1), "seconds_per_request": round((time.perf_counter() - start) / max(len(rows), 1), 4), "misses@1": misses}


def main(args: argparse.Namespace) -> dict:
    hubs = {}
    if args.spec:
        hubs["ownapi-spec"] = ([args.spec], [args.spec_requests])
    if args.apizoo:
        hubs["ownapi-apizoo"] = ([args.apizoo], [HERE / "apizoo_requests.jsonl"])
    out: dict = {}
    with tempfile.TemporaryDirectory(prefix="gorilla-ownapi-") as tmp:
        for name, (sources, requests) in hubs.items():
            out |= run(build_hub(name, sources, Path(tmp)), requests, args.retriever, Path(tmp) / "indexes")
        if args.hub and args.query:
            out |= {f"{args.hub}:{p.stem}:query": ask_all(args.hub, p) for p in args.requests or []}
        elif args.hub:
            registered = get_hub(args.hub)  # its database alone: what a just-added hub has
            out |= run(Hub(registered.name, registered.api_db), args.requests or [], args.retriever, None)
    if args.out:
        args.out.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    return out


def ask_all(hub: str, requests: Path) -> dict:
    """Right answers of the default pipeline (what `gorilla query --hub HUB REQUEST` prints) over a requests file."""
    from gorilla.pipeline import Gorilla, PipelineConfig

    gorilla, rows = Gorilla(PipelineConfig(hub=hub)), [obj for _, obj in read_jsonl(requests)]
    answers, start = [], time.perf_counter()
    for row in rows:
        a = gorilla.ask(row["request"])
        answers.append({"request": row["request"], "expected": row["api_name"], "api_name": a.api_name,
                        "api_call": a.api_call, "right": a.api_name == row["api_name"]})
    right = sum(a["right"] for a in answers)
    print(f"{hub}:{requests.stem} through the pipeline: {right}/{len(rows)} right", flush=True)
    return {"requests": len(rows), "right": right, "seconds": round(time.perf_counter() - start, 1), "answers": answers}


def run(hub: Hub, requests: list[Path], retrievers: list[str] | None, cache: Path | None) -> dict:
    """{`hub:requests file`: figures per retriever} for each requests file."""
    apis = sum(1 for _ in read_jsonl(hub.api_db))
    out = {}
    for path in requests:
        key = f"{hub.name}:{path.stem}"
        out[key] = {"apis": apis, "requests_file": str(path.resolve().relative_to(HERE.parent))}
        for retriever in retrievers or ["bm25"]:
            got = out[key][retriever] = score(hub, retriever, path, cache)
            print(f"{key} ({apis} APIs) {retriever}: right@1 {got['right@1']}/{got['requests']}, "
                  f"right@5 {got['right@5']}/{got['requests']} (built in {got['build_seconds']} s)", flush=True)
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--spec", type=Path, help="An OpenAPI document (Airflow's: eval/ownapi/README.md).")
    ap.add_argument("--spec-requests", type=Path, default=HERE / "airflow_requests.jsonl",
                    help="The requests written for --spec (default: Airflow's).")
    ap.add_argument("--apizoo", type=Path, help="The API Zoo folder (../shared/docs/apizoo).")
    ap.add_argument("--hub", help="A hub added with `gorilla hub add` (its database alone), for --requests.")
    ap.add_argument("--requests", type=Path, action="append", help="Requests for --hub (repeatable).")
    ap.add_argument("--retriever", "-r", action="append", help="bm25, dense, hybrid, fusion, best ... (repeatable; "
                                                                "default bm25).")
    ap.add_argument("--query", action="store_true", help="With --hub: ask through the default pipeline instead.")
    ap.add_argument("--out", type=Path, help="Also write the figures as JSON.")
    main(ap.parse_args())
