"""Entry point: registers every command module, turns GorillaError into one line and exit 2."""

from __future__ import annotations

import sys

from gorilla.cli import apibench, data, doctor, generation, hubs, retrieval, scoring, serve, training  # noqa: F401  (each module registers its commands)
from gorilla.cli.app import app
from gorilla.errors import GorillaError


def show_notes() -> None:
    """Send the library's notes (logger "gorilla", INFO and up: "preparing: ..." lines, stale-index warnings) to
    stderr as bare lines, so a first query says what it prepares instead of sitting silent for a minute;
    stdout stays the answer. Once per process."""
    import logging

    logger = logging.getLogger("gorilla")
    if not any(getattr(h, "gorilla_notes", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        handler.gorilla_notes = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.INFO)


def main(argv: list[str] | None = None) -> None:
    """The `gorilla` console script: notes to stderr, a GorillaError as one line and exit 2."""
    show_notes()
    try:
        app(args=argv, standalone_mode=True)
    except GorillaError as e:
        print(f"gorilla: error: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("gorilla: interrupted", file=sys.stderr)
        sys.exit(130)
