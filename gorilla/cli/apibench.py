"""`gorilla apibench ...`: build an APIBench-style dataset from hub docs, and diff it against upstream."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from gorilla.cli.app import apibench_app, progress_bar
from gorilla.errors import GorillaError

if TYPE_CHECKING:
    from gorilla.data import Hub


@apibench_app.command("build")
def build(
    hub: Annotated[str, typer.Option("--hub", help="torchhub, tensorflowhub, huggingface, apizoo, openapi (OpenAPI 3.x "
                                                   "JSON/YAML) or tools (a function-calling tools list): doc formats; "
                                                   "or a hub you added: its train/eval splits are built from its "
                                                   "database into its folder and registered.")],
    docs: Annotated[Path | None, typer.Option("--docs", help="Docs folder (or one page, or an API-database .jsonl); "
                                              "default for a hub you added: its database.")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Output folder: api.jsonl, train.json, eval.json, "
                                             "manifest.json (default for a hub you added: <its folder>/selfinstruct)."
                                             )] = None,
    config: Annotated[Path | None, typer.Option("--config", help="TOML settings ([defaults], [<hub>]); flags win.")] = None,
    teacher: Annotated[str | None, typer.Option(help="embedded (SmolLM2, default), tiny, an HF id / model dir / .gguf, "
                                                     "or openai:URL.")] = None,
    teacher_model: Annotated[str | None, typer.Option(help="Model name at an OpenAI-compatible endpoint.")] = None,
    concurrency: Annotated[int | None, typer.Option(help="Concurrent requests to an endpoint (default 8).")] = None,
    no_instructions: Annotated[bool, typer.Option("--no-instructions", help="Only parse and write the API database.")] = False,
    keep_going: Annotated[bool, typer.Option("--keep-going", help="Skip malformed sources instead of stopping.")] = False,
    per_api: Annotated[int | None, typer.Option(help="Instructions asked of the teacher per API (default 10).")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Prompts per teacher call (default 4).")] = None,
    max_new_tokens: Annotated[int | None, typer.Option(help="Teacher tokens per API (default 320).")] = None,
    roundtrip_k: Annotated[int | None, typer.Option(help="Keep a request only if BM25 over the database ranks its API "
                                                          "in the top K (default 0: off).")] = None,
    eval_fraction: Annotated[float | None, typer.Option(help="Share of APIs held out for eval.json (default 0.1).")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed for seed-example choice and the split (default 0).")] = None,
    limit: Annotated[int | None, typer.Option(help="Only the first N APIs (smoke runs).")] = None,
    seeds: Annotated[Path | None, typer.Option(help="Seed examples file (default: the packaged gorilla/resources/seeds/<hub>.json; "
                                                    "apizoo.json for a hub you added).")] = None,
) -> None:
    """Parse hub docs into an API database, write teacher instructions for it, split by API.

    Example: gorilla apibench build --hub torchhub --docs ../shared/docs/torchhub --out build/torchhub --no-instructions
    """
    from gorilla.apibench.build import build as run
    from gorilla.apibench.build import load_config

    own = _own_hub(hub, docs)
    if own is not None:  # a hub you added: built from its database, into its folder (API Zoo's seeds: build.py)
        from gorilla.data.registry import hub_folder

        docs, out = own.api_db, out or (own.folder or hub_folder(own.name)) / "selfinstruct"

    cfg = load_config(config, hub, {
        "docs": docs, "out": out, "teacher": teacher, "teacher_model": teacher_model, "concurrency": concurrency,
        "instructions": False if no_instructions else None, "keep_going": True if keep_going else None,
        "per_api": per_api, "batch_size": batch_size, "max_new_tokens": max_new_tokens, "roundtrip_k": roundtrip_k, "eval_fraction": eval_fraction,
        "seed": seed, "limit": limit, "seeds": seeds})
    bar, progress = progress_bar("teacher", "APIs/min", scale=60)
    try:
        m = run(cfg, report=_to_stderr, progress=progress)
    finally:
        bar.stop()
    _print_summary(m, cfg.out)
    if own is not None and m["instructions"]:
        from gorilla.apibench.userhub import registered_with_split

        hub = registered_with_split(own, cfg.out, m["instructions"])
        kept = [f"{what} ({path})" for what, path in (("train split", hub.train), ("eval split", hub.eval)) if path]
        print(f"{own.name}: registered {' and '.join(kept) or 'no split (no request was kept)'}; "
              f"see gorilla hub show {own.name}")


def _own_hub(hub: str, docs: Path | None) -> Hub | None:
    """The registered hub `--hub` names, or None for a doc format (PARSERS). `apizoo` is both a format and a
    likely hub name: without --docs, a registered hub of that name wins."""
    from gorilla.apibench.build import PARSERS
    from gorilla.data import get_hub
    from gorilla.data.hubs import resolve_alias
    from gorilla.data.registry import read_registry

    key = resolve_alias(hub)
    if key in PARSERS and (docs is not None or key not in read_registry()):
        return None
    if docs is not None:
        raise GorillaError(f"--docs: hub {key!r} builds from its own database; change its sources with "
                           f"gorilla hub add {key} SOURCE...")
    return get_hub(key)


def _to_stderr(line: str) -> None:
    """Progress notes go to stderr, keeping stdout for the summary a script may read."""
    print(line, file=sys.stderr)


def _print_summary(m: dict[str, Any], out: Path) -> None:
    """What the build found, kept and wrote, from its manifest `m`."""
    f = m["files"]
    print(f"{m['hub']}: {m['apis']} APIs ({m['records_found']} records found, {m['duplicates_merged']} duplicates merged, "
          f"{m['records_skipped']} records skipped)")
    print(f"files: {f['used']} used, {f['without_api']} without an API, {f['skipped']} skipped (malformed) of {f['files']}")
    if m["instructions"]:
        i = m["instructions"]
        print(f"instructions: {i['kept']} kept of {i['candidates']} ({i['train_pairs']} train, {i['eval_pairs']} eval); "
              f"dropped: " + ", ".join(f"{k} {v}" for k, v in i["dropped"].items()))
    print(f"wrote {out}/ (api.jsonl{', train.json, eval.json' if m['instructions'] else ''}, manifest.json)")


@apibench_app.command("diff")
def diff(
    built: Annotated[Path, typer.Argument(help="Our API database (api.jsonl).")],
    upstream: Annotated[Path, typer.Argument(help="Upstream API database, e.g. ../shared/apibench/api/torchhub_api.jsonl.")],
    hub: Annotated[str | None, typer.Option(help="torchhub, tensorflowhub, huggingface (default: from file names).")] = None,
    only_docs: Annotated[Path | None, typer.Option(help="TF Hub docs folder: count only upstream handles with a page there.")] = None,
    show_extra: Annotated[int, typer.Option(help="How many extra calls to list.")] = 20,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the figures as JSON.")] = None,
) -> None:
    """How many upstream API calls the build reproduces; the missing and the extra ones.

    Example: gorilla apibench diff build/torchhub/api.jsonl ../shared/apibench/api/torchhub_api.jsonl
    """
    from gorilla.apibench import diff as d
    from gorilla.apibench.tfhub import files, handle_from_path
    from gorilla.data import atomic_write

    only = {h for p in files(only_docs) if (h := handle_from_path(p))} if only_docs else None
    result = d.diff(built, upstream, hub, only)
    print(d.render(result, show_extra))
    if json_out:
        with atomic_write(json_out) as f:
            json.dump(result.as_dict(), f, indent=2)
