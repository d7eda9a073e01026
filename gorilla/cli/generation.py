"""`gorilla query` (one answer) and `gorilla generate` (a questions file or eval split -> responses JSONL)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from gorilla.cli.app import (
    ApiDbOpt,
    DataDirOpt,
    HubOrAllOpt,
    MaybeHubOpt,
    PipelineOptions,
    app,
    pipeline_options,
    progress_bar,
)

if TYPE_CHECKING:
    from gorilla.pipeline import Answer

FormatOpt = Annotated[str, typer.Option("--format", help="text (a short panel) or json (one object).")]


@app.command("query")
@pipeline_options()
def query(
    text: Annotated[str, typer.Argument(help="What you want to do, in plain words.")],
    *,
    hub: HubOrAllOpt = "all",
    pipeline: PipelineOptions,
    fmt: FormatOpt = "text",
    data_dir: DataDirOpt = None,
    api_db: ApiDbOpt = None,
) -> None:
    """One real API call for what you want, with provider, explanation and the document it came from.

    Example: gorilla query "transcribe my podcast" --hub huggingface --format json
    """
    from gorilla.errors import GorillaError
    from gorilla.pipeline import Gorilla

    if fmt not in ("text", "json"):
        raise GorillaError(f"--format: expected text or json, got {fmt!r}")
    if not text.strip():
        raise GorillaError('empty query: say what you want, e.g. "classify bird species in photos"')
    answer = Gorilla(pipeline.config(hub, data_dir, api_db)).ask(text)
    if fmt == "json":
        print(json.dumps(answer.to_json(), ensure_ascii=False))
        return
    _panel(answer, hub)


def _panel(answer: Answer, hub: str) -> None:
    """The answer as a short rich panel: the call first, then where it came from."""
    from rich.console import Console
    from rich.panel import Panel
    from rich.text import Text

    body = Text()
    for label, value in (("API call", answer.api_call or "(none found)"), ("provider", answer.api_provider),
                         ("domain", answer.domain), ("explanation", answer.explanation), ("code", answer.code),
                         ("from", answer.source or ", ".join(answer.retrieved) or "the model alone (0-shot)")):
        if value:
            body.append(f"{label:>11}  ", style="bold cyan").append(f"{value}\n")
    body.rstrip()
    Console().print(Panel(body if body.plain else Text(answer.text), title=f"gorilla · {answer.hub or hub}", expand=False))


@app.command("generate")
@pipeline_options()
def generate(
    out: Annotated[Path, typer.Option("--out", "-o", help="Responses JSONL to write (appended to and resumed).")],
    hub: MaybeHubOpt = None,
    *,
    questions: Annotated[Path | None, typer.Option(help="Upstream questions JSONL (question_id, text).")] = None,
    split: Annotated[str | None, typer.Option(help="eval: the hub's eval split (question_id = line number).")] = None,
    pipeline: PipelineOptions,
    limit: Annotated[int | None, typer.Option(help="Only the first N questions.")] = None,
    batch_size: Annotated[int, typer.Option(help="Prompts generated together.")] = 8,
    data_dir: DataDirOpt = None,
    api_db: ApiDbOpt = None,
) -> None:
    """Answer a questions file or a hub's eval split, writing the upstream response schema for `gorilla eval score`.

    Re-running the same command resumes: done question ids are skipped, a cut-off last line is repaired.

    Example: gorilla generate --hub torchhub --split eval --out out/th.jsonl && gorilla eval score out/th.jsonl --hub torchhub
    """
    from gorilla.cli.app import one_hub
    from gorilla.errors import GorillaError
    from gorilla.pipeline import Gorilla, eval_questions, generate_file, read_questions

    target = one_hub(hub, api_db, data_dir)  # one hub: its questions, its answers
    if (questions is None) == (split is None):
        raise GorillaError("give exactly one of --questions FILE or --split eval")
    if split is not None and split != "eval":
        raise GorillaError(f"--split: only 'eval' is available, got {split!r}")
    if limit is not None and limit < 1:
        raise GorillaError(f"--limit must be at least 1, got {limit}")
    qs = read_questions(questions) if questions else eval_questions(target)
    gorilla = Gorilla(pipeline.config(target.name if hub else "all", data_dir, api_db))
    bar, progress = progress_bar("generate", "q/s")
    try:
        stats = generate_file(gorilla, qs, out, batch_size=batch_size, limit=limit, progress=progress)
    finally:
        bar.stop()
    print(json.dumps(stats))
