"""Assemble the shipped per-API instructions from the hand-written files, through self-instruct's filters.

    .venv/bin/python eval/build_instructions.py [--raw DIR] [--check]

DIR (default eval/instructions/, committed) holds the writers' files, `hf_*.jsonl[.gz]` and `tf_*.jsonl[.gz]`
(`_r1`: first round, five requests per record; `_r2_<slice>`: Hugging Face's second round), one line per API record:
`{"api_index": N, "instructions": [...]}` (how they were written: gorilla/resources/instructions/CARD.md).
Each request goes through `selfinstruct.filter_requests` (length, names the API, near-duplicate, the
call parses and maps back to its entry); the kept ones are written to
`gorilla/resources/instructions/<hub>.jsonl.gz` as `instruction, api_call, domain, api_index`, and the
filter counts to eval/results/instructions.json. `--check` adds the contamination measures against
each hub's eval instructions (gorilla.apibench.contamination), calibrated on upstream's torchhub split.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from gorilla.apibench.contamination import hub_contamination
from gorilla.apibench.selfinstruct import SelfInstructConfig, filter_requests
from gorilla.data import ApiBenchPaths, read_jsonl, write_jsonl
from gorilla.data.paths import REPO_ROOT, instructions_file

PREFIX = {"huggingface": "hf", "tensorflowhub": "tf"}
# self-instruct's filters, except that 3- and 4-word needs ("Caption my vacation photos.") are real requests
HANDWRITTEN = SelfInstructConfig(min_words=3)
RESULTS = REPO_ROOT / "eval" / "results" / "instructions.json"


def written(raw: Path, prefix: str) -> dict[int, list[str]]:
    """api_index -> requests, from every `<prefix>_*.jsonl` in `raw`."""
    out: dict[int, list[str]] = {}
    for f in sorted(raw.glob(f"{prefix}_*.jsonl*")):
        for _, obj in read_jsonl(f):
            out.setdefault(int(obj["api_index"]), []).extend(str(t) for t in obj["instructions"])
    return out


def build(hub: str, raw: Path, paths: ApiBenchPaths) -> dict:
    db = [obj for _, obj in read_jsonl(paths.api_db(hub))]
    kept, counts = filter_requests(db, hub, written(raw, PREFIX[hub]), HANDWRITTEN)
    rows = [{"instruction": t, "api_call": db[i]["api_call"], "domain": db[i]["domain"], "api_index": i} for i, t in kept]
    out = instructions_file(hub)
    if not rows:
        raise SystemExit(f"no instructions for {hub} in {raw}")
    write_jsonl(out, rows)
    return {"hub": hub, "file": str(out.relative_to(REPO_ROOT)), "records_written_for": counts["apis"],
            "distinct_calls": counts["apis_with_pairs"], "written": counts["candidates"], "kept": counts["kept"],
            "dropped": {k: v for k, v in counts["dropped"].items() if v}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--raw", type=Path, default=REPO_ROOT / "eval" / "instructions")
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    paths = ApiBenchPaths.resolve()
    report = {"built": [build(h, args.raw, paths) for h in PREFIX]}
    if args.check:
        report["contamination"] = {"calibration: upstream torchhub train vs eval": hub_contamination("torchhub")}
        report["contamination"] |= {f"ours vs {h} eval": hub_contamination(h) for h in PREFIX}
    RESULTS.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
