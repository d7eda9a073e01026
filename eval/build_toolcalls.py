"""Assemble the function-calling train file and our held-out set from the hand-written files.

    .venv/bin/python eval/build_toolcalls.py [--check]

The writers' files (`eval/toolcalls/written/r<round>_<writer>.jsonl.gz`, committed; how they were written:
eval/toolcalls/CARD.md) hold one solved request per line (gorilla.training.tooldata's format). Every line is
checked by the call grammar (`tooldata.read_tool_pairs` rules); the few it cannot write are dropped and
counted. Each round becomes `r<round>.jsonl.gz`, except that every 4th line of each round-2 file is held out as
`heldout.jsonl.gz` (the set ToolSettings are chosen on, never trained on). Counts go to eval/results/toolcalls_data.json. `--check` adds how close our requests come to BFCL's Python test questions
(gorilla.apibench.contamination's measures, BFCL read for this check only) and which function names they share.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from gorilla.apibench.contamination import contamination
from gorilla.data import read_jsonl, write_jsonl
from gorilla.data.bfcl import load_cases
from gorilla.data.paths import REPO_ROOT
from gorilla.errors import GorillaError
from gorilla.training.tooldata import parse_pair

FOLDER = REPO_ROOT / "eval" / "toolcalls"
RESULTS = REPO_ROOT / "eval" / "results" / "toolcalls_data.json"
HOLD_EVERY = 4  # round 2: every 4th line is held out


def shape(obj: dict) -> str:
    """no_call, simple, parallel (one function called several times) or multiple (several functions called)."""
    names = [c["name"] for c in obj.get("calls") or []]
    return "no_call" if not names else "simple" if len(names) == 1 else \
        "parallel" if len(set(names)) == 1 else "multiple"


def bfcl_check(train: list[dict], bfcl: Path) -> dict:
    """Our train requests against every question of BFCL's Python files (contamination's three measures) and the
    function names both use."""
    cases = [c for path in sorted(bfcl.glob("BFCL_v*_*.json")) for c in load_cases(path)]
    questions = [m["content"] for c in cases for m in c.messages if m.get("role") == "user"]
    ours = [o["request"] for o in train if "request" in o]
    names = {f["name"] for o in train for f in o["functions"]} & {f["name"] for c in cases for f in c.functions}
    return {"bfcl_questions": len(questions), **contamination(questions, ours), "shared_function_names": sorted(names)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--bfcl", type=Path, default=REPO_ROOT.parent / "shared" / "bfcl")
    args = ap.parse_args()
    sets: dict[str, list[dict]] = {"heldout": []}
    dropped = 0
    for path in sorted((FOLDER / "written").glob("r*_*.jsonl.gz")):
        for n, (_, obj) in enumerate(read_jsonl(path)):
            try:
                parse_pair(obj)
            except GorillaError:
                dropped += 1
                continue
            name = path.name[:2]
            sets.setdefault("heldout" if name == "r2" and n % HOLD_EVERY == 0 else name, []).append(obj)
    for name, rows in sets.items():
        write_jsonl(FOLDER / f"{name}.jsonl.gz", rows)
    report = {"dropped": dropped, **{name: {"lines": len(rows), "shapes": Counter(shape(o) for o in rows)}
                                     for name, rows in sets.items()}}
    if args.check:
        report["vs_bfcl"] = bfcl_check([o for rows in sets.values() for o in rows], args.bfcl)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
