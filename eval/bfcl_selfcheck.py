"""Check the BFCL scorer on the real files: the ground truth, written as a model would answer, must score 1.0.

Writes one results line per case (`id`, `text`: the ground truth's calls as `[f(a=1), g(b='x')]`, or a
sentence without a call for irrelevance), then scores them as `gorilla eval bfcl` does (calls read back
from the text by parse_function_calls) and prints one JSON line per file plus the best of --rounds
wall times of reading the results and scoring every file.

    python eval/bfcl_selfcheck.py ../shared/bfcl --out /tmp/bfcl_truth.jsonl
    gorilla eval bfcl ../shared/bfcl/BFCL_v4_*.json --responses /tmp/bfcl_truth.jsonl   # the same figures
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from gorilla.calls import format_call
from gorilla.data.bfcl import answers_path, category_of, load_answers, load_cases, load_results
from gorilla.data.jsonl import write_jsonl
from gorilla.scoring.bfcl import no_call_expected, score_files, truth_calls


def truth_rows(files: list[Path]) -> list[dict]:
    """Each case's perfect answer as model text."""
    rows = []
    for path in files:
        cases = load_cases(path)
        if no_call_expected(category_of(path)):
            rows += [{"id": c.id, "text": "None of the given functions can answer this."} for c in cases]
            continue
        answers = load_answers(answers_path(path))
        rows += [{"id": c.id, "text": "[" + ", ".join(format_call(**call) for call in
                                                       truth_calls(answers[c.id], c.functions)) + "]"} for c in cases]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", type=Path, help="folder with BFCL_v4_*.json and possible_answer/")
    parser.add_argument("--out", type=Path, required=True, help="results JSONL to write")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    files = sorted(args.data.glob("BFCL_v4_*.json"))
    write_jsonl(args.out, truth_rows(files))
    times = []
    for _ in range(args.rounds):
        start = time.perf_counter()
        reports = score_files(files, load_results(args.out))
        times.append(time.perf_counter() - start)
    for r in reports:
        print(json.dumps({k: r[k] for k in ("file", "category", "n", "correct", "accuracy")}))
    print(json.dumps({"cases": sum(r["n"] for r in reports), "best_seconds": round(min(times), 4),
                      "rounds": args.rounds}))


if __name__ == "__main__":
    main()
