"""Generation benchmark: `gorilla generate` then `gorilla eval score` (compat and strict) per configuration.

Every figure comes from running the real commands; results accumulate in eval/results/generation.json
(keyed by run name) and are rendered to eval/results/generation.md beside Gorilla-7B's published figures.

    .venv/bin/python eval/bench_generation.py torchhub/retrieval+retrieved torchhub/0-shot
    .venv/bin/python eval/bench_generation.py --latency        # `gorilla query` wall time from process start
    .venv/bin/python eval/bench_generation.py --embedded       # embedded model: first use vs later loads
    .venv/bin/python eval/bench_generation.py --rescore        # score the recorded runs' files again
    .venv/bin/python eval/bench_generation.py --render         # just rewrite the markdown
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "eval" / "results"
GORILLA = [sys.executable, "-m", "gorilla"]
UPSTREAM = REPO.parent / "shared" / "reference" / "upstream-scores.json"

# name -> (hub, retriever, constrain, limit, k)
RUNS = {
    f"{hub}/{name}": (hub, retriever, constrain, limit, k)
    for hub, limit in (("torchhub", None), ("tensorflowhub", None), ("huggingface", None))
    for name, retriever, constrain, k in (("0-shot", "none", "off", 3), ("retrieval", "best", "off", 3),
                                          ("retrieval-k1", "best", "off", 1),
                                          ("retrieval+db", "best", "db", 3), ("retrieval+retrieved", "best", "retrieved", 3),
                                          ("retrieval+retrieved-k1", "best", "retrieved", 1))
}


def run(cmd: list[str]) -> str:
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    if done.returncode != 0:
        raise SystemExit(f"failed ({done.returncode}): {' '.join(cmd)}\n{done.stderr[-2000:]}")
    return done.stdout


def domain_at1(responses: Path, hub: str) -> float | None:
    """The default retriever's domain@1 on the same questions: the top document's domain vs the gold domain."""
    from gorilla.data import ApiBenchPaths, load_api_db, load_eval

    paths = ApiBenchPaths.resolve()
    db, gold = load_api_db(paths.api_db(hub)), load_eval(paths.eval(hub))
    rows = [json.loads(x) for x in responses.read_text().splitlines() if x.strip()]
    tops = [(r["question_id"], r["metadata"].get("retrieved") or []) for r in rows]
    hits = [db[int(t[0].split(":")[1])].domain == gold[q - 1].domain for q, t in tops if t]
    return sum(hits) / len(rows) if hits else None


def bench(name: str, out_dir: Path, limit: int | None) -> dict:
    hub, retriever, constrain, default_limit, k = RUNS[name]
    limit = limit or default_limit
    out = out_dir / f"{name.replace('/', '__')}{f'-limit{limit}' if limit else ''}.jsonl"
    cmd = [*GORILLA, "generate", "--hub", hub, "--split", "eval", "--out", str(out), "--retriever", retriever,
           "--constrain", constrain, "-k", str(k), *(["--limit", str(limit)] if limit else [])]
    out.unlink(missing_ok=True)  # a timing run starts from nothing (resume is tested, not benchmarked)
    stats = json.loads(run(cmd).strip().splitlines()[-1])
    return {"hub": hub, "retriever": retriever, "constrain": constrain, "k": k, "limit": limit,
            "command": " ".join(["gorilla", *cmd[3:]]), "questions": stats["generated"], "seconds": stats["seconds"],
            "questions_per_s": stats["questions_per_s"], "threads": os.environ.get("GORILLA_THREADS", "default"),
            **score(out, hub), "retriever_domain_at1": domain_at1(out, hub) if retriever != "none" else None}


def score(out: Path, hub: str) -> dict:
    """`gorilla eval score` in both modes: {"compat": {n, accuracy, hallucination, error}, "strict": {...}}."""
    keys = ("n", "accuracy", "hallucination", "error")
    figures = {mode: json.loads(run([*GORILLA, "eval", "score", "--format", "json", "--mode", mode, str(out),
                                     "--hub", hub]).splitlines()[0]) for mode in ("compat", "strict")}
    return {mode: {k: f[k] for k in keys} for mode, f in figures.items()}


def rescore(results: dict) -> None:
    """Score the response files of recorded runs again (after a scorer change), where they still exist."""
    for name, r in results.get("runs", {}).items():
        out = Path(r["command"].split(" --out ")[1].split()[0])
        if out.exists():
            r.update(score(out, r["hub"]))
            print(name, json.dumps({m: r[m] for m in ("compat", "strict")}), flush=True)
        else:
            print(f"{name}: {out} is gone; kept the recorded scores", flush=True)


LATENCY = (("transcribe my podcast to text", "--format", "json"),  # the defaults: all hubs, best retriever
           ("transcribe my podcast to text", "--format", "json", "--hub", "huggingface", "--retriever", "bm25"))


def default_k() -> int:
    from gorilla.pipeline import DEFAULT_K

    return DEFAULT_K


def latency(n: int = 5) -> list[dict]:
    """Wall time of `gorilla query` from process start, after one warm-up run (caches exist)."""
    out = []
    for args in LATENCY:
        run([*GORILLA, "query", *args])
        times = []
        for _ in range(n):
            start = time.perf_counter()
            run([*GORILLA, "query", *args])
            times.append(time.perf_counter() - start)
        out.append({"command": f'gorilla query "{args[0]}" ' + " ".join(args[1:]), "runs": n, "k": default_k(),
                    "median_s": round(statistics.median(times), 2), "min_s": round(min(times), 2),
                    "max_s": round(max(times), 2), "threads": os.environ.get("GORILLA_THREADS", "default"),
                    "load": round(os.getloadavg()[0], 1)})
    return out


def embedded_load() -> dict:
    """First use of the embedded model (GGUF -> safetensors, in a fresh temp cache) vs later loads."""
    import tempfile

    code = ("import json, time, torch, transformers\n"
            "from gorilla.models.embedded import ensure_converted\nfrom gorilla.models.local import LocalBackend\n"
            "t = time.perf_counter(); ensure_converted(); first = time.perf_counter() - t\nlater = []\n"
            "for _ in range(3):\n    t = time.perf_counter(); LocalBackend.load('embedded'); later.append(time.perf_counter() - t)\n"
            "print(json.dumps({'first_use_s': round(first, 2), 'later_load_s': [round(x, 2) for x in later]}))")
    with tempfile.TemporaryDirectory() as cache:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                              env={**os.environ, "GORILLA_CACHE": cache}, check=True)
    return {**json.loads(done.stdout.strip().splitlines()[-1]), "threads": os.environ.get("GORILLA_THREADS", "default"),
            "note": "seconds after torch/transformers are imported"}


def render(results: dict) -> str:
    up = json.loads(UPSTREAM.read_text())["scores"] if UPSTREAM.exists() else {}
    lines = ["# Generation results", "",
             "Embedded SmolLM2-135M-Instruct (no fine-tuning), greedy, on this 2-core CPU. Produced by "
             "`eval/bench_generation.py`: each row is `gorilla generate` on the hub's eval split, then "
             "`gorilla eval score` (compat = the reference scorer's rules, strict = argument-exact). Runs shared "
             "the 2 cores with other jobs (see the notes), so q/s and seconds are not throughput figures. "
             "retriever domain@1 is the default "
             "retriever's top document's domain against the gold domain, on the same questions.", "",
             "| run | n | compat acc | compat halluc | strict acc | strict halluc | retriever domain@1 | q/s | s |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, r in sorted(results.get("runs", {}).items()):
        d1 = r["retriever_domain_at1"]
        lines.append(f"| {name}{' (first ' + str(r['limit']) + ')' if r['limit'] else ''} | {r['questions']} | "
                     f"{r['compat']['accuracy']:.3f} | {r['compat']['hallucination']:.3f} | {r['strict']['accuracy']:.3f} | "
                     f"{r['strict']['hallucination']:.3f} | {'-' if d1 is None else f'{d1:.3f}'} | "
                     f"{r['questions_per_s']} | {r['seconds']} |")
    lines += ["", "Gorilla-7B (published reference-scorer figures, `upstream-scores.json`):", "",
              "| response file | accuracy | hallucination |", "|---|---|---|"]
    lines += [f"| {k} | {v['accuracy']:.3f} | {v['hallucination']:.3f} |" for k, v in sorted(up.items())]
    for lat in results.get("latency", []) + results.get("latency_k3", []):  # latency_k3: before k=1 became the default
        lines += ["", f"`{lat['command']}` from process start, warm caches: median {lat['median_s']} s "
                      f"(min {lat['min_s']}, max {lat['max_s']}, {lat['runs']} runs, k {lat.get('k', 3)}, threads {lat['threads']}, "
                      f"1-min load average {lat['load']})."]
    if emb := results.get("embedded_load"):
        lines += ["", f"Embedded model: first use (dequantise the GGUF, save safetensors) {emb['first_use_s']} s; later loads "
                      f"{', '.join(map(str, emb['later_load_s']))} s ({emb['note']}, threads {emb['threads']}; "
                      "`eval/bench_generation.py --embedded`)."]
    if notes := results.get("notes"):
        lines += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    lines += ["", "Commands per row are in generation.json (`command`); machine: " + results.get("machine", ""), ""]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="*", help=f"run names: {', '.join(RUNS)}")
    ap.add_argument("--limit", type=int, help="only the first N eval questions (recorded with the result)")
    ap.add_argument("--out-dir", type=Path, default=Path("/tmp/generation/runs"))
    ap.add_argument("--latency", action="store_true")
    ap.add_argument("--embedded", action="store_true", help="time the embedded model's first use and later loads")
    ap.add_argument("--rescore", action="store_true", help="score the recorded runs' response files again")
    ap.add_argument("--render", action="store_true")
    args = ap.parse_args()
    path = RESULTS / "generation.json"
    if args.rescore and path.exists():
        results = json.loads(path.read_text())
        rescore(results)
        path.write_text(json.dumps(results, indent=1) + "\n")
    for name in args.runs:
        if name not in RUNS:
            raise SystemExit(f"unknown run {name!r}: expected one of {', '.join(RUNS)}")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    extras = (["latency"] if args.latency else []) + (["embedded_load"] if args.embedded else [])
    for name in args.runs + extras:
        extra = {"latency": latency, "embedded_load": embedded_load}.get(name)
        result = extra() if extra else bench(name, args.out_dir, args.limit)
        results = json.loads(path.read_text()) if path.exists() else {}  # re-read: runs may be going on in parallel
        results["machine"] = f"{platform.machine()}, {os.cpu_count()} cores"
        if name in extras:
            results[name] = result
        else:
            results.setdefault("runs", {})[name] = result
        path.write_text(json.dumps(results, indent=1) + "\n")
        print(name, json.dumps(result), flush=True)
    results = json.loads(path.read_text()) if path.exists() else {}
    (RESULTS / "generation.md").write_text(render(results))


if __name__ == "__main__":
    main()
