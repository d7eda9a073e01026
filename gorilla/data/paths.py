"""Where the APIBench files are: flag, environment, the development checkout, or the user cache."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from gorilla.data.hubs import EVAL_FILES, TRAIN_FILES
from gorilla.errors import GorillaError

REPO_ROOT = Path(__file__).resolve().parents[2]
RESOURCES = Path(__file__).resolve().parents[1] / "resources"  # package data: shipped instructions, glossaries
DEV_DATA = REPO_ROOT.parent / "shared" / "apibench"
QUESTION_KINDS = ("0_shot", "bm25", "gpt_index", "oracle")


TASKS_DIR = RESOURCES / "tasks"  # the task glossaries shipped for APIBench hubs (gorilla.retrieval.tasks)


def instructions_file(hub: str) -> Path:
    """The per-API requests shipped for `hub` (gorilla/resources/instructions/CARD.md); may not exist."""
    return RESOURCES / "instructions" / f"{hub}.jsonl.gz"


def cache_dir() -> Path:
    """Per-user cache: converted weights, indexes, downloaded data. `GORILLA_CACHE` overrides."""
    if env := os.environ.get("GORILLA_CACHE"):
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "gorilla"


def config_dir() -> Path:
    """Per-user settings: the hub registry (hubs.toml) and the hubs `gorilla hub add` builds. `GORILLA_CONFIG`
    overrides; else platformdirs' user config folder where platformdirs is installed (it knows macOS and Windows),
    else $XDG_CONFIG_HOME or ~/.config, each + /gorilla."""
    if env := os.environ.get("GORILLA_CONFIG"):
        return Path(env).expanduser()
    try:
        import platformdirs
    except ImportError:
        base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
        return Path(base) / "gorilla"
    return Path(platformdirs.user_config_dir("gorilla", appauthor=False))


def resolve_data_dir(flag: str | Path | None = None) -> Path:
    """`--data-dir`, else `GORILLA_DATA`, else ../shared/apibench beside the repo, else the cache."""
    for source, value in (("--data-dir", flag), ("GORILLA_DATA", os.environ.get("GORILLA_DATA"))):
        if value:
            path = Path(value).expanduser()
            if not path.is_dir():
                raise GorillaError(f"{source}: {path} is not a directory")
            return path
    if DEV_DATA.is_dir():
        return DEV_DATA
    cached = cache_dir() / "apibench"
    if (cached / "api").is_dir():
        return cached
    raise GorillaError("no APIBench data found: pass --data-dir DIR, set GORILLA_DATA, or run `gorilla data download`")


@dataclass(frozen=True)
class ApiBenchPaths:
    """Upstream's layout under one root."""

    root: Path

    @classmethod
    def resolve(cls, flag: str | Path | None = None) -> ApiBenchPaths:
        return cls(resolve_data_dir(flag))

    def api_db(self, hub: str) -> Path:
        return self.root / "api" / f"{hub}_api.jsonl"

    def eval(self, hub: str) -> Path:
        return self.root / "apibench" / EVAL_FILES[hub]

    def train(self, hub: str) -> Path:
        return self.root / "apibench" / TRAIN_FILES[hub]

    def questions(self, hub: str, kind: str = "0_shot") -> Path:
        return self.root / "questions" / hub / f"questions_{hub}_{kind}.jsonl"

    def responses_dir(self, hub: str) -> Path:
        return self.root / "responses" / hub
