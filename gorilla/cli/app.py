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
    "Example: gorilla query \"transcribe my podcast\"",
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
