"""`gorilla data ...`: where the data is and what it holds."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from gorilla.cli.app import DataDirOpt, data_app


@data_app.command("info")
def info(data_dir: DataDirOpt = None) -> None:
    """Counts per hub: APIs, train/eval pairs, question and response files.

    Example: gorilla data info --data-dir ../shared/apibench
    """
    from rich.console import Console
    from rich.table import Table

    from gorilla.data import HUBS, ApiBenchPaths, load_api_db, load_eval

    paths = ApiBenchPaths.resolve(data_dir)
    table = Table(title=f"APIBench at {paths.root}")
    for col in ("hub", "APIs", "train pairs", "eval pairs", "question files", "response files"):
        table.add_column(col, justify="left" if col == "hub" else "right")
    for hub in HUBS:
        def count(path: Path, loader: Callable[[Path], list]) -> str:
            """Records in `path`, or "-" where this install lacks the file (a partial download)."""
            return str(len(loader(path))) if path.exists() else "-"
        qdir = paths.questions(hub).parent
        table.add_row(hub, count(paths.api_db(hub), load_api_db), count(paths.train(hub), load_eval),
                      count(paths.eval(hub), load_eval),
                      str(len(list(qdir.glob("*.jsonl")))) if qdir.is_dir() else "0",
                      str(len(list(paths.responses_dir(hub).glob("*.jsonl")))) if paths.responses_dir(hub).is_dir() else "0")
    Console().print(table)


@data_app.command("path")
def path(data_dir: DataDirOpt = None) -> None:
    """Print the APIBench root that commands will use.

    Example: GORILLA_DATA=~/apibench gorilla data path
    """
    from gorilla.data import resolve_data_dir

    print(resolve_data_dir(data_dir))


@data_app.command("download")
def download(
    dest: Annotated[Path | None, typer.Option(help="Target folder (default: the user cache).")] = None,
    base_url: Annotated[str | None, typer.Option(help="Mirror of the upstream repository's raw files.")] = None,
) -> None:
    """Fetch APIBench from the public Gorilla repository into the user cache.

    Example: gorilla data download
    """
    from gorilla.data import download as dl
    from gorilla.data.paths import cache_dir

    target = dest or cache_dir() / "apibench"
    n = dl.download(target, base_url or dl.UPSTREAM, progress=lambda rel: print(f"  {rel}"))
    print(f"downloaded {n} files to {target}")
