"""Whether saved weights and trainer files are whole, read from their headers alone (no tensor is loaded).

Why: a run killed while saving leaves files that exist but are cut short. Loading one fails deep in
safetensors or torch with a traceback, after seconds of work; these checks take microseconds, so the
converted-model cache and training's resume can tell a whole file from a cut one before using it.
"""

from __future__ import annotations

import json
import struct
import zipfile
from pathlib import Path

_MAX_HEADER = 100 * 1024 * 1024  # safetensors' own limit on the JSON header


def safetensors_problem(path: Path) -> str | None:
    """None when `path` is a whole safetensors file: its JSON header parses and the file is exactly as long as
    the header says (8 + header + the last tensor's end); else what is wrong, in words."""
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            head = f.read(8)
            if len(head) < 8:
                return "is truncated (no header)"
            (n,) = struct.unpack("<Q", head)
            if n > min(_MAX_HEADER, size - 8):
                return "is truncated (header cut short)"
            header = json.loads(f.read(n))
    except OSError as e:
        return f"is unreadable ({e.strerror or e})"
    except ValueError:
        return "has a corrupt header"
    if not isinstance(header, dict):
        return "has a corrupt header"
    ends = [t.get("data_offsets", [0, 0])[1] for k, t in header.items() if k != "__metadata__" and isinstance(t, dict)]
    expected = 8 + n + max(ends, default=0)
    if size != expected:
        return f"is {size} bytes where its header says {expected} (truncated or overwritten)"
    return None


def torch_file_problem(path: Path) -> str | None:
    """None when `path` (optimizer.pt, rng_state.pth...) is a whole torch.save zip archive: a cut one lacks the
    central directory at its end, which `zipfile` looks for first."""
    try:
        return None if zipfile.is_zipfile(path) else "is truncated (not a whole torch archive)"
    except OSError as e:
        return f"is unreadable ({e.strerror or e})"
