"""`gorilla eval score`, `gorilla eval report` and `gorilla eval bfcl`: torch-free, fast."""

from __future__ import annotations

import json
import os
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from gorilla.cli.app import BackendOpt, BaseUrlOpt, DataDirOpt, EndpointKeyOpt, ModelOpt, eval_app
from gorilla.errors import GorillaError

if TYPE_CHECKING:
    from gorilla.scoring import Scorer


class Mode(StrEnum):
    compat = "compat"
    strict = "strict"


class Format(StrEnum):
    table = "table"
    json = "json"


Responses = Annotated[list[Path], typer.Argument(help="Response JSONL files (question_id, text per line).", show_default=False)]
HubOpt = Annotated[str | None, typer.Option("--hub", help="torchhub, tensorflowhub, huggingface, or a hub you added "
                                                           "(default: the APIBench hub each file name names).")]
NoCache = Annotated[bool, typer.Option("--no-cache", help="Do not reuse or store compat match results in the user cache.")]


def _scorer(data_dir: Path | None, no_cache: bool) -> Scorer:
    """The scorer both commands use; imported here so that `--help` stays light."""
    from gorilla.scoring import Scorer

    return Scorer(data_dir, cache=not no_cache)


@eval_app.command("score")
def score(
    responses: Responses,
    hub: HubOpt = None,
    mode: Annotated[Mode | None, typer.Option(help="compat: the reference scorer's rules exactly (APIBench's hubs "
                                                   "only; their default); strict: argument-exact (any hub; the "
                                                   "default for the others).", show_default=False)] = None,
    format: Annotated[Format, typer.Option("--format", help="table, or one JSON object per file per line.")] = Format.table,
    verdicts: Annotated[Path | None, typer.Option(help="Write one JSON verdict per response (one input file only).")] = None,
    data_dir: DataDirOpt = None,
    no_cache: NoCache = False,
    api_db: Annotated[Path | None, typer.Option("--api-db", help="Score against this API database (strict mode; its "
                                                "eval split is the eval.json beside it) instead of --hub.",
                                                show_default=False)] = None,
) -> None:
    """Accuracy and hallucination of response files by AST subtree matching.

    Example: gorilla eval score ../shared/apibench/responses/torchhub/*.jsonl

    Strict, as JSON: gorilla eval score --mode strict --format json out/answers.jsonl --hub torchhub
    """
    from gorilla.data import adhoc_hub
    from gorilla.data.jsonl import write_jsonl
    from gorilla.scoring.score import verdict_rows

    if verdicts:
        _check_verdicts(verdicts, responses)
    if hub is not None and api_db is not None:
        raise GorillaError("give --hub or --api-db, not both")
    scorer = _scorer(data_dir, no_cache)
    target = adhoc_hub(api_db) if api_db is not None else hub
    if mode is None:  # compat where the reference scorer applies (APIBench's hubs), strict elsewhere
        mode = Mode.compat if target is None or scorer.hub(target).predefined else Mode.strict
    results = scorer.score_files(responses, target, mode.value, workers=os.cpu_count() or 1)
    if verdicts:
        try:
            write_jsonl(verdicts, verdict_rows(results[0]))
        except OSError as e:
            raise GorillaError(f"--verdicts {verdicts}: cannot write: {e.strerror or e}") from None
    if format is Format.json:
        for r in results:
            print(json.dumps(r.figures()))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"APIBench scores ({mode.value} mode)")
    for col in ("file", "hub", "n", "accuracy", "hallucination", "error"):
        table.add_column(col, justify="left" if col in ("file", "hub") else "right", overflow="fold")
    for r in results:
        table.add_row(Path(r.file).name, r.hub, str(r.n), f"{r.accuracy:.4f}", f"{r.hallucination:.4f}", f"{r.error:.4f}")
    Console().print(table)


def _check_verdicts(path: Path, responses: list[Path]) -> None:
    """Refuse, before any scoring, a verdicts path that cannot be written as asked: one file for one input, not
    a directory, and in a directory that exists (a typo there should not silently create a tree)."""
    if len(responses) != 1:
        raise GorillaError("--verdicts takes exactly one responses file")
    if path.is_dir():
        raise GorillaError(f"--verdicts {path}: is a directory; give a file, e.g. {path / 'verdicts.jsonl'}")
    if not path.parent.is_dir():
        raise GorillaError(f"--verdicts {path}: directory {path.parent} does not exist; create it first")


@eval_app.command("report")
def report(
    responses: Responses,
    out: Annotated[Path, typer.Option("--out", help="Folder for report.md and report.png.")],
    hub: HubOpt = None,
    data_dir: DataDirOpt = None,
    no_cache: NoCache = False,
) -> None:
    """A markdown table and a PNG bar chart (accuracy, hallucination, error per file, both modes).

    Example: gorilla eval report ../shared/apibench/responses/*/*FT*.jsonl --out report/
    """
    from gorilla.scoring.report import write_report

    scorer = _scorer(data_dir, no_cache)
    compat = scorer.score_files(responses, hub, "compat", workers=os.cpu_count() or 1)
    strict = scorer.score_files(responses, hub, "strict")
    md, png = write_report(list(zip(compat, strict, strict=True)), out)
    print(f"wrote {md} and {png}")


@eval_app.command("bfcl")
def bfcl(
    files: Annotated[list[Path], typer.Argument(help="BFCL test files (BFCL_v4_<category>.json).", show_default=False)],
    responses: Annotated[Path | None, typer.Option("--responses", help="Score this results JSONL (one line per case "
                                                   "with id, calls ([{name, arguments}]) and text; calls are read "
                                                   "from text when absent) instead of running a model.")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Run the model on every case not yet in this results "
                                             "JSONL (resumable), then score it.")] = None,
    answers: Annotated[Path | None, typer.Option("--answers", help="Folder of possible answers (default: "
                                                 "possible_answer/ beside each file).")] = None,
    model: ModelOpt = "embedded",
    backend: BackendOpt = "local",
    base_url: BaseUrlOpt = None,
    api_key: EndpointKeyOpt = None,
    format: Annotated[Format, typer.Option("--format", help="table, or one JSON object per file per line.")] = Format.table,
    free: Annotated[bool, typer.Option("--free", help="With --out and a local model: decode freely (no call grammar) "
                                       "and read the calls from the text, to measure what the grammar adds.")] = False,
    setting: Annotated[list[str] | None, typer.Option("--setting", help="With --out: a decoder setting NAME=VALUE "
                                                      "(repeatable; gorilla.toolcalls.ToolSettings, e.g. more_bias=8)."
                                                      )] = None,
) -> None:
    """Accuracy of function calls on BFCL's Python categories, by BFCL's AST rules (docs/scoring.md): run a model
    on the cases (--out) or score results made elsewhere (--responses).

    Example: gorilla eval bfcl ../shared/bfcl/BFCL_v4_simple_python.json --out out/bfcl.jsonl

    Scoring only: gorilla eval bfcl ../shared/bfcl/BFCL_v4_simple_python.json --responses out/bfcl.jsonl
    """
    from gorilla.data.bfcl import load_results
    from gorilla.scoring.bfcl import score_files

    if (responses is None) == (out is None):
        raise GorillaError("gorilla eval bfcl: give --out RESULTS.jsonl (run the model) or --responses RESULTS.jsonl "
                           "(score only)")
    if out is not None:
        _run_bfcl(files, out, model, backend, base_url, api_key, free, setting or [])
    reports = score_files(files, load_results(responses or out), answers)
    if format is Format.json:
        for r in reports:
            print(json.dumps({key: r[key] for key in ("file", "category", "n", "correct", "accuracy")}))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="BFCL scores (AST check)")
    for col in ("file", "category", "n", "correct", "accuracy"):
        table.add_column(col, justify="left" if col in ("file", "category") else "right", overflow="fold")
    for r in reports:
        table.add_row(Path(r["file"]).name, r["category"], str(r["n"]), str(r["correct"]), f"{r['accuracy']:.4f}")
    Console().print(table)


def _run_bfcl(files: list[Path], out: Path, model: str, backend: str, base_url: str | None, api_key: str | None,
              free: bool, setting: list[str]) -> None:
    """Answer the files' cases into `out` (gorilla.toolcalls.run_bfcl), with a progress line on stderr."""
    import sys

    from gorilla.data.bfcl import load_cases
    from gorilla.models import load_backend
    from gorilla.models.embedded import for_tools
    from gorilla.toolcalls import ToolSettings, run_bfcl

    settings = ToolSettings(grammar=not free).override(setting)
    cases = [case for path in files for case in load_cases(path)]
    engine = load_backend(backend, for_tools(model) if backend == "local" else model, base_url=base_url,
                          api_key=api_key)

    def progress(done: int, total: int) -> None:
        print(f"\rbfcl: {done}/{total} cases", end="" if done < total else "\n", file=sys.stderr, flush=True)

    stats = run_bfcl(engine, cases, out, settings=settings, progress=progress)
    print(f"bfcl: {stats['answered']} answered, {stats['skipped']} already in {out}"
          + (f", {stats['seconds_per_case']} s per case" if stats["answered"] else ""), file=sys.stderr)
