"""The typer apps every command module registers into, and the options they share.

Command modules (`gorilla/cli/<concern>.py`) import from here, never from each other;
`gorilla/cli/main.py` imports them all. Heavy libraries are imported inside commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

CONTEXT = {"help_option_names": ["-h", "--help"]}

app = typer.Typer(
    name="gorilla",
    help="Type what you want, get one real API call (TorchHub, TF Hub, Hugging Face).\n\n"
    "Example: gorilla query \"classify bird species in my photos\"",
    no_args_is_help=True,
    context_settings=CONTEXT,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
data_app = typer.Typer(help="APIBench data: locate, inspect, download.", no_args_is_help=True, context_settings=CONTEXT)
eval_app = typer.Typer(help="Score responses and benchmark retrievers.", no_args_is_help=True, context_settings=CONTEXT)
index_app = typer.Typer(help="Build and fine-tune retrieval indexes.", no_args_is_help=True, context_settings=CONTEXT)
apibench_app = typer.Typer(help="Build APIBench from hub docs.", no_args_is_help=True, context_settings=CONTEXT)
app.add_typer(data_app, name="data")
app.add_typer(eval_app, name="eval")
app.add_typer(index_app, name="index")
app.add_typer(apibench_app, name="apibench")

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="APIBench root (default: $GORILLA_DATA, ../shared/apibench, or the user cache).",
                 show_default=False),
]
Hub = Annotated[str, typer.Option("--hub", help="torchhub, tensorflowhub or huggingface.")]

# the pipeline's options (query, generate, serve)
Model = Annotated[str, typer.Option("--model", "-m", help="embedded, an HF id or dir, a .gguf file, an adapter dir; "
                                                          "with --backend openai, the endpoint's model name.")]
Backend = Annotated[str, typer.Option(help="local (transformers here) or openai (an OpenAI-compatible endpoint).")]
BaseUrl = Annotated[str | None, typer.Option(help="With --backend openai: the endpoint, e.g. http://host:8000/v1.")]
Guided = Annotated[str, typer.Option(help="With --backend openai: off, vllm (structured-outputs regex enforces "
                                          "--constrain) or vllm-legacy (guided_regex, vLLM < 0.12).")]
Retriever = Annotated[str, typer.Option("--retriever", "-r", help="best (= fusion), bm25, dense, hybrid, examples, "
                                                                   "fusion, or none (0-shot).")]
Constrain = Annotated[str, typer.Option(help="retrieved: api_call is one of the retrieved calls; db: one of the "
                                             "hub's API database; off: free text; auto: retrieved, or off with "
                                             "--backend openai unless --guided.")]


def progress_bar(label: str, unit: str, scale: float = 1.0):
    """(bar, update): a rich bar with count, rate and ETA; `update(done, total)` starts it on first use, and a
    first `done` above 0 (a resumed job) is where the rate starts counting."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    bar = Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]}"),
                   TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), transient=False)
    task = bar.add_task(label, total=None, rate="")

    def update(done: int, total: int) -> None:
        if not bar.live.is_started:
            bar.start()
            bar.reset(task, total=total, completed=done, rate="")
            return
        bar.update(task, completed=done, total=total)
        speed = bar.tasks[0].speed
        bar.update(task, rate=f"{speed * scale:.2f} {unit}" if speed else "")

    return bar, update
