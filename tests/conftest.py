"""Shared fixtures: the real APIBench files (../shared/apibench), a tiny real model backend, and a CLI runner."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gorilla.data.paths import DEV_DATA

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session", autouse=True)
def own_config(tmp_path_factory) -> Iterator[Path]:
    """No test reads the user's hub registry (a registered hub would join every `--hub all`): GORILLA_CONFIG points
    at an empty folder for the session, subprocesses included; tests that register hubs set their own."""
    folder = tmp_path_factory.mktemp("config")
    before = os.environ.get("GORILLA_CONFIG")
    os.environ["GORILLA_CONFIG"] = str(folder)
    yield folder
    if before is None:
        os.environ.pop("GORILLA_CONFIG", None)
    else:
        os.environ["GORILLA_CONFIG"] = before


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not DEV_DATA.is_dir():
        pytest.skip("APIBench data (../shared/apibench) is not beside this checkout")
    return DEV_DATA


@pytest.fixture(scope="module")
def one_thread():
    """Shared 2-core machine: a second torch thread mostly waits on the busy core (10x slower on the tiny model)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tiny(one_thread):
    """A LocalBackend over a random-initialised 2-layer Llama with the embedded tokenizer: a real forward pass in
    milliseconds. initializer_range 0.2: a less uniform random model picks more varied calls."""
    from gorilla.models.local import LocalBackend
    from gorilla.models.tiny import tiny_llama

    model, tok = tiny_llama(initializer_range=0.2)
    return LocalBackend(model, tok, "tiny")


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None, input: str | None = None) -> subprocess.CompletedProcess:
    """Run the real `gorilla` entry point in a subprocess (exit codes and stderr as a user sees them)."""
    return subprocess.run([sys.executable, "-m", "gorilla", *args], capture_output=True, text=True, cwd=cwd or REPO,
                          env=env, input=input, timeout=600)


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory, tiny) -> str:
    """The tiny model saved as a model directory, for the CLI (a separate process)."""
    path = tmp_path_factory.mktemp("tiny")
    tiny.model.save_pretrained(path)
    tiny.tokenizer.save_pretrained(path)
    return str(path)


@contextlib.contextmanager
def serving(app) -> Iterator[str]:
    """`app` under uvicorn on a free loopback port, in a thread; yields the /v1 base URL."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="critical", timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def listening_port(proc: subprocess.Popen) -> int:
    """The port a `gorilla serve --port 0` process bound, read from its stderr (uvicorn logs it once it listens);
    the test fails with everything the process printed if it exits first."""
    lines = []
    for line in proc.stderr:
        lines.append(line)
        if m := re.search(r"running on http://127\.0\.0\.1:(\d+)", line):
            return int(m.group(1))
    pytest.fail("".join(lines))


def schema_problem(value: Any, schema: dict[str, Any]) -> str | None:
    """Why `value` breaks `schema` (the JSON Schema subset the grammar covers), None when it fits."""
    if "enum" in schema and value not in schema["enum"]:
        return f"{value!r} not in enum"
    kind = schema.get("type")
    checks = {"integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
              "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
              "string": lambda v: isinstance(v, str), "boolean": lambda v: isinstance(v, bool),
              "array": lambda v: isinstance(v, list), "object": lambda v: isinstance(v, dict)}
    if kind in checks and not checks[kind](value):
        return f"{value!r} is not {kind}"
    if kind == "array":
        return next((p for v in value if (p := schema_problem(v, schema.get("items") or {}))), None)
    if kind == "object":
        props = schema.get("properties") or {}
        if props:
            missing = set(schema.get("required") or []) - set(value)
            unknown = set(value) - set(props)
            if missing or unknown:
                return f"missing {missing} unknown {unknown}"
            return next((p for k, v in value.items() if (p := schema_problem(v, props[k]))), None)
    return None
