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
    missing = [path for path, text in leaves.items() if "Example" not in text]
    assert not missing, f"no example in --help of: {missing}"
    assert wall < 15  # every --help of every command, in one process
