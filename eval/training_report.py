"""Write eval/results/training.{md,json} from a finished `gorilla train ... --eval` run, beside Gorilla-7B's figures.

Usage: .venv/bin/python eval/training_report.py runs/smollm2-torchhub [--results-dir eval/results]
"""

from __future__ import annotations

import argparse
import json
import tomllib
from pathlib import Path

from gorilla.data import atomic_write
from gorilla.data.paths import REPO_ROOT

UPSTREAM = REPO_ROOT.parent / "shared" / "reference" / "upstream-scores.json"


def upstream_rows(hub: str) -> list[dict]:
    """Gorilla-7B (FT) figures for `hub` from the reference scorer (compat mode by definition)."""
    if not UPSTREAM.is_file():
        return []
    scores = json.loads(UPSTREAM.read_text())["scores"]
    rows = []
    for key, fig in scores.items():
        if key.startswith(f"{hub}/") and "Gorilla_FT" in key:
            setting = key.rsplit("Gorilla_FT_", 1)[1].removesuffix(".jsonl")
            rows.append({"model": "Gorilla-7B (upstream)", "setting": setting, "mode": "compat",
                         "accuracy": round(fig["accuracy"], 4), "hallucination": round(fig["hallucination"], 4)})
    return rows


def top_doc_wrong(path: str, hub: str) -> tuple[int, int] | None:
    """(questions whose first retrieved doc is not the gold API, questions with docs), from the responses' metadata."""
    from gorilla.data import ApiBenchPaths, load_api_db, load_eval, read_jsonl
    from gorilla.retrieval import normalize_call

    paths = ApiBenchPaths.resolve()
    db, gold = load_api_db(paths.api_db(hub)), load_eval(paths.eval(hub))
    wrong = total = 0
    for _, row in read_jsonl(path):
        ids = row.get("metadata", {}).get("retrieved") or []
        if ids:
            total += 1
            index = int(ids[0].split(":")[1])
            wrong += normalize_call(db[index].api_call) != normalize_call(gold[row["question_id"] - 1].api_data.api_call)
    return (wrong, total) if total else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("--results-dir", type=Path, default=REPO_ROOT / "eval" / "results")
    ap.add_argument("--note", default="", help="Where and how it ran (machine, threads), printed under the tables.")
    args = ap.parse_args()
    summary = json.loads((args.run / "train_summary.json").read_text())
    config = tomllib.loads((args.run / "train_config.toml").read_text())
    evals = json.loads((args.run / "eval" / "results.json").read_text())["results"]
    hubs = sorted({r["hub"] for r in evals})
    for r in evals:
        if (w := top_doc_wrong(r["file"], r["hub"])) is not None:
            r["eval_top_doc_wrong"], r["eval_with_docs"] = w
    report = {"run": str(args.run), "config": config, "training": summary, "results": evals,
              "upstream": {h: upstream_rows(h) for h in hubs}}
    with atomic_write(args.results_dir / "training.json") as f:
        json.dump(report, f, indent=2)

    s = summary
    lines = [
        "# Fine-tuning result",
        "",
        f"Base `{config['base']}` (preset `{config['preset']}`), {'LoRA r=' + str(config['lora_r']) if config['lora'] else 'full fine-tuning'}, "
        f"{s['epochs']} epochs / {s['steps']} steps, batch {config['batch_size']}x{config['grad_accum']}, lr {config['lr']}, "
        f"answers `{config['answer']}`, RAT rate {config['rat_rate']} with `{config['retriever'] or 'none'}` (k={config['rat_k']}).",
        "",
        "| training | value |", "|---|---|",
        f"| device | {s['device']} x{s['world_size']} |",
        f"| train / val examples | {s['train_examples']} / {s['val_examples']} (val split by {config['val_split']}) |",
        f"| wall time (training, last session) | {s['wall_s_this_session'] / 60:.1f} min |",
        f"| tokens/s (non-padding, last session) | {s['tokens_per_s_this_session']} |",
        f"| tokens seen | {s['tokens_seen']} |",
        f"| train loss / val loss | {s['train_loss']} / {s['val_loss']} |",
        f"| RAT prompts with docs / top doc wrong | {s['rat_prompts_with_docs']} / {s['rat_top_doc_wrong']} "
        f"({s['rat_top_doc_wrong_rate']:.1%}) |",
        "",
        "| model | hub | retriever (top doc is not the gold call) | decoding | mode | accuracy | hallucination | generate s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in evals:
        docs = f" ({r['eval_top_doc_wrong']}/{r['eval_with_docs']})" if "eval_top_doc_wrong" in r else ""
        lines.append(f"| ours | {r['hub']} | {r['retriever']}{docs} | "
                     f"{'free' if r['constrain'] == 'off' else 'constrained: ' + r['constrain']} "
                     f"| {r['mode']} | {r['accuracy']:.3f} | {r['hallucination']:.3f} | {r['generate_s']} |")
    for h in hubs:
        for u in report["upstream"][h]:
            lines.append(f"| {u['model']} | {h} | {u['setting']} | free | compat | {u['accuracy']:.3f} | {u['hallucination']:.3f} | |")
    if args.note:
        lines += ["", args.note]
    lines += ["", f"Reproduce: `make train-torchhub` (or `gorilla train --config {args.run}/train_config.toml --out DIR --eval`),",
              f"then `.venv/bin/python eval/training_report.py DIR`. Responses: `{args.run}/eval/responses_*.jsonl`."]
    with atomic_write(args.results_dir / "training.md") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
