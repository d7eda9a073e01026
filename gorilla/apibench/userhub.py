"""A hub of one's own (`gorilla hub add|remove|list|show`): sources -> a checked API database -> indexes -> the
registry, rebuilding only what changed.

`add_hub` fills <config>/hubs/<name>/ (api.jsonl; tasks.json, a copy of the glossary; manifest.json: the
sources, each file's SHA-256, what was skipped, counts and timings) in a staging folder, builds the hub's
default retriever (its indexes) from it, and only then swaps the folder in and registers the hub: a failure
at any step leaves the previous hub, its folder and the registry as they were. Re-adding unchanged sources
(same fingerprints, same glossary, same reader) leaves the database untouched; the indexes are keyed by
content (retrieval/index.py), so only those whose inputs changed are rebuilt. What `gorilla apibench build`
wrote into the folder (selfinstruct/: the hub's train and eval splits) is carried over into the new one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from gorilla.apibench import database
from gorilla.apibench.build import read_database
from gorilla.apibench.source import Found, SourceError
from gorilla.apibench.sources import read_sources, source_files
from gorilla.data import ApiBenchPaths, Hub, atomic_write, get_hub
from gorilla.data.hubs import HUBS, resolve_alias
from gorilla.data.jsonl import atomic_dir, read_json
from gorilla.data.registry import (
    apibench_hub,
    check_name,
    hub_folder,
    read_registry,
    register,
    registry_lock,
    unregister,
)
from gorilla.errors import GorillaError
from gorilla.retrieval.fingerprint import file_sha256

READER = "read_sources-1"  # what turns sources into records; another reader (or version) rebuilds every database
MANIFEST = "manifest.json"
SKIP_NOTES_KEPT = 200  # the reader's skip notes the manifest lists (it counts them all)
log = logging.getLogger("gorilla")  # where read_sources reports what it skips


def _partition(sources: Sequence[Path]) -> tuple[list[Path], list[Path]]:
    """(API-database .jsonl files, the described sources read_sources reads): one rule for reading and hashing."""
    databases = [p for p in sources if p.is_file() and p.suffix == ".jsonl"]
    return databases, [p for p in sources if p not in databases]


def _records_from(sources: Sequence[Path], keep_going: bool) -> list[dict[str, Any]]:
    """Every API record the sources hold, in upstream's schema plus `parameters`: API-database .jsonl files as
    they are, everything else through `read_sources` (OpenAPI 3.x, tools lists, API Zoo files, folders of them;
    docs/own_apis.md). A malformed source stops the add naming file:line:col, or under keep_going is logged
    and skipped."""
    databases, described = _partition(sources)
    return [f.record for p in databases for f in read_database(p)] + (read_sources(described, keep_going)
                                                                       if described else [])


def checked_records(records: Sequence[dict[str, Any]], name: str, keep_going: bool) -> list[dict[str, Any]]:
    """The records whose api_call is one call (gorilla.calls, the parser every scorer and builder uses) and whose
    domain is text, merged by call; the others stop the add, or are logged and skipped under keep_going."""
    good = []
    for i, record in enumerate(records, start=1):
        found = Found(dict(record), name, i)
        try:
            database.check(found)
        except SourceError as e:
            problem = GorillaError(f"record {i} ({str(record.get('api_name', ''))[:60]!r}): {e.message}")
            if not keep_going:
                raise problem from None
            log.warning("skipped: %s", problem)
            continue
        good.append(found)
    if not good:
        raise GorillaError(f"hub {name!r}: no API record with a parsable api_call in its sources")
    return database.merge(good)[0]


def fingerprints(sources: Sequence[Path]) -> dict[str, str]:
    """Every file the sources name (`sources.source_files`: what read_sources reads) -> its SHA-256. A file
    an OpenAPI document $refs from outside the sources is not among them: re-add after `hub remove` when
    only such a file changed."""
    databases, described = _partition(sources)
    return {str(f.resolve()): file_sha256(f) for f in [*source_files(described), *databases]}


def fingerprint(files: dict[str, str], glossary: Path | None, keep_going: bool) -> str:
    """One hash of everything the database and glossary are made of: when it matches, nothing is rebuilt."""
    parts = [READER, str(keep_going), *(f"{k}\0{v}" for k, v in sorted(files.items()))]
    if glossary is not None:
        parts.append(file_sha256(glossary))
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def read_manifest(folder: Path) -> dict[str, Any]:
    """The hub's manifest ({} when there is none or it cannot be read: then everything is rebuilt)."""
    data = read_json(folder / MANIFEST)
    return data if isinstance(data, dict) else {}


def add_hub(name: str, sources: Sequence[str | Path], *, glossary: str | Path | None = None, keep_going: bool = False,
            embedder: str | None = None, cache: Path | None = None) -> dict[str, Any]:
    """Build (or rebuild what changed of) hub `name` from `sources` and register it; returns its manifest plus
    `changed` (whether the database was rebuilt) and `index_seconds`."""
    check_name(name)
    paths = [Path(s).expanduser() for s in sources]
    gloss = Path(glossary).expanduser() if glossary is not None else None
    if gloss is not None and not gloss.is_file():
        raise GorillaError(f"--glossary {gloss}: no such file")
    if not paths:
        raise GorillaError("give at least one SOURCE (a file or folder of API descriptions)")
    with registry_lock():
        files = fingerprints(paths)
        want = fingerprint(files, gloss, keep_going)
        old = read_registry().get(name)
        folder = hub_folder(name)
        manifest = read_manifest(folder)
        if old is not None and old.api_db.is_file() and manifest.get("fingerprint") == want:
            t0 = time.perf_counter()
            _indexes(old, embedder, cache)
            return manifest | {"changed": False, "index_seconds": round(time.perf_counter() - t0, 1)}
        return _rebuild(name, paths, files, want, gloss, keep_going, old, manifest, embedder, cache)


def _rebuild(name: str, paths: list[Path], files: dict[str, str], want: str, gloss: Path | None, keep_going: bool,
             old: Hub | None, before: dict[str, Any], embedder: str | None, cache: Path | None) -> dict[str, Any]:
    """Parse and check the sources, stage the folder, build the indexes from it, swap it in, register."""
    folder = hub_folder(name)
    t0 = time.perf_counter()
    with _skipped_notes() as notes:
        records = checked_records(_records_from(paths, keep_going), name, keep_going)
    glossary = _checked_glossary(gloss, records) if gloss is not None else None
    manifest = {"format": 1, "name": name, "reader": READER, "fingerprint": want, "keep_going": keep_going,
                "sources": [str(p.resolve()) for p in paths], "files": files,
                "glossary": str(gloss.resolve()) if gloss is not None else None, "apis": len(records),
                "domains": len({r["domain"] for r in records}), "skipped": notes[:SKIP_NOTES_KEPT],
                "skip_notes": len(notes), "changed_files": _changes(before.get("files", {}), files),
                "parse_seconds": round(time.perf_counter() - t0, 2)}
    with atomic_dir(folder) as staging:
        carried = _carry_over(folder, staging)
        database.write(staging / "api.jsonl", records)
        if glossary is not None:
            with atomic_write(staging / "tasks.json") as f:
                json.dump(glossary, f, indent=2, ensure_ascii=False)
        staged = _hub_in(staging, name, old, folder, carried, glossary is not None)
        t1 = time.perf_counter()
        manifest["retriever"] = _indexes(staged, embedder, cache)
        manifest["index_seconds"] = round(time.perf_counter() - t1, 1)
        with atomic_write(staging / MANIFEST) as f:
            json.dump(manifest, f, indent=2, ensure_ascii=False)
    register(_hub_in(folder, name, old, folder, carried, glossary is not None))
    return manifest | {"changed": True}


def _hub_in(where: Path, name: str, old: Hub | None, folder: Path, carried: set[str], glossary: bool) -> Hub:
    """The hub as it is (or will be) in `where`: its database and glossary there, and the train/eval splits the
    old hub had in its folder (carried over into `where`) or elsewhere (kept as they were)."""
    def moved(p: Path | None) -> Path | None:
        if p is None or not p.is_relative_to(folder):
            return p
        rel = p.relative_to(folder)
        return where / rel if rel.parts[0] in carried else None

    keep = {k: moved(getattr(old, k)) for k in ("train", "eval", "instructions")} if old else {}
    return Hub(name, where / "api.jsonl", glossary=where / "tasks.json" if glossary else None, folder=folder, **keep)


def _carry_over(folder: Path, staging: Path) -> set[str]:
    """Hard-link (else copy) into `staging` what others wrote into the old folder (everything but what add writes);
    its files are never changed in place (atomic_write / atomic_dir replace them), so links are safe."""
    mine = {"api.jsonl", "tasks.json", MANIFEST}
    carried = set()
    for item in folder.iterdir() if folder.is_dir() else []:
        if item.name in mine or item.name.startswith("."):
            continue
        if item.is_dir():
            shutil.copytree(item, staging / item.name, copy_function=_link_or_copy)
        else:
            _link_or_copy(str(item), str(staging / item.name))
        carried.add(item.name)
    return carried


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _checked_glossary(path: Path, records: Sequence[dict[str, Any]]) -> dict[str, str]:
    """The glossary, refused in one line when it is not {domain: sentence} or names none of the hub's domains."""
    from gorilla.retrieval.tasks import read_glossary

    glossary = read_glossary(path)
    domains = {r["domain"] for r in records}
    if not domains & set(glossary):
        some = ", ".join(sorted(domains)[:5])
        raise GorillaError(f"--glossary {path}: names none of the hub's {len(domains)} domains (e.g. {some})")
    return glossary


def _changes(before: dict[str, str], now: dict[str, str]) -> dict[str, int]:
    """How the source files differ from the last build's (what a re-add reports)."""
    return {"added": len(now.keys() - before.keys()), "removed": len(before.keys() - now.keys()),
            "changed": sum(1 for k in now.keys() & before.keys() if now[k] != before[k])}


def _indexes(hub: Hub, embedder: str | None, cache: Path | None) -> str:
    """Build (or load, where fresh) the hub's default retriever; its name."""
    from gorilla.retrieval import get_retriever

    return get_retriever("best", hub, embedder=embedder, cache=cache).name


@contextlib.contextmanager
def _skipped_notes() -> Iterator[list[str]]:
    """The warnings the reader logs (each skipped source and record, then their count), for the manifest."""
    notes: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            notes.append(record.getMessage())

    handler = Keep(logging.WARNING)
    log.addHandler(handler)
    try:
        yield notes
    finally:
        log.removeHandler(handler)


def remove_hub(name: str, cache: Path | None = None) -> Hub:
    """Unregister `name`, then delete the folder `hub add` built and its indexes (never files elsewhere)."""
    from gorilla.retrieval.index import default_index_root

    key = resolve_alias(name)
    if key in HUBS:
        raise GorillaError(f"{key} is one of the predefined APIBench hubs: it cannot be removed")
    with registry_lock():
        hub = read_registry().get(key)
        if hub is None:
            get_hub(key)  # the unknown-hub line, listing the known ones
        unregister(key)
        shutil.rmtree(hub_folder(key), ignore_errors=True)
        shutil.rmtree(Path(cache or default_index_root()) / key, ignore_errors=True)
    return hub


def count_lines(path: Path | None) -> int | None:
    """Records in a JSONL file (non-blank lines; gzip read through), None when there is no file."""
    import gzip

    if path is None or not path.is_file():
        return None
    data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    return sum(1 for line in data.split(b"\n") if line.strip())


def describe(hub: Hub, embedder: str | None = None, cache: Path | None = None, pieces: bool = True) -> dict[str, Any]:
    """What `hub list` / `hub show` print: files, counts, sources, and the state of its indexes."""
    from gorilla.retrieval.status import hub_pieces, hub_state

    out: dict[str, Any] = {"name": hub.name, "kind": "apibench" if hub.predefined else "registered",
                           "apis": count_lines(hub.api_db), "train_pairs": count_lines(hub.train),
                           "eval_pairs": count_lines(hub.eval), "instructions": count_lines(hub.instructions)}
    out["files"] = {k: str(p) for k in ("api_db", "train", "eval", "glossary", "instructions", "folder")
                    if (p := getattr(hub, k)) is not None}
    if out["apis"] is None:
        return out | {"state": "no database"}
    found = hub_pieces(hub, embedder, cache)
    out["state"] = hub_state(found)
    if pieces:
        out["pieces"] = [{"name": p.name, "state": p.state, "reason": p.reason, "folder": str(p.folder)} for p in found]
    if hub.folder is not None:
        m = read_manifest(hub.folder)
        out["sources"] = {k: m.get(k) for k in ("sources", "glossary", "reader", "parse_seconds", "index_seconds",
                                                "retriever", "apis")} | {"files": len(m.get("files", {})),
                                                                        "skip_notes": m.get("skip_notes", 0)}
    return out


def list_hubs(data_dir: str | Path | None = None) -> list[dict[str, Any]]:
    """Every hub: the APIBench ones (each saying so where their data is missing) and the registered ones (a
    registered hub whose database is gone is listed as such, not refused)."""
    try:
        paths = ApiBenchPaths.resolve(data_dir)
    except GorillaError as e:
        rows = [{"name": h, "kind": "apibench", "state": "no data", "fix": str(e)} for h in HUBS]
    else:
        rows = [describe(apibench_hub(h, paths), pieces=False) for h in HUBS]
    return rows + [describe(h, pieces=False) for h in read_registry().values()]


def registered_with_split(hub: Hub, out: Path, counts: dict[str, Any]) -> Hub:
    """`hub` with the train and eval splits `gorilla apibench build` wrote into `out` (its instruction `counts`),
    registered; an empty split (every request filtered out) is not, and the hub keeps none."""
    with registry_lock():
        current = read_registry().get(hub.name, hub)
        updated = replace(current, train=out / "train.json" if counts.get("train_pairs") else None,
                          eval=out / "eval.json" if counts.get("eval_pairs") else None)
        register(updated)
    return updated
