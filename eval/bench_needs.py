"""Plain-language needs through the default pipeline: how many get an API of the right kind.

    .venv/bin/python eval/bench_needs.py [--label NAME]

Reads eval/needs/needs.jsonl (48 needs written before tuning, each with the domains that count as
right, any hub) and asks each through `Gorilla(PipelineConfig())`: exactly what `gorilla query NEED`
does with no flags (all hubs, the embedded model, the default retriever), in one process so the
models load once. Appends a row (label, commit, right of n, every answer) to eval/results/needs.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from pathlib import Path

from gorilla.data import read_jsonl
from gorilla.pipeline import Gorilla, PipelineConfig

REPO = Path(__file__).resolve().parents[1]
NEEDS = REPO / "eval" / "needs" / "needs.jsonl"
RESULTS = REPO / "eval" / "results" / "needs.json"


def main(label: str) -> dict:
    needs = [obj for _, obj in read_jsonl(NEEDS)]
    gorilla = Gorilla(PipelineConfig())
    answers, t0 = [], time.perf_counter()
    for need in needs:
        a = gorilla.ask(need["need"])
        answers.append({"need": need["need"], "hub": a.hub, "domain": a.domain, "api_call": a.api_call,
                        "right": a.domain in need["domains"]})
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    row = {"label": label, "commit": commit, "n": len(needs), "right": sum(a["right"] for a in answers),
           "seconds": round(time.perf_counter() - t0, 1), "answers": answers}
    rows = json.loads(RESULTS.read_text()) if RESULTS.exists() else []
    RESULTS.write_text(json.dumps([r for r in rows if r["label"] != label] + [row], indent=1) + "\n", encoding="utf-8")
    return row


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--label", default="default")
    row = main(ap.parse_args().label)
    print(f"{row['label']} ({row['commit']}): {row['right']} of {row['n']} right, {row['seconds']} s")
    for a in row["answers"]:
        print(("  ok  " if a["right"] else "  --  ") + f"{a['need']!r} -> {a['domain']} ({a['hub']})")
