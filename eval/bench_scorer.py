"""Scorer speed: `gorilla eval score` against a straightforward implementation, side by side.

    .venv/bin/python eval/bench_scorer.py [--rounds 3] [--data-dir ../shared/apibench] [--out eval/results/scorer_bench.json]

Each round runs, as whole processes on all response files: the naive reference algorithm
(eval/naive_scorer.py), `gorilla eval score --no-cache` (cold: nothing persisted), and
`gorilla eval score` with a primed cache (warm: responses scored before). It checks that all
three print the same counts, then reports medians of wall and CPU time and their ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float, list[dict]]:
    """(wall seconds, CPU seconds of the child, its JSON lines)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True).stdout
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, [json.loads(line) for line in out.splitlines()]


def counts(rows: list[dict]) -> list[tuple]:
    return [(Path(r["file"]).name, r["n"], r["correct"], r["hallucinated"]) for r in rows]


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, default=HERE.parent.parent / "shared" / "apibench")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    files = sorted(str(p) for p in (args.data_dir / "responses").glob("*/*.jsonl"))
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "GORILLA_CACHE": cache}
        gorilla = [sys.executable, "-m", "gorilla", "eval", "score", "--format", "json", "--data-dir", str(args.data_dir)]
        commands = {
            "naive": [sys.executable, str(HERE / "naive_scorer.py"), "--data-dir", str(args.data_dir), *files],
            "cold": [*gorilla, "--no-cache", *files],
            "warm": [*gorilla, *files],
        }
        subprocess.run(commands["warm"], capture_output=True, env=env, check=True)  # prime the persisted results
        times: dict[str, list[tuple[float, float]]] = {k: [] for k in commands}
        reference = None
        for r in range(args.rounds):
            for name, cmd in commands.items():
                wall, cpu, rows = timed(cmd, env)
                times[name].append((wall, cpu))
                reference = reference or counts(rows)
                if counts(rows) != reference:
                    sys.exit(f"{name} disagrees with the naive scorer")
                print(f"round {r + 1}: {name:5s} wall {wall:7.3f} s  cpu {cpu:7.3f} s", file=sys.stderr)
    med = {k: {"wall_s": statistics.median(w for w, _ in v), "cpu_s": statistics.median(c for _, c in v)} for k, v in times.items()}
    result = {
        "files": len(files), "responses": sum(n for _, n, _, _ in reference), "rounds": args.rounds,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "median": med,
        "ratio_wall": {k: med["naive"]["wall_s"] / med[k]["wall_s"] for k in ("cold", "warm")},
        "ratio_cpu": {k: med["naive"]["cpu_s"] / med[k]["cpu_s"] for k in ("cold", "warm")},
    }
    print(f"{len(files)} files, {result['responses']} responses, median of {args.rounds} rounds")
    print(f"{'':6s} {'wall s':>8s} {'cpu s':>8s} {'x wall':>7s} {'x cpu':>7s}")
    for k in commands:
        xw = med["naive"]["wall_s"] / med[k]["wall_s"]
        xc = med["naive"]["cpu_s"] / med[k]["cpu_s"]
        print(f"{k:6s} {med[k]['wall_s']:8.3f} {med[k]['cpu_s']:8.3f} {xw:7.1f} {xc:7.1f}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    main()
