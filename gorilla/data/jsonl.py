"""JSONL reading that locates every problem, and writing that never leaves half a file."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import tempfile
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from gorilla.errors import InputError

MAX_FILE_BYTES = 64 * 1024 * 1024  # the bound on a data file that is read whole or downloaded


def read_json(path: str | Path) -> Any | None:
    """A JSON file's value, or None when it is missing or not JSON: for optional model metadata, where the
    caller falls back to a slower, general loader."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def read_jsonl(path: str | Path, *, allow_empty: bool = False) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (1-based line number, object) for each non-blank line; a `.gz` file is read through gzip.

    Blank lines are skipped (upstream files end with one); anything else that is not a
    JSON object is an InputError naming the file and line.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
        if path.suffix == ".gz":
            raw = gzip.decompress(raw)
    except FileNotFoundError:
        raise InputError(path, "no such file") from None
    except IsADirectoryError:
        raise InputError(path, "is a directory, expected a JSONL file") from None
    except OSError as e:
        raise InputError(path, f"cannot read: {e.strerror or e}") from None
    except (EOFError, zlib.error) as e:
        raise InputError(path, f"gzip data cut short or corrupt ({e})") from None
    if not raw.strip():
        if allow_empty:
            return
        raise InputError(path, "file is empty")
    seen = 0
    for lineno, line in enumerate(raw.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as e:
            raise InputError(path, f"invalid UTF-8 byte 0x{line[e.start]:02x} at column {e.start + 1}", lineno) from None
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as e:
            raise InputError(path, f"invalid JSON: {e.msg} (column {e.colno})", lineno) from None
        if not isinstance(obj, dict):
            raise InputError(path, f"expected a JSON object, got {type(obj).__name__}", lineno)
        seen += 1
        yield lineno, obj
    if not seen and not allow_empty:
        raise InputError(path, "file has no records")


@contextmanager
def atomic_write(path: str | Path, mode: str = "w") -> Iterator[IO[Any]]:
    """Write to a temp file beside `path`, rename over it only when the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Fill a staging folder beside `path`; it replaces `path` only when the block succeeds, so a reader
    never sees a half-written folder (a model, an embedder) and an interrupted run leaves the old one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial"))
    try:
        yield staging
        if path.exists():
            old = path.with_name(f".{path.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            path.rename(old)
            staging.rename(path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            staging.rename(path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def write_jsonl(path: str | Path, rows: Iterable[dict[str, Any]]) -> int:
    """Atomically write rows as JSONL, gzipped for a `.gz` path (mtime 0: the same rows give the same bytes);
    return how many were written."""
    lines = [json.dumps(row, ensure_ascii=False) + "\n" for row in rows]
    data = "".join(lines).encode("utf-8")
    with atomic_write(path, "wb") as f:
        f.write(gzip.compress(data, mtime=0) if Path(path).suffix == ".gz" else data)
    return len(lines)
