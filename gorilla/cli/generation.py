"""`gorilla query` (one answer) and `gorilla generate` (a questions file or eval split -> responses JSONL)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from gorilla.cli.app import Backend, BaseUrl, Constrain, DataDir, Guided, Model, Retriever, app, progress_bar
from gorilla.pipeline import DEFAULT_K, DEFAULT_MAX_NEW_TOKENS

ApiKey = Annotated[str | None, typer.Option(help="With --backend openai: its key (default: $OPENAI_API_KEY).",
                                            show_default=False)]
K = Annotated[int, typer.Option("-k", help="Documents put in the prompt (1 measured best for the embedded model).")]
MaxNew = Annotated[int, typer.Option(help="Most new tokens per answer (constrained answers always get room for the call).")]


def _pipeline(hub: str, model: str, backend: str, base_url: str | None, api_key: str | None, guided: str,
              retriever: str, k: int, constrain: str, max_new_tokens: int, data_dir: Path | None):
    from gorilla.pipeline import Gorilla, PipelineConfig

    return Gorilla(PipelineConfig(hub=hub, model=model, backend=backend, base_url=base_url, api_key=api_key,
                                  guided=guided, retriever=retriever, k=k, constrain=constrain,
                                  max_new_tokens=max_new_tokens, data_dir=str(data_dir) if data_dir else None))


@app.command("query")
def query(
    text: Annotated[str, typer.Argument(help="What you want to do, in plain words.")],
    hub: Annotated[str, typer.Option(help="torchhub, tensorflowhub, huggingface, or all.")] = "all",
    model: Model = "embedded",
    backend: Backend = "local",
    base_url: BaseUrl = None,
    api_key: ApiKey = None,
    guided: Guided = "off",
    retriever: Retriever = "best",
    k: K = DEFAULT_K,
    constrain: Constrain = "auto",
    max_new_tokens: MaxNew = DEFAULT_MAX_NEW_TOKENS,
    fmt: Annotated[str, typer.Option("--format", help="text (a short panel) or json (one object).")] = "text",
    data_dir: DataDir = None,
) -> None:
    """One real API call for what you want, with provider, explanation and the document it came from.

    Example: gorilla query "transcribe my podcast" --hub huggingface --format json
    """
    from gorilla.errors import GorillaError

    if fmt not in ("text", "json"):
        raise GorillaError(f"--format: expected text or json, got {fmt!r}")
    if not text.strip():
        raise GorillaError('empty query: say what you want, e.g. "classify bird species in photos"')
    answer = _pipeline(hub, model, backend, base_url, api_key, guided, retriever, k, constrain, max_new_tokens,
                       data_dir).ask(text)
    if fmt == "json":
        print(json.dumps(answer.to_json(), ensure_ascii=False))
        return
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
def generate(
    out: Annotated[Path, typer.Option("--out", "-o", help="Responses JSONL to write (appended to and resumed).")],
    hub: Annotated[str, typer.Option(help="torchhub, tensorflowhub or huggingface.")],
    questions: Annotated[Path | None, typer.Option(help="Upstream questions JSONL (question_id, text).")] = None,
    split: Annotated[str | None, typer.Option(help="eval: the hub's eval split (question_id = line number).")] = None,
    model: Model = "embedded",
    backend: Backend = "local",
    base_url: BaseUrl = None,
    api_key: ApiKey = None,
    guided: Guided = "off",
    retriever: Retriever = "best",
    k: K = DEFAULT_K,
    constrain: Constrain = "auto",
    max_new_tokens: MaxNew = DEFAULT_MAX_NEW_TOKENS,
    limit: Annotated[int | None, typer.Option(help="Only the first N questions.")] = None,
    batch_size: Annotated[int, typer.Option(help="Prompts generated together.")] = 8,
    data_dir: DataDir = None,
) -> None:
    """Answer a questions file or a hub's eval split, writing the upstream response schema for `gorilla eval score`.

    Re-running the same command resumes: done question ids are skipped, a cut-off last line is repaired.

    Example: gorilla generate --hub torchhub --split eval --out out/th.jsonl && gorilla eval score out/th.jsonl --hub torchhub
    """
    from gorilla.errors import GorillaError
    from gorilla.pipeline import eval_questions, generate_file, read_questions

    if (questions is None) == (split is None):
        raise GorillaError("give exactly one of --questions FILE or --split eval")
    if split is not None and split != "eval":
        raise GorillaError(f"--split: only 'eval' is available, got {split!r}")
    if limit is not None and limit < 1:
        raise GorillaError(f"--limit must be at least 1, got {limit}")
    qs = read_questions(questions) if questions else eval_questions(hub, str(data_dir) if data_dir else None)
    gorilla = _pipeline(hub, model, backend, base_url, api_key, guided, retriever, k, constrain, max_new_tokens,
                        data_dir)
    if gorilla.config.hub == "all":
        raise GorillaError("--hub: generate answers one hub's questions; pick torchhub, tensorflowhub or huggingface")
    bar, progress = progress_bar("generate", "q/s")
    try:
        stats = generate_file(gorilla, qs, out, batch_size=batch_size, limit=limit, progress=progress)
    finally:
        bar.stop()
    print(json.dumps(stats))
