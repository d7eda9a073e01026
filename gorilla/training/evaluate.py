"""After training: generate on each hub's eval set (0-shot and retriever-aware) and score compat + strict.

Generation goes through `gorilla.pipeline` (the same prompts as `gorilla generate`), so a
figure here is what a user of `--model OUT` gets. Response files are resumable; results land
in OUT/eval/results.json.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from gorilla.data import atomic_write
from gorilla.training.config import TrainConfig


def model_dir(cfg: TrainConfig) -> Path:
    """The merged model when there is one (no adapter folding at load), else OUT."""
    out = Path(cfg.out)
    return out / "merged" if (out / "merged" / "config.json").is_file() else out


def settings(cfg: TrainConfig) -> list[tuple[str, str | None, str]]:
    """(name, retriever, constrain): free decoding always; constrained decoding too with eval_constrained."""
    rows = [("0_shot", None, "off")]
    if cfg.retriever:
        rows.append((cfg.retriever, cfg.retriever, "off"))
    if cfg.eval_constrained:
        rows.append(("0_shot+constrain_db", None, "db"))
        if cfg.retriever:
            rows.append((f"{cfg.retriever}+constrain_retrieved", cfg.retriever, "retrieved"))
    return rows


def evaluate_model(cfg: TrainConfig, batch_size: int = 8) -> dict[str, Any]:
    from gorilla.models.local import LocalBackend
    from gorilla.pipeline import Gorilla, PipelineConfig, eval_questions, generate_file
    from gorilla.scoring import Scorer

    out = Path(cfg.out) / "eval"
    backend = LocalBackend.load(str(model_dir(cfg)))
    scorer = Scorer(cfg.data_dir or None)
    # earlier settings stay (an --eval-only run with another --retriever adds its rows)
    previous = json.loads((out / "results.json").read_text())["results"] if (out / "results.json").is_file() else []
    results: list[dict[str, Any]] = []
    for hub in cfg.hubs:
        questions = eval_questions(hub, cfg.data_dir or None)
        questions = questions[: cfg.eval_limit] if cfg.eval_limit else questions
        for name, retriever, constrain in settings(cfg):
            pipe = Gorilla(PipelineConfig(hub=hub, model=str(model_dir(cfg)), retriever=retriever, k=cfg.rat_k,
                                          constrain=constrain, data_dir=cfg.data_dir or None), backend=backend)
            path = out / f"responses_{hub}_{name}.jsonl"
            t0 = time.monotonic()

            def progress(done: int, total: int, hub: str = hub, name: str = name, t0: float = t0) -> None:
                dt = time.monotonic() - t0
                print(f"eval {hub} {name}: {done}/{total} questions  {dt:.0f}s", flush=True)

            stats = generate_file(pipe, questions, path, batch_size=batch_size, progress=progress)
            for mode in ("compat", "strict") if scorer.hub(hub).predefined else ("strict",):  # compat: APIBench's
                fig = scorer.score_file(path, hub, mode).figures()
                results.append({"hub": hub, "setting": name, "retriever": retriever or "none", "constrain": constrain,
                                "mode": mode, "n": fig["n"], "accuracy": round(fig["accuracy"], 4),
                                "hallucination": round(fig["hallucination"], 4), "error": round(fig["error"], 4),
                                "generate_s": stats["seconds"], "file": str(path)})
                print(f"  {hub} {name} {mode}: accuracy {fig['accuracy']:.3f}  hallucination {fig['hallucination']:.3f}"
                      f"  (n={fig['n']})", flush=True)
            fresh = {(r["hub"], r["setting"], r["mode"]) for r in results}
            kept = [r for r in previous if (r["hub"], r["setting"], r["mode"]) not in fresh]
            report = {"model": str(model_dir(cfg)), "results": kept + results}
            with atomic_write(out / "results.json") as f:  # after every setting: an interruption keeps what is done
                json.dump(report, f, indent=2)
    return report
