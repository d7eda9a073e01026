"""Accuracy and hallucination of a response file on the dev and test halves of its eval set.

    .venv/bin/python eval/score_halves.py RESPONSES.jsonl [--hub HUB]

The halves are the retrieval benchmark's: dev = even positions of the eval file (question_id 1, 3,
5, ...), test = odd positions (question_id 2, 4, ...). Settings are chosen on dev; test is held out.
Scores come from `gorilla eval score --verdicts` in both modes; this only splits its verdicts.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path


def verdicts(responses: Path, mode: str, hub: str | None) -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "verdicts.jsonl"
        cmd = [sys.executable, "-m", "gorilla", "eval", "score", str(responses), "--mode", mode, "--verdicts", str(out)]
        subprocess.run(cmd + (["--hub", hub] if hub else []), check=True, capture_output=True, text=True)
        return [json.loads(line) for line in out.read_text().splitlines() if line.strip()]


def halves(rows: list[dict]) -> dict[str, dict]:
    out = {}
    for name, parity in (("dev", 1), ("test", 0)):
        part = [r for r in rows if r["question_id"] % 2 == parity]
        out[name] = {"n": len(part), "accuracy": round(sum(r["correct"] for r in part) / len(part), 4),
                     "hallucination": round(sum(r["hallucination"] for r in part) / len(part), 4)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("responses", type=Path)
    ap.add_argument("--hub")
    args = ap.parse_args()
    print(json.dumps({mode: halves(verdicts(args.responses, mode, args.hub)) for mode in ("compat", "strict")}))


if __name__ == "__main__":
    main()
