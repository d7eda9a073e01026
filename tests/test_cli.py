"""Every command's --help is fast, shows an example, and never imports the heavy libraries."""

from __future__ import annotations

import json
import subprocess
import sys
import time

HEAVY = ("torch", "transformers", "faiss", "sentence_transformers", "peft", "accelerate")

PROBE = f"""
import io, json, sys, time, contextlib
t = time.perf_counter()
import click, typer.main
from gorilla.cli.main import app, main

def walk(cmd, path):
    yield path
    for name, sub in getattr(cmd, "commands", {{}}).items():
        yield from walk(sub, path + [name])

report = {{}}
for path in walk(typer.main.get_command(app), []):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            main(path + ["--help"])
        except SystemExit:
            pass
    report[" ".join(path)] = out.getvalue()
print(json.dumps({{"help": report, "seconds": time.perf_counter() - t,
                  "heavy": sorted(m for m in {HEAVY!r} if m in sys.modules)}}))
"""


def test_every_help_is_light_and_has_an_example():
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True).stdout
    wall = time.perf_counter() - t
    probe = json.loads(out.strip().splitlines()[-1])
    assert probe["heavy"] == [], f"--help imported {probe['heavy']}"
    leaves = {path: text for path, text in probe["help"].items() if path and "Commands" not in text}
    assert len(leaves) >= 5
    missing = [path or "(gorilla)" for path, text in probe["help"].items() if "Example:" not in text]
    assert not missing, f"no 'Example:' in --help of: {missing}"  # every command and group, the root too
    assert wall < 15  # every --help of every command, in one process


def test_version_comes_from_the_installed_package():
    from importlib.metadata import version

    out = subprocess.run([sys.executable, "-m", "gorilla", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"gorilla {version('gorilla-apibench')}"


def test_version_falls_back_to_the_source_tree(monkeypatch):
    import importlib.metadata

    import gorilla
    from gorilla.cli.app import package_version

    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", missing)
    assert package_version() == gorilla.__version__


def test_accelerate_config_prints_a_packaged_path():
    from gorilla.data.paths import RESOURCES

    out = subprocess.run([sys.executable, "-m", "gorilla", "train", "--accelerate-config", "fsdp"], capture_output=True,
                         text=True, check=True)  # no --out needed: the option is eager
    assert out.stdout.strip() == str(RESOURCES / "accelerate" / "fsdp.yaml")
    bad = subprocess.run([sys.executable, "-m", "gorilla", "train", "--accelerate-config", "nope"], capture_output=True,
                         text=True)
    assert bad.returncode == 2 and "known: cpu_ddp, ddp" in bad.stderr
