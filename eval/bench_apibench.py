"""APIBench builder, measured: database coverage against upstream, and instruction quality.

  diff:     build each hub's database from ../shared/docs (no instructions) and diff it against upstream.
  quality:  feed the example-memory retriever with a set of train pairs and score it on the hub's
            upstream eval set; arms run side by side in one process, on one corpus (upstream's DB).

Our pairs carry our spelling of each call; to be looked up in upstream's database they are mapped to
the upstream entry with the same identity (`gorilla.calls.call_key`), and pairs whose API
upstream lacks are dropped (counted). Results go to eval/results/apibench.json (merged by section)
and eval/results/apibench.md.

  .venv/bin/python eval/bench_apibench.py diff
  .venv/bin/python eval/bench_apibench.py quality --hub torchhub --ours DIR   # DIR: `gorilla apibench build` output
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from gorilla.apibench import build as builder
from gorilla.apibench.diff import diff
from gorilla.apibench.tfhub import files as tf_files
from gorilla.apibench.tfhub import handle_from_path
from gorilla.calls import call_key
from gorilla.data import ApiBenchPaths, read_jsonl, write_jsonl

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "eval" / "results"
DOCS = ROOT.parent / "shared" / "docs"


def _save(section: str, value) -> dict:
    path = RESULTS / "apibench.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    data[section] = value
    RESULTS.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")
    return data


def run_diff(args) -> None:
    paths = ApiBenchPaths.resolve(args.data_dir)
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for hub, docs in (("torchhub", DOCS / "torchhub"), ("tensorflowhub", DOCS / "tfhub")):
            t0 = time.perf_counter()
            m = builder.build(builder.BuildConfig(hub=hub, docs=docs, out=Path(tmp) / hub, instructions=False),
                              report=lambda _: None)
            seconds = time.perf_counter() - t0
            built = Path(tmp) / hub / "api.jsonl"
            full = diff(built, paths.api_db(hub), hub)
            row = {"docs_files": m["files"]["files"], "files_with_api": m["files"]["used"], "apis_built": m["apis"],
                   "duplicates_merged": m["duplicates_merged"], "build_seconds": round(seconds, 2),
                   "upstream_distinct": full.upstream, "reproduced": len(full.reproduced),
                   "coverage": round(full.coverage, 4), "missing": full.missing, "extra": len(full.extra)}
            if hub == "tensorflowhub":
                have = {h for p in tf_files(docs) if (h := handle_from_path(p))}
                shipped = diff(built, paths.api_db(hub), hub, have)
                row |= {"upstream_with_page": shipped.upstream, "reproduced_with_page": len(shipped.reproduced),
                        "coverage_with_page": round(shipped.coverage, 4), "missing_with_page": shipped.missing}
            out[hub] = row
            print(hub, {k: v for k, v in row.items() if not isinstance(v, list)})
    render(_save("diff", out))


def project(pairs_files: list[Path], hub: str, upstream_db: Path, out: Path) -> dict:
    """Our pairs rewritten onto upstream's entries (same API identity); the rest dropped and counted."""
    upstream = {}
    for _, obj in read_jsonl(upstream_db):
        upstream.setdefault(call_key(obj["api_call"]), obj)
    kept, dropped, apis = [], 0, set()
    for f in pairs_files:
        for _, p in read_jsonl(f, allow_empty=True):
            entry = upstream.get(call_key(p["api_call"]))
            if entry is None:
                dropped += 1
                continue
            apis.add(entry["api_call"])
            kept.append({**p, "api_call": entry["api_call"], "api_data": entry})
    write_jsonl(out, kept)
    return {"pairs": len(kept), "dropped_not_upstream": dropped, "upstream_apis_covered": len(apis)}


def description_pairs(api_file: Path) -> list[dict]:
    """Control arm without a teacher: each API's own description used as the instruction."""
    return [{"code": f"###Instruction: {o.get('description', '')}\n###Output: ", "api_call": o["api_call"],
             "provider": o.get("framework", ""), "api_data": o} for _, o in read_jsonl(api_file) if o.get("description")]


def run_quality(args) -> None:
    from gorilla.data import get_hub
    from gorilla.retrieval import Corpus, get_retriever
    from gorilla.retrieval.benchmark import eval_queries, evaluate

    paths = ApiBenchPaths.resolve(args.data_dir)
    hub = args.hub
    corpus = Corpus.load(hub, paths.api_db(hub))
    queries = eval_queries(get_hub(hub, args.data_dir))
    ours_dirs = [Path(d) for d in args.ours]
    manifest = json.loads((ours_dirs[0] / "manifest.json").read_text())
    rows, arms = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for i, d in enumerate(ours_dirs):
            m = json.loads((d / "manifest.json").read_text())["instructions"]
            label = f"ours: {m['teacher']}, roundtrip_k={m['config'].get('roundtrip_k', 0)}, {m['kept']} kept"
            files = [p for p in (d / "train.json", d / "eval.json") if p.exists()]
            arms[label] = (tmp / f"ours{i}.json", project(files, hub, paths.api_db(hub), tmp / f"ours{i}.json"))
        ours_dir = ours_dirs[0]
        write_jsonl(tmp / "desc_raw.json", description_pairs(ours_dir / "api.jsonl"))
        arms["control: API descriptions"] = (tmp / "desc.json", project([tmp / "desc_raw.json"], hub, paths.api_db(hub),
                                                                        tmp / "desc.json"))
        if paths.train(hub).exists():
            n = sum(1 for _ in read_jsonl(paths.train(hub)))
            arms["upstream train"] = (paths.train(hub), {"pairs": n})
        for name, (train_file, info) in arms.items():
            if info["pairs"] == 0:
                rows.append({"arm": name, **info, "note": "no pairs"})
                continue
            t0 = time.perf_counter()
            r = get_retriever("examples", hub, train_files=[train_file], corpus=corpus, cache=tmp / "idx")
            row = {"arm": name, **info, **evaluate(r, queries, hub), "seconds": round(time.perf_counter() - t0, 1)}
            rows.append(row)
            print(row)
    inst = manifest.get("instructions") or {}
    seconds = args.teacher_seconds or inst.get("teacher_seconds_total") or inst.get("generate_seconds")
    _save(f"quality_{hub}", {"eval_queries": len(queries), "teacher": inst.get("teacher"),
                             "generate_seconds": seconds, "kept": inst.get("kept"),
                             "candidates": inst.get("candidates"), "dropped": inst.get("dropped"),
                             "apis": inst.get("apis"), "apis_with_pairs": inst.get("apis_with_pairs"),
                             "ours": [str(d) for d in ours_dirs], "arms": rows})
    render(json.loads((RESULTS / "apibench.json").read_text()))


# (hub, arm, response files' stem, decodings, questions): eval/gpu/arms.sh (torchhub) and arms2.sh (the others)
ARMS = [("torchhub", "upstream torchhub_train.json (812 pairs)", "training_gpu/ft_0shot", ("off", "db"), 186),
        ("torchhub", "ours: smollm2-135m-instruct teacher (79 pairs)", "apibench_model_arm/ours_0shot", ("off", "db"), 186),
        ("torchhub", "control: API descriptions (126 pairs)", "apibench_model_arm/control_0shot", ("off", "db"), 186),
        ("tensorflowhub", "ours: smollm2-135m-instruct teacher (30 pairs)", "apibench_model_arm/tf_ours_0shot", ("off",), 300),
        ("tensorflowhub", "control: API descriptions (37 pairs)", "apibench_model_arm/tf_control_0shot", ("off",), 300),
        ("huggingface", "ours: smollm2-135m-instruct teacher (38 pairs)", "apibench_model_arm/hf_ours_0shot", ("off",), 300),
        ("huggingface", "control: API descriptions (39 pairs)", "apibench_model_arm/hf_control_0shot", ("off",), 300)]


def run_model(args) -> None:
    """Score the fine-tuned-model arm: SmolLM2-135M trained 102 steps on each instruction source (on an H100),
    answering the hub's upstream eval questions 0-shot, free (and for torchhub also constrained to the database)."""
    from gorilla.scoring import Scorer

    scorer, rows = Scorer(args.data_dir), []
    for hub, arm, stem, decodings, n in ARMS:
        row = {"hub": hub, "arm": arm, "questions": n}
        for decoding in decodings:
            for mode in ("compat", "strict"):
                s = scorer.score_file(RESULTS / f"{stem}_{decoding}.jsonl", hub, mode)
                row[f"{decoding}_{mode}"] = [round(s.accuracy, 3), round(s.hallucination, 3)]
        rows.append(row)
    render(_save("model_arm", {"steps": 102, "arms": rows}))


def render(data: dict) -> None:
    lines = ["# APIBench builder: measured results", "",
             "Generated by `eval/bench_apibench.py` (commands in each section). Numbers are from one run on this machine.", ""]
    if d := data.get("diff"):
        th, tf = d["torchhub"], d["tensorflowhub"]
        lines += ["## Database coverage vs upstream", "", "`.venv/bin/python eval/bench_apibench.py diff`", "",
                  "| hub | doc pages | APIs built | upstream distinct calls | reproduced | coverage | build s |",
                  "|---|---|---|---|---|---|---|",
                  f"| torchhub | {th['docs_files']} | {th['apis_built']} | {th['upstream_distinct']} | {th['reproduced']} | "
                  f"{th['coverage']:.1%} | {th['build_seconds']} |",
                  f"| tensorflowhub (all upstream handles) | {tf['docs_files']} | {tf['apis_built']} | {tf['upstream_distinct']} | "
                  f"{tf['reproduced']} | {tf['coverage']:.1%} | {tf['build_seconds']} |",
                  f"| tensorflowhub (handles with a shipped page) | | | {tf['upstream_with_page']} | {tf['reproduced_with_page']} | "
                  f"{tf['coverage_with_page']:.1%} | |", "",
                  f"TorchHub missing: {', '.join(th['missing']) or 'none'}.", "",
                  f"TF Hub missing among handles with a page: {', '.join(tf['missing_with_page']) or 'none'}.", ""]
    for key in sorted(k for k in data if k.startswith("quality_")):
        q = data[key]
        hub = key.split("_", 1)[1]
        lines += [f"## Instruction quality: {hub}", "",
                  f"Teacher `{q['teacher']}`: {q['kept']} pairs kept of {q['candidates']} candidates for {q['apis']} APIs "
                  f"({q['apis_with_pairs']} APIs with at least one pair), teacher time {q['generate_seconds']} s "
                  "(one thread, niced, shared 2-core machine). "
                  f"Dropped per filter: {', '.join(f'{k} {v}' for k, v in (q['dropped'] or {}).items())}.", "",
                  f"Example-memory retriever on upstream's {hub} eval set ({q['eval_queries']} queries), each arm's pairs "
                  "as its only memory, corpus = upstream's API database:", "",
                  f"`.venv/bin/python eval/bench_apibench.py quality --hub {hub} --ours DIR`", "",
                  "| memory | pairs | recall@1 | recall@5 | recall@10 | mrr | domain@1 |", "|---|---|---|---|---|---|---|"]
        for r in q["arms"]:
            if "recall@1" in r:
                lines.append(f"| {r['arm']} | {r['pairs']} | {r['recall@1']:.3f} | {r['recall@5']:.3f} | {r['recall@10']:.3f} | "
                             f"{r['mrr']:.3f} | {r['domain@1']:.3f} |")
            else:
                lines.append(f"| {r['arm']} | 0 | - | - | - | - | - |")
        lines.append("")
    if m := data.get("model_arm"):
        lines += ["## Instruction quality through the fine-tuned model", "",
                  f"SmolLM2-135M-Instruct fine-tuned with the `smollm2-135m` preset for the same {m['steps']} steps on each "
                  "source of instructions (one epoch of upstream's torchhub pairs, many epochs of the small sets), on an "
                  "H100 (`eval/gpu/arms.sh`, `eval/gpu/arms2.sh`), then 0-shot on the hub's upstream eval questions (all 186 "
                  "for torchhub, the first 300 for the others), scored here (`.venv/bin/python eval/bench_apibench.py "
                  "model`). accuracy / hallucination:", "",
                  "| hub | trained on | questions | free, compat | free, strict | constrained to the DB, compat | constrained, strict |",
                  "|---|---|---|---|---|---|---|"]
        for r in m["arms"]:
            cells = [f"{r[k][0]:.3f} / {r[k][1]:.3f}" if k in r else "-"
                     for k in ("off_compat", "off_strict", "db_compat", "db_strict")]
            lines.append(f"| {r['hub']} | {r['arm']} | {r['questions']} | " + " | ".join(cells) + " |")
        lines += ["", "Free decoding shows what the instructions taught. On torchhub, the teacher's pairs give a model that "
                  "writes the right API for 0.60 of the questions and invents a call for 0.31; trained on descriptions it "
                  "invents almost every call (0.93: it learnt the families, not the exact ids); upstream's GPT-4-written "
                  "pairs give 0.85 with none invented. Constrained to the database the three land within 0.03 (0.82-0.85): "
                  "the database then supplies the exact ids weak instructions did not teach. On TF Hub and Hugging Face, "
                  "where generated pairs are the only training data, the teacher's pairs beat descriptions (0.29 vs 0.00, "
                  "0.16 vs 0.05) but leave hallucination at 0.38 and 0.20: with a 135M teacher those hubs are better served "
                  "by the untrained model with retrieval and constrained decoding (eval/results/generation.md).", ""]
    (RESULTS / "apibench.md").write_text("\n".join(lines))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["diff", "quality", "model"])
    ap.add_argument("--hub", default="torchhub")
    ap.add_argument("--ours", action="append", default=[],
                    help="a `gorilla apibench build` output folder with train.json/eval.json (repeatable)")
    ap.add_argument("--data-dir")
    ap.add_argument("--teacher-seconds", type=float,
                    help="teacher wall time of the original run, when the build dir was re-filtered later")
    args = ap.parse_args()
    {"diff": run_diff, "quality": run_quality, "model": run_model}[args.what](args)


if __name__ == "__main__":
    main()
