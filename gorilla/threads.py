"""How many CPU threads torch may use: one rule for the models and the embedders.

On a shared machine a second torch thread mostly waits on a busy core, so users pin the count with
$GORILLA_THREADS (else the usual $OMP_NUM_THREADS). Both `gorilla.models` and `gorilla.retrieval` call
`set_torch_threads` before they run a model, so a bad value fails the same way, as one line, wherever
it is met first.
"""

from __future__ import annotations

import os

from gorilla.errors import GorillaError


def torch_threads() -> int | None:
    """The thread count the environment asks for, or None for torch's default.

    $GORILLA_THREADS is ours, so a value that is not a positive whole number is an error rather than
    silently ignored (a typo would otherwise slow every job on a shared machine). $OMP_NUM_THREADS
    belongs to OpenMP and torch, which read it themselves: an unusable value there is left to them.
    """
    ours = os.environ.get("GORILLA_THREADS", "").strip()
    if ours:
        if not (ours.isascii() and ours.isdigit()) or int(ours) < 1:
            raise GorillaError(f"GORILLA_THREADS must be a positive whole number, got {ours!r}")
        return int(ours)
    omp = os.environ.get("OMP_NUM_THREADS", "").strip()
    return int(omp) if omp.isascii() and omp.isdigit() and int(omp) > 0 else None


def set_torch_threads() -> None:
    """Apply `torch_threads()`; the check runs before torch is imported, so a bad value costs nothing."""
    count = torch_threads()
    if count is None:
        return
    import torch

    torch.set_num_threads(count)
