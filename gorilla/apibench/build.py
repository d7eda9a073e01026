"""parse -> database -> instructions -> split, written to a staging folder that replaces `out` when done.

`gorilla.data.jsonl.atomic_dir` stages the build, so `out` only ever holds a finished one. The staging
folder goes when a build fails, so the teacher's raw text is appended elsewhere: to the journal
`.<out>.teacher.jsonl` beside `out`. It outlives a crash, a rerun resumes generation where it stopped,
and a finished build takes a copy (`out/teacher.jsonl`) and removes it.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from gorilla.apibench import apizoo, database, huggingface, openapi, selfinstruct, tfhub, tools, torchhub
from gorilla.apibench.selfinstruct import SelfInstructConfig
from gorilla.apibench.source import Found, Problems, SourceError
from gorilla.apibench.split import split_pairs
from gorilla.calls import call_key
from gorilla.data import get_hub, read_jsonl, write_jsonl
from gorilla.data.hubs import HUBS, resolve_alias
from gorilla.data.jsonl import atomic_dir
from gorilla.errors import GorillaError

PARSERS = {"torchhub": torchhub, "tensorflowhub": tfhub, "huggingface": huggingface, "apizoo": apizoo,
           "openapi": openapi, "tools": tools}
# Your own APIs (these formats, a hub you added) have no seeds of their own: API Zoo's (SDK and REST calls with
# arguments) are the nearest.
OWN_SEEDS = "apizoo"


@dataclass(frozen=True)
class BuildConfig:
    """One build's settings: a TOML file's `[defaults]` and `[<hub>]`, then flags (`load_config`)."""

    hub: str
    docs: Path
    out: Path
    teacher: str = "embedded"
    teacher_model: str | None = None  # model name at an OpenAI-compatible endpoint
    concurrency: int = 8
    instructions: bool = True
    keep_going: bool = False
    eval_fraction: float = 0.1
    limit: int | None = None  # first N APIs only (smoke runs)
    seeds: Path | None = None
    selfinstruct: SelfInstructConfig = field(default_factory=SelfInstructConfig)


def load_config(path: Path | None, hub: str, overrides: dict[str, Any]) -> BuildConfig:
    """Settings from a TOML file (`[defaults]`, then `[<hub>]`), then the flags given (`overrides`, None = not given).

    Relative paths in the file are relative to the file; keys are BuildConfig or SelfInstructConfig field names.
    """
    import tomllib

    hub = normalize(hub)
    settings: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as e:
            raise GorillaError(f"{path}: {e}") from None
        for section in (data.get("defaults", {}), data.get(hub, {})):
            for k, v in section.items():
                settings[k] = (path.parent / v).resolve() if k in ("docs", "out", "seeds") else v
    settings |= {k: v for k, v in overrides.items() if v is not None}
    si_fields = set(SelfInstructConfig.__dataclass_fields__)
    bc_fields = set(BuildConfig.__dataclass_fields__) - {"selfinstruct", "hub"}
    unknown = set(settings) - si_fields - bc_fields
    if unknown:
        raise GorillaError(f"{path or 'build settings'}: unknown setting(s) {', '.join(sorted(unknown))}")
    for need in ("docs", "out"):
        if need not in settings:
            raise GorillaError(f"--{need} is required (or set it under [{hub}] in --config)")
    si = SelfInstructConfig(**{k: v for k, v in settings.items() if k in si_fields})
    return BuildConfig(hub=hub, selfinstruct=si, **{k: Path(v) if k in ("docs", "out", "seeds") else v
                                                     for k, v in settings.items() if k in bc_fields})


def normalize(hub: str) -> str:
    """What a build is for: a doc format of PARSERS (aliases as everywhere, `gorilla.data.hubs`), or a hub of one's
    own (registered: `gorilla hub add`), which is built from its API database."""
    hub = resolve_alias(hub)
    if hub in PARSERS:
        return hub
    try:
        return get_hub(hub).name
    except GorillaError:
        raise GorillaError(f"--hub: expected one of {', '.join(PARSERS)} or a hub you added (gorilla hub list), "
                           f"got {hub!r}") from None


def read_database(path: Path) -> list[Found]:
    """An existing API database (ours or upstream's) as found records, each located by its line."""
    return [Found(obj, str(path), line, 1) for line, obj in read_jsonl(path)]


def collect(hub: str, docs: Path, problems: Problems) -> tuple[list[Found], dict[str, int]]:
    """Every record the hub's parser finds under `docs` (a folder, one page, or an API-database .jsonl)."""
    if not docs.exists():
        raise GorillaError(f"--docs: {docs} does not exist")
    if docs.suffix == ".jsonl":
        found = read_database(docs)
        return found, {"files": 1, "used": 1, "without_api": 0, "skipped": 0}
    if hub not in PARSERS:
        raise GorillaError(f"--docs: hub {hub!r} builds from an API database (.jsonl); its sources go through "
                           f"gorilla hub add {hub} SOURCE...")
    parser = PARSERS[hub]
    paths = parser.files(docs)
    if not paths:
        raise GorillaError(f"--docs: no {hub} pages under {docs}")
    found: list[Found] = []
    used = empty = 0
    for p in paths:
        try:
            got = parser.parse_file(p).found
        except SourceError as e:
            problems(e, whole_file=True)
            continue
        used += bool(got)
        empty += not got
        found += got
    return found, {"files": len(paths), "used": used, "without_api": empty, "skipped": len(problems.skipped_files)}


def merge_checked(found: list[Found], problems: Problems) -> tuple[list[dict[str, Any]], int]:
    """Records whose api_call parses (the others reported/skipped), merged and ordered."""
    good = []
    for f in found:
        try:
            database.check(f)
            good.append(f)
        except SourceError as e:
            problems(e, whole_file=False)
    return database.merge(good)


def journal_path(out: Path) -> Path:
    """Where the teacher's raw text goes as it comes: beside `out`, so that it outlives a failed build."""
    return out.with_name(f".{out.name}.teacher.jsonl")


def instructions(cfg: BuildConfig, hub: str, records: list[dict[str, Any]], staging: Path,
                 progress: Callable[[int, int], None] | None) -> dict[str, Any]:
    """Teacher text for every API (resumed from the journal), filtered, split by API into staging; the counts."""
    seeds = selfinstruct.load_seeds(hub if hub in HUBS else OWN_SEEDS, cfg.seeds)
    journal = journal_path(cfg.out)
    if not journal.exists() and (cfg.out / "teacher.jsonl").exists():  # a finished build's text: re-filter, don't re-ask
        shutil.copyfile(cfg.out / "teacher.jsonl", journal)
    teacher_id = selfinstruct.teacher_id(cfg.teacher, cfg.teacher_model)
    t1 = time.perf_counter()
    texts = selfinstruct.generate(
        records, hub, lambda: selfinstruct.load_teacher(cfg.teacher, model=cfg.teacher_model, concurrency=cfg.concurrency),
        teacher_id, seeds, journal, cfg.selfinstruct, progress)
    pairs, counts = selfinstruct.filter_pairs(records, hub, texts, cfg.selfinstruct, seeds)
    train, evals = split_pairs(pairs, lambda p: call_key(p["api_call"]) or p["api_call"], cfg.eval_fraction,
                               cfg.selfinstruct.seed)
    write_jsonl(staging / "train.json", train)
    write_jsonl(staging / "eval.json", evals)
    shutil.copyfile(journal, staging / "teacher.jsonl")
    return {**counts, "teacher": teacher_id, "train_pairs": len(train), "eval_pairs": len(evals),
            "eval_fraction": cfg.eval_fraction, "generate_seconds": round(time.perf_counter() - t1, 1),
            "teacher_seconds_total": selfinstruct.teacher_seconds(journal)}


def build(cfg: BuildConfig, report: Callable[[str], None] = print,
          progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Run the whole build; return the manifest (also written to `out/manifest.json`)."""
    hub = normalize(cfg.hub)
    t0 = time.perf_counter()
    problems = Problems(cfg.keep_going, report)
    found, files = collect(hub, cfg.docs, problems)
    records, merged = merge_checked(found, problems)
    if cfg.limit is not None:
        records = records[: cfg.limit]
    if not records:
        raise GorillaError(f"no API records found in {cfg.docs}")
    with atomic_dir(cfg.out) as staging:
        database.write(staging / "api.jsonl", records)
        manifest: dict[str, Any] = {
            "hub": hub, "docs": str(cfg.docs), "files": files, "records_found": len(found), "duplicates_merged": merged,
            "records_skipped": len(problems.skipped_records), "apis": len(records),
            "skipped": {"files": problems.skipped_files, "records": problems.skipped_records[:1000]},
            "parse_seconds": round(time.perf_counter() - t0, 2),
        }
        manifest["instructions"] = instructions(cfg, hub, records, staging, progress) if cfg.instructions else None
        manifest["config"] = {k: str(v) if isinstance(v, Path) else v for k, v in asdict(cfg).items()}
        manifest["seconds"] = round(time.perf_counter() - t0, 1)
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
    journal_path(cfg.out).unlink(missing_ok=True)  # a finished build holds its own copy
    return manifest
