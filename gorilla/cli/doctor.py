"""`gorilla doctor`: what is prepared, where, and what each missing piece costs, without preparing anything.

A newcomer's first query may convert a model and embed three databases: minutes with no obvious cause.
The doctor reads paths, marks and manifests only (torch is imported only with --torch), so it answers
in about a second and says which command prepares what is missing, and how long that takes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from gorilla.cli.app import DataDirOpt, app, package_version

BUILD_HINT = ("gorilla prepare (141 s measured on 2 cores for the model and the APIBench hubs; else the first query on "
              "a hub builds its own)")


@app.command("doctor")
def doctor(
    data_dir: DataDirOpt = None,
    embedder: Annotated[str | None, typer.Option("--embedder", help="Check the indexes of this embedder (default: the "
                                                 "packaged all-MiniLM-L6-v2).", show_default=False)] = None,
    cache: Annotated[Path | None, typer.Option("--cache", help="Index folder (default: <cache>/indexes).",
                                               show_default=False)] = None,
    torch_probe: Annotated[bool, typer.Option("--torch", help="Also import torch (~2 s) to report the device it "
                                              "sees and its thread count.")] = False,
    fmt: Annotated[str, typer.Option("--format", help="text or json.")] = "text",
) -> None:
    """Show what is prepared and where: data, cache, embedded model, embedder, each hub's indexes, torch.

    Builds and converts nothing; says which command prepares what is missing and what it costs.

    Example: gorilla doctor
    """
    from gorilla.errors import GorillaError

    if fmt not in ("text", "json"):
        raise GorillaError(f"--format: expected text or json, got {fmt!r}")
    report = diagnose(data_dir, embedder, cache, torch_probe)
    if fmt == "json":
        print(json.dumps(report, indent=2))
    else:
        print_report(report)


@app.command("prepare")
def prepare(data_dir: DataDirOpt = None) -> None:
    """Prepare what the default pipeline needs before its first query: the embedded model's safetensors copy
    and each hub's indexes and task heads, yours too (141 s measured on 2 cores for the APIBench hubs on an empty
    cache; what is fresh is only checked, in seconds). `make install` runs it, so the first query does not.

    Example: gorilla prepare
    """
    import time

    from gorilla.data import all_hubs
    from gorilla.models.embedded import ensure_converted
    from gorilla.retrieval import get_retriever

    t0 = time.perf_counter()
    ensure_converted()
    print(f"embedded model: ready in {time.perf_counter() - t0:.1f}s")
    for hub in all_hubs(data_dir):
        t0 = time.perf_counter()
        r = get_retriever("best", hub)
        print(f"{hub.name}: {r.name} indexes ready in {time.perf_counter() - t0:.1f}s")


def diagnose(data_dir: Path | None, embedder: str | None, cache: Path | None, torch_probe: bool) -> dict[str, Any]:
    """The whole report as plain data (the json format prints it as is)."""
    import gorilla
    from gorilla.data.paths import cache_dir
    from gorilla.retrieval.index import default_index_root

    data = data_section(data_dir)
    return {"version": package_version(), "package": str(Path(gorilla.__file__).parent), "data": data,
            "cache": {"path": str(cache_dir()), "origin": "$GORILLA_CACHE" if os.environ.get("GORILLA_CACHE")
                      else "the user cache ($XDG_CACHE_HOME or ~/.cache)"},
            "model": model_section(), "embedder": embedder_section(embedder),
            "indexes": {"path": str(cache or default_index_root()), "hubs": hubs_section(data["path"], embedder, cache)},
            "torch": torch_section(torch_probe)}


def data_section(flag: Path | None) -> dict[str, Any]:
    """The APIBench root commands will use and where it was found, or how to get one."""
    from gorilla.data import resolve_data_dir
    from gorilla.data.paths import DEV_DATA
    from gorilla.errors import GorillaError

    try:
        path = resolve_data_dir(flag)
    except GorillaError as e:
        return {"path": None, "fix": f"{e} (the download is a few MB)"}
    origin = ("--data-dir" if flag else "$GORILLA_DATA" if os.environ.get("GORILLA_DATA")
              else "../shared/apibench beside the checkout" if path == DEV_DATA else "the user cache (gorilla data download)")
    return {"path": str(path), "origin": origin}


def model_section() -> dict[str, Any]:
    """The embedded model: converted (fast loads), not yet (the first query converts it), or its wheel missing."""
    from gorilla.errors import GorillaError
    from gorilla.models.embedded import TOOLS_ADAPTER, converted_dir, gguf_path, is_converted

    adapter = str(TOOLS_ADAPTER) if (TOOLS_ADAPTER / "adapter_model.safetensors").is_file() else None
    if is_converted():
        return {"state": "converted", "path": str(converted_dir()), "tools_adapter": adapter}
    try:
        source = gguf_path()
    except GorillaError as e:
        return {"state": "missing", "fix": str(e), "tools_adapter": adapter}
    return {"state": "not converted", "path": str(converted_dir()), "source": str(source),
            "cost": "the first query converts it from the GGUF (~20 s, once)", "tools_adapter": adapter}


def embedder_section(name: str | None) -> dict[str, Any]:
    """The embedder the indexes are built with, and a fine-tuned one if `gorilla index finetune` left one."""
    from gorilla.errors import GorillaError
    from gorilla.retrieval.embedder import finetuned_path, resolve_embedder

    try:
        display, target = resolve_embedder(name)
    except (GorillaError, ImportError) as e:
        return {"name": name, "fix": str(e)}
    out: dict[str, Any] = {"name": display, "path": str(target)}
    if finetuned_path().is_dir() and Path(str(target)) != finetuned_path():
        out["finetuned"] = f"{finetuned_path()} (used only with --embedder {finetuned_path()})"
    return out


def hubs_section(root: str | None, embedder: str | None, cache: Path | None) -> dict[str, Any]:
    """Per hub (the APIBench ones where their data is found, and every registered one): fresh / stale / missing,
    each piece's state, and what preparing it costs."""
    from gorilla.data import HUBS, ApiBenchPaths
    from gorilla.data.registry import apibench_hub, read_registry
    from gorilla.retrieval.status import hub_pieces, hub_state

    hubs = {}
    own = list(read_registry().values())
    for hub in ([apibench_hub(h, ApiBenchPaths(Path(root))) for h in HUBS] if root else []) + own:
        pieces = hub_pieces(hub, embedder, cache)
        if not pieces:
            hubs[hub.name] = {"state": "no database", "fix": f"{hub.api_db} is missing"}
            continue
        state = hub_state(pieces)
        hubs[hub.name] = {"state": state, "pieces": [{"name": p.name, "state": p.state, "reason": p.reason,
                                                      "folder": str(p.folder)} for p in pieces]}
        if state != "fresh":
            hubs[hub.name]["fix"] = BUILD_HINT
    return hubs


def torch_section(probe: bool) -> dict[str, Any]:
    """torch's version, the device and thread count gorilla will use: from the environment alone, or with
    `probe` from torch itself (an import of ~2 s, which the doctor otherwise avoids)."""
    from importlib.metadata import PackageNotFoundError, version

    from gorilla.errors import GorillaError
    from gorilla.threads import torch_threads

    try:
        out: dict[str, Any] = {"version": version("torch")}
    except PackageNotFoundError:
        return {"version": None, "fix": "torch is not installed: make install"}
    want = os.environ.get("GORILLA_DEVICE", "").strip().lower()
    out["device"] = (f"{want} ($GORILLA_DEVICE)" if want else "cpu (a CPU build of torch)" if "+cpu" in out["version"]
                     else "cuda if torch sees a GPU, else cpu (--torch checks)")
    try:
        threads = torch_threads()
    except GorillaError as e:  # every model command would stop on it: say so here, and do not probe
        return out | {"threads": "invalid", "fix": str(e)}
    which = "GORILLA_THREADS" if os.environ.get("GORILLA_THREADS") else "OMP_NUM_THREADS"
    out["threads"] = f"{threads} (${which})" if threads else f"torch's default ({os.cpu_count()} cores)"
    return out | (probe_torch() if probe else {})


def probe_torch() -> dict[str, Any]:
    """What torch itself reports once gorilla's thread rule is applied."""
    import torch

    from gorilla.threads import set_torch_threads

    set_torch_threads()
    want = os.environ.get("GORILLA_DEVICE", "").strip().lower()
    device = "cuda" if want == "cuda" or (not want and torch.cuda.is_available()) else "cpu"
    name = f" ({torch.cuda.get_device_name(0)})" if device == "cuda" and torch.cuda.is_available() else ""
    return {"device": device + name, "threads": f"{torch.get_num_threads()} (torch.get_num_threads)"}


def print_report(r: dict[str, Any]) -> None:
    """The report as short aligned lines: one per thing, a fix where something is missing."""
    line = lambda label, text: print(f"{label:<10} {text}")  # noqa: E731
    line("gorilla", f"{r['version']} at {r['package']}")
    data = r["data"]
    line("data", f"{data['path']} ({data['origin']})" if data["path"] else f"not found: {data['fix']}")
    line("cache", f"{r['cache']['path']} ({r['cache']['origin']})")
    m = r["model"]
    line("model", "embedded SmolLM2-135M-Instruct: " + {"converted": f"converted, {m.get('path')}",
                                                         "not converted": f"not converted yet: {m.get('cost')}"}
         .get(m["state"], f"missing: {m.get('fix')}"))
    line("", f"function calls: its adapter at {m['tools_adapter']}" if m["tools_adapter"] else
         "function calls: the packaged adapter is missing (reinstall gorilla); calls use the base model")
    e = r["embedder"]
    line("embedder", f"{e['name']} ({e['path']})" if "path" in e else f"{e['name']}: {e['fix']}")
    if "finetuned" in e:
        line("", f"fine-tuned one at {e['finetuned']}")
    line("indexes", r["indexes"]["path"] if r["data"]["path"] or r["indexes"]["hubs"] else "unknown until the data is found")
    for hub, h in r["indexes"]["hubs"].items():
        line("", f"  {hub:<14} {h['state']:<11} {_hub_detail(h)}")
    t = r["torch"]
    line("torch", f"{t['version']}: device {t.get('device')}, threads {t.get('threads')}" if t.get("version")
         else t["fix"])
    if "fix" in t and t.get("version"):
        line("", t["fix"])
    if any(h["state"] not in ("fresh", "no database") for h in r["indexes"]["hubs"].values()):
        line("next", BUILD_HINT)


def _hub_detail(h: dict[str, Any]) -> str:
    """A hub's state in a few words: how many pieces are built, and the first reason one is not fresh."""
    if "pieces" not in h:
        return h["fix"]
    pieces = h["pieces"]
    fresh = sum(p["state"] == "fresh" for p in pieces)
    first = next((p for p in pieces if p["state"] == "stale"), None)
    why = f"; {first['name']}: {first['reason'].split(' (')[0]}" if first else ""
    return f"{fresh} of {len(pieces)} pieces fresh{why}"
