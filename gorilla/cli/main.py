"""Entry point: registers every command module, turns GorillaError into one line and exit 2."""

from __future__ import annotations

import sys

from gorilla.cli import apibench, data, generation, retrieval, scoring, serve, training  # noqa: F401  (each module registers its commands)
from gorilla.cli.app import app
from gorilla.errors import GorillaError


def main(argv: list[str] | None = None) -> None:
    try:
        app(args=argv, standalone_mode=True)
    except GorillaError as e:
        print(f"gorilla: error: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("gorilla: interrupted", file=sys.stderr)
        sys.exit(130)
