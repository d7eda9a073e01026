"""Shared fixtures: the real APIBench files (../shared/apibench) and a CLI runner."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gorilla.data.paths import DEV_DATA

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not DEV_DATA.is_dir():
        pytest.skip("APIBench data (../shared/apibench) is not beside this checkout")
    return DEV_DATA


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None, input: str | None = None) -> subprocess.CompletedProcess:
    """Run the real `gorilla` entry point in a subprocess (exit codes and stderr as a user sees them)."""
    return subprocess.run([sys.executable, "-m", "gorilla", *args], capture_output=True, text=True, cwd=cwd or REPO,
                          env=env, input=input, timeout=600)
