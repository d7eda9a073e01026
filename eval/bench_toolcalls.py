"""Accuracy of the function-calling pipeline on our own held-out requests, by shape, for choosing ToolSettings.

    GORILLA_THREADS=2 .venv/bin/python eval/bench_toolcalls.py [--model embedded] [--set copy_bias=0 ...] \
        [--file eval/toolcalls/heldout.jsonl.gz] [--limit N]

Each line (gorilla.training.tooldata's format: request, functions, calls) is answered by
`toolcalls.call_tools` (tool_choice "auto", parallel calls allowed) and checked with our BFCL AST rules
(`scoring.bfcl.check_case`): the written arguments are the only allowed values, optional parameters the
writer left out may be left out, and `calls: []` expects no call. Never BFCL's files: those are scored
once, with the settings chosen here. Prints one JSON object: settings, n, accuracy per shape and overall,
seconds per case.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

from gorilla.data.paths import REPO_ROOT
from gorilla.models import load_backend
from gorilla.models.embedded import for_tools
from gorilla.scoring.bfcl import check_case
from gorilla.toolcalls import ToolSettings, call_tools
from gorilla.training.tooldata import ToolPair, read_tool_pairs

sys.path.insert(0, str(Path(__file__).parent))
from build_toolcalls import shape  # noqa: E402


def ground_truth(pair: ToolPair) -> list[dict]:
    """The pair's calls as BFCL possible answers: each written value the only one allowed, "" for the rest."""
    specs = {f.name: f for f in pair.functions}
    out = []
    for call in pair.calls:
        props = specs[call.name].properties
        allowed = {k: [_allowed(v)] for k, v in call.arguments.items()}
        allowed |= {k: [""] for k in props if k not in call.arguments}
        out.append({call.name: allowed})
    return out


def _allowed(value: object) -> object:
    """A written value as a possible answer: inside a dict every key's value is a list of allowed ones."""
    if isinstance(value, dict):
        return {k: [_allowed(v)] for k, v in value.items()}
    return [_allowed(v) for v in value] if isinstance(value, list) else value


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="embedded")
    ap.add_argument("--file", default=str(REPO_ROOT / "eval" / "toolcalls" / "heldout.jsonl.gz"))
    ap.add_argument("--set", nargs="*", default=[])
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--out", type=Path, help="also write one JSON line per case: request, calls, verdict")
    args = ap.parse_args()
    settings = ToolSettings().override(args.set)
    backend = load_backend("local", for_tools(args.model))
    pairs = read_tool_pairs(args.file)[: args.limit or None]
    right, total, start = Counter(), Counter(), time.perf_counter()
    for pair in pairs:
        answer = call_tools(backend, list(pair.messages), list(pair.functions), settings=settings)
        docs = [{"name": f.name, "parameters": f.parameters} for f in pair.functions]
        kind = shape({"calls": [c.as_dict() for c in pair.calls]})
        verdict = check_case([c.as_dict() for c in answer.calls], ground_truth(pair), docs,
                             "irrelevance" if kind == "no_call" else "simple")
        if args.out:
            with args.out.open("a", encoding="utf-8") as f:
                f.write(json.dumps({"request": pair.messages[-1]["content"], "shape": kind, "ok": verdict.ok,
                                    "reason": verdict.reason, "calls": [c.as_dict() for c in answer.calls],
                                    "expected": [c.as_dict() for c in pair.calls]}) + "\n")
        right[kind] += verdict.ok
        total[kind] += 1
    n = sum(total.values())
    print(json.dumps({"model": args.model, "set": args.set, "n": n, "accuracy": round(sum(right.values()) / n, 4),
                      "by_shape": {k: f"{right[k]}/{total[k]}" for k in sorted(total)},
                      "s_per_case": round((time.perf_counter() - start) / n, 2)}))


if __name__ == "__main__":
    main()
