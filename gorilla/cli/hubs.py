"""`gorilla hub add|list|show|remove`: your own APIs as hubs, beside the three APIBench ones (gorilla.apibench.userhub)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from gorilla.cli.app import DataDirOpt, hub_app

FormatOpt = Annotated[str, typer.Option("--format", help="text or json.")]
CacheOpt = Annotated[Path | None, typer.Option("--cache", help="Index folder (default: <cache>/indexes).",
                                               show_default=False)]


def _check_format(fmt: str) -> None:
    from gorilla.errors import GorillaError

    if fmt not in ("text", "json"):
        raise GorillaError(f"--format: expected text or json, got {fmt!r}")


@hub_app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="The hub's name: lower-case letters, digits, '-', '_'.")],
    sources: Annotated[list[Path], typer.Argument(help="API descriptions: OpenAPI 3.x (JSON/YAML), function-calling "
                                                       "tools lists, API Zoo files, folders of them (docs/own_apis.md), "
                                                       "or API-database .jsonl files.", show_default=False)],
    glossary: Annotated[Path | None, typer.Option("--glossary", help="Task glossary (JSON: domain -> one sentence "
                                                  "in a user's words) for the retriever's domain vote.",
                                                  show_default=False)] = None,
    keep_going: Annotated[bool, typer.Option("--keep-going", help="Skip sources and records that do not parse "
                                             "(each reported) instead of stopping.")] = False,
    embedder: Annotated[str | None, typer.Option("--embedder", help="Build the indexes with this embedder (default: "
                                                 "the packaged all-MiniLM-L6-v2).", show_default=False)] = None,
    cache: CacheOpt = None,
    fmt: FormatOpt = "text",
) -> None:
    """Build a hub from API descriptions (every call checked to parse), index it and register it.

    Re-adding rebuilds only what changed: the database when a source file's fingerprint changed, the indexes
    whose inputs changed.

    Example: gorilla hub add zoo ../shared/docs/apizoo --keep-going
    """
    from gorilla.apibench.userhub import add_hub

    _check_format(fmt)
    m = add_hub(name, sources, glossary=glossary, keep_going=keep_going, embedder=embedder, cache=cache)
    if fmt == "json":
        print(json.dumps(m, ensure_ascii=False))
        return
    if m["changed"]:
        c = m["changed_files"]
        print(f"{name}: {m['apis']} APIs in {m['domains']} domains from {len(m['files'])} source files "
              f"(vs the last build: {c['added']} added, {c['changed']} changed, {c['removed']} removed); "
              f"parsed in {m['parse_seconds']} s")
    else:
        print(f"{name}: sources unchanged ({len(m['files'])} files): database kept, {m['apis']} APIs")
    print(f"indexes: {m.get('retriever', 'best')} ready in {m['index_seconds']} s")
    print(f"try: gorilla query \"...\" --hub {name}")


@hub_app.command("list")
def list_cmd(data_dir: DataDirOpt = None, fmt: FormatOpt = "text") -> None:
    """Every hub: the APIBench ones and yours, with their counts and the state of their indexes.

    Example: gorilla hub list
    """
    from gorilla.apibench.userhub import list_hubs

    _check_format(fmt)
    rows = list_hubs(data_dir)
    if fmt == "json":
        print(json.dumps(rows, ensure_ascii=False))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="hubs")
    for col in ("hub", "kind", "APIs", "train", "eval", "indexes"):
        table.add_column(col, justify="left" if col in ("hub", "kind", "indexes") else "right")
    for r in rows:
        table.add_row(r["name"], r["kind"], *(_count(r.get(k)) for k in ("apis", "train_pairs", "eval_pairs")),
                      r["state"])
    Console().print(table)


def _count(n: int | None) -> str:
    return "-" if n is None else str(n)


@hub_app.command("show")
def show(
    name: Annotated[str, typer.Argument(help="A hub's name (gorilla hub list).")],
    data_dir: DataDirOpt = None,
    embedder: Annotated[str | None, typer.Option("--embedder", help="Check the indexes of this embedder.",
                                                 show_default=False)] = None,
    cache: CacheOpt = None,
    fmt: FormatOpt = "text",
) -> None:
    """A hub's files, counts, sources and the state of each index.

    Example: gorilla hub show huggingface
    """
    from gorilla.apibench.userhub import describe
    from gorilla.data.registry import hub_entry

    _check_format(fmt)
    info = describe(hub_entry(name, data_dir), embedder, cache)
    if fmt == "json":
        print(json.dumps(info, ensure_ascii=False))
        return
    _print_info(info)


def _print_info(info: dict[str, Any]) -> None:
    """`hub show` as aligned lines."""
    line = lambda label, text: print(f"{label:<13} {text}")  # noqa: E731
    line("hub", f"{info['name']} ({info['kind']})")
    for key, path in info["files"].items():
        line(key, path)
    line("counts", ", ".join(f"{_count(info.get(k))} {k.replace('_', ' ')}"
                             for k in ("apis", "train_pairs", "eval_pairs", "instructions")))
    if src := info.get("sources"):
        line("sources", ", ".join(src.get("sources") or []))
        line("", f"{src['files']} files, {src['skip_notes']} skip notes, read by {src.get('reader')}; parsed in "
                 f"{src.get('parse_seconds')} s, indexed in {src.get('index_seconds')} s")
    line("indexes", info["state"])
    for p in info.get("pieces", []):
        line("", f"  {p['name']:<26} {p['state']:<8} {p['folder']}" + (f" ({p['reason']})" if p["reason"] else ""))


@hub_app.command("remove")
def remove(
    name: Annotated[str, typer.Argument(help="A hub you added.")],
    cache: CacheOpt = None,
) -> None:
    """Unregister a hub you added and delete its folder and indexes (the APIBench hubs stay).

    Example: gorilla hub remove zoo
    """
    from gorilla.apibench.userhub import remove_hub

    hub = remove_hub(name, cache)
    print(f"removed {hub.name}" + (f" and its folder {hub.folder}" if hub.folder else ""))
