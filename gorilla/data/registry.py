"""Hubs as data: a name, an API database, and what else the hub has (solved requests, an eval split, a task
glossary). Every command's `--hub` resolves through `get_hub`; nothing below the CLI asks which hub it is.

The three APIBench hubs come predefined: their files resolve through ApiBenchPaths as they always did.
Other hubs are registered in `<config>/hubs.toml` (`gorilla hub add` writes it; a person may too):

    [hubs.apizoo]
    api_db = "hubs/apizoo/api.jsonl"     # required; relative paths are relative to hubs.toml
    glossary = "hubs/apizoo/tasks.json"  # optional, like train, eval and instructions

`--api-db FILE` makes an ad-hoc hub of a database file without registering it (`adhoc_hub`).
The file is read with tomllib and written with tomli_w (a dependency already: training saves its config
with it), whole, through `atomic_write`: comments in a hand-edited file are not kept.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gorilla.data.hubs import ALIASES, HUBS, resolve_alias
from gorilla.data.jsonl import atomic_write
from gorilla.data.paths import TASKS_DIR, ApiBenchPaths, config_dir, instructions_file
from gorilla.errors import GorillaError, InputError

FILES = ("api_db", "train", "eval", "glossary", "instructions")  # a registry entry's keys; api_db is required
NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")  # a folder name and a bare TOML key everywhere


@dataclass(frozen=True)
class Hub:
    """One hub: its name, its API database, and its optional files. `folder` is the folder `gorilla hub add`
    built it in (None for the APIBench hubs and ad-hoc ones); `predefined`: one of the APIBench hubs."""

    name: str
    api_db: Path
    train: Path | None = None
    eval: Path | None = None
    glossary: Path | None = None
    instructions: Path | None = None
    predefined: bool = False
    folder: Path | None = None

    @property
    def example_files(self) -> list[Path]:
        """Its solved requests that exist (train split, shipped instructions): the retrieval's example memory and
        task head learn from them. Never the eval split."""
        return [p for p in (self.train, self.instructions) if p is not None and p.is_file()]


def registry_path() -> Path:
    return config_dir() / "hubs.toml"


def hub_folder(name: str) -> Path:
    """Where `gorilla hub add NAME` builds the hub: its api.jsonl, manifest and glossary."""
    return config_dir() / "hubs" / name


def check_name(name: str) -> str:
    """A name a new hub may take: a short lower-case word (it names a folder), not an APIBench hub or alias."""
    if not NAME.fullmatch(name):
        raise GorillaError(f"hub name {name!r}: use lower-case letters, digits, '-' and '_' (at most 63, "
                           "starting with a letter or digit)")
    if name in HUBS or name in ALIASES or name == "all":
        raise GorillaError(f"hub name {name!r} is taken by a predefined hub ({', '.join(HUBS)}, their aliases, all): "
                           "pick another name")
    return name


def apibench_hub(name: str, paths: ApiBenchPaths) -> Hub:
    """A predefined hub's files, as upstream names them, plus what the package ships for it."""
    glossary, shipped = TASKS_DIR / f"{name}.json", instructions_file(name)
    return Hub(name, paths.api_db(name), train=paths.train(name), eval=paths.eval(name),
               glossary=glossary if glossary.is_file() else None, instructions=shipped if shipped.is_file() else None,
               predefined=True)


def adhoc_hub(path: str | Path) -> Hub:
    """`--api-db FILE`: a hub of that database alone, named after the file. A train.json / eval.json beside it
    (what `gorilla apibench build --out DIR` writes next to api.jsonl) become its solved requests and eval split."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise GorillaError(f"--api-db {path}: no such file")
    beside = {n: path.parent / f"{n}.json" for n in ("train", "eval")}
    return Hub(path.name, path, **{k: p for k, p in beside.items() if p.is_file()})


def get_hub(name: str | Hub, data_dir: str | Path | None = None) -> Hub:
    """The hub `name` names (an alias of an APIBench hub, or a registered name); a Hub is returned as it is.
    An unknown name, or a registered hub whose database is gone, is one line."""
    if isinstance(name, Hub):
        return name
    hub = hub_entry(name, data_dir)
    return hub if hub.predefined else checked(hub)


def hub_entry(name: str, data_dir: str | Path | None = None) -> Hub:
    """The hub `name` names as registered, whether or not its files are there (`gorilla hub show` reports them)."""
    key = resolve_alias(name)
    if key in HUBS:
        return apibench_hub(key, ApiBenchPaths.resolve(data_dir))
    registry = read_registry()
    if key not in registry:
        known = ", ".join([*HUBS, *registry])
        raise GorillaError(f"unknown hub {name!r}: known hubs are {known} (add one: gorilla hub add NAME SOURCE...)")
    return registry[key]


def checked(hub: Hub) -> Hub:
    """`hub` if its database is there, else the one line that says how to fix it."""
    if not hub.api_db.is_file():
        raise GorillaError(f"hub {hub.name!r}: its API database {hub.api_db} is missing; rebuild it "
                           f"(gorilla hub add {hub.name} SOURCE...) or drop it (gorilla hub remove {hub.name})")
    return hub


def all_hubs(data_dir: str | Path | None = None) -> list[Hub]:
    """`--hub all`: the APIBench hubs (when their data is found) and every registered hub; the missing-data
    error only when there is no hub at all."""
    registered = [checked(h) for h in read_registry().values()]
    try:
        paths = ApiBenchPaths.resolve(data_dir)
    except GorillaError:
        if registered and data_dir is None:
            return registered
        raise
    return [apibench_hub(h, paths) for h in HUBS] + registered


# ---- hubs.toml --------------------------------------------------------------------------------------------------


def read_registry() -> dict[str, Hub]:
    """Every registered hub, in file order; a file that is not TOML, or not the registry's shape, is refused
    naming the file, the line and the key."""
    path = registry_path()
    text = _read(path)
    if text is None:
        return {}
    hubs = _parse(path, text).get("hubs", {})
    if not isinstance(hubs, dict):
        raise InputError(path, "expected a [hubs.NAME] table per hub", _line_of(text, "hubs"), "hubs")
    return {name: _entry(path, text, name, entry) for name, entry in hubs.items()}


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except UnicodeDecodeError as e:
        raise InputError(path, f"not UTF-8 text (byte {e.start + 1})") from None
    except OSError as e:
        raise InputError(path, f"cannot read: {e.strerror or e}") from None


def _parse(path: Path, text: str) -> dict[str, Any]:
    """The TOML document; tomllib's error says "(at line N, column M)", which becomes the error's line."""
    import tomllib

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        message = str(e)
        where = re.search(r"\(at line (\d+), column (\d+)\)$", message)
        raise InputError(path, f"not valid TOML: {message[: where.start()].strip() if where else message}"
                         + (f" (column {where.group(2)})" if where else ""),
                         int(where.group(1)) if where else None) from None
    unknown = sorted(set(data) - {"hubs"})
    if unknown:
        raise InputError(path, "unknown table or key; the registry holds [hubs.NAME] tables only",
                         _line_of(text, unknown[0]), unknown[0])
    return data


def _line_of(text: str, table: str, key: str | None = None) -> int | None:
    """The line that opens `[table]` (or, with `key`, sets `key` inside it), for the errors tomllib cannot locate:
    they are about values, and it returns values without positions. None when written another way."""
    lines = text.splitlines()
    dotted = r"\s*\.\s*".join(rf'"?{re.escape(part)}"?' for part in table.split("."))
    opens = re.compile(rf"^\s*\[{{1,2}}\s*{dotted}\s*\]|^\s*{dotted}\s*=")
    start = next((i for i, line in enumerate(lines) if opens.match(line)), None)
    if start is None or key is None:
        return None if start is None else start + 1
    sets = re.compile(rf'^\s*"?{re.escape(key)}"?\s*=')
    return next((i + 1 for i in range(start + 1, len(lines)) if sets.match(lines[i])), start + 1)


def _entry(path: Path, text: str, name: str, entry: Any) -> Hub:
    """One [hubs.NAME] table as a Hub (its paths resolved against the registry's folder)."""
    where = f"hubs.{name}"
    if not isinstance(entry, dict):
        raise InputError(path, "expected a table", _line_of(text, where), where)
    try:
        check_name(name)
    except GorillaError as e:
        raise InputError(path, str(e), _line_of(text, where), where) from None
    for key, value in entry.items():
        if key not in FILES:
            raise InputError(path, f"unknown key (expected {', '.join(FILES)})", _line_of(text, where, key),
                             f"{where}.{key}")
        if not isinstance(value, str) or not value.strip():
            raise InputError(path, "expected a file path (a string)", _line_of(text, where, key), f"{where}.{key}")
    if "api_db" not in entry:
        raise InputError(path, "missing (the hub's API database, JSON lines)", _line_of(text, where), f"{where}.api_db")
    files = {k: (path.parent / Path(v).expanduser()) for k, v in entry.items()}
    folder = hub_folder(name)
    return Hub(name, predefined=False, folder=folder if files["api_db"].parent == folder else None, **files)


def _relative(path: Path) -> str:
    """A path as the registry stores it: relative to the config folder when inside it (the folder can move)."""
    try:
        return path.relative_to(config_dir()).as_posix()
    except ValueError:
        return str(path.resolve())


def register(hub: Hub) -> None:
    """Add or replace `hub`'s [hubs.NAME] table (the file is rewritten whole, atomically)."""
    check_name(hub.name)
    tables = _tables()
    tables[hub.name] = {k: _relative(p) for k in FILES if (p := getattr(hub, k)) is not None}
    _write(tables)


def unregister(name: str) -> None:
    tables = _tables()
    tables.pop(name, None)
    _write(tables)


def _tables() -> dict[str, dict[str, str]]:
    """The registry's tables as stored (after the same checks `read_registry` makes)."""
    return {name: {k: _relative(p) for k in FILES if (p := getattr(h, k)) is not None}
            for name, h in read_registry().items()}


def _write(tables: dict[str, dict[str, str]]) -> None:
    import tomli_w

    path = registry_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    head = "# gorilla's hub registry: `gorilla hub add` / `gorilla hub remove` rewrite this file.\n" \
           "# One [hubs.NAME] table per hub: api_db (required), train, eval, glossary, instructions;\n" \
           "# relative paths are relative to this file.\n\n"
    with atomic_write(path) as f:
        f.write(head + tomli_w.dumps({"hubs": tables}))


@contextlib.contextmanager
def registry_lock() -> Iterator[None]:
    """Hold the registry for a read-change-write (two `gorilla hub add` at once must not lose one): an exclusive
    flock on <config>/.hubs.lock where the platform has fcntl, else nothing."""
    try:
        import fcntl
    except ImportError:  # Windows: no flock; concurrent adds are the user's to avoid
        yield
        return
    folder = config_dir()
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / ".hubs.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
