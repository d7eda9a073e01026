"""Option sets: one declaration per group of shared flags, spliced into each command that takes it."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Annotated

import pytest
import typer
from typer.testing import CliRunner

from gorilla.cli.app import PipelineOptions, option, option_set
from gorilla.cli.main import app


def test_option_set_splices_its_flags_in_place_and_builds_one_value():
    built = []

    @option_set("group", [option("alpha", Annotated[int, typer.Option()], 1),
                          option("beta", Annotated[str, typer.Option()], "b")], lambda **v: built.append(v) or v)
    def command(first: str, *, group: dict, last: bool = False) -> dict:
        """Why: a docstring survives."""
        return {"first": first, "group": group, "last": last}

    assert list(inspect.signature(command).parameters) == ["first", "alpha", "beta", "last"]
    assert command(first="x", alpha=2, beta="y", last=True) == {"first": "x", "group": {"alpha": 2, "beta": "y"},
                                                                 "last": True}
    assert built == [{"alpha": 2, "beta": "y"}] and command.__doc__ == "Why: a docstring survives."
    with pytest.raises(TypeError, match="no parameter 'missing'"):
        option_set("missing", [], dict)(lambda x: x)


def test_pipeline_options_build_the_pipeline_config():
    flags = PipelineOptions(model="embedded", backend="openai", base_url="http://127.0.0.1:9/v1", api_key="k",
                            guided="off", retriever="none", k=2, constrain="auto", max_new_tokens=16)
    config = flags.config("TorchHub", Path("/data"))
    assert (config.hub, config.data_dir, config.retriever, config.constrain, config.api_mode) == (
        "torchhub", "/data", None, "off", "chat")


def test_serve_passes_every_flag_to_the_pipeline_and_the_server(monkeypatch):
    """`gorilla serve` without a socket: the app it would run is captured, with its answerer and config."""
    import uvicorn

    import gorilla.serve

    captured = {}
    monkeypatch.setattr(gorilla.serve, "create_app", lambda answer, config: captured.update(answer=answer, config=config))
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: captured.update(run=kw))
    r = CliRunner().invoke(app, ["serve", "--backend", "openai", "--base-url", "http://127.0.0.1:9/v1",
                                 "--backend-api-key", "endpoint-key", "--api-mode", "completions", "--retriever", "none",
                                 "-k", "2", "--hub", "torchhub", "--max-new-tokens", "20", "--name", "g",
                                 "--max-queue", "0", "--api-key", "server-key", "--port", "0"])
    assert r.exit_code == 0, r.output
    gorilla, config = captured["answer"].gorilla, captured["config"]
    assert (gorilla.config.hub, gorilla.config.k, gorilla.config.api_mode) == ("torchhub", 2, "completions")
    assert gorilla.backend.config.mode == "completions" and gorilla.backend.config.api_key == "endpoint-key"
    assert (config.model_id, config.api_key, config.default_max_tokens, config.max_queue) == ("g", "server-key", 20, 0)
    assert captured["run"]["port"] == 0


@pytest.mark.parametrize("args, message", [
    (["--max-queue", "-1"], "--max-queue must be at least 0, got -1"),
    (["--max-body-bytes", "0"], "--max-body-bytes must be at least 1, got 0"),
    (["--max-new-tokens", "600"], "--max-new-tokens 600 is over --max-tokens-limit 512"),
])
def test_serve_limits_are_checked_before_anything_loads(args, message):
    from gorilla.errors import GorillaError

    r = CliRunner().invoke(app, ["serve", "--retriever", "none", "--model", "/nonexistent/model", *args])
    assert isinstance(r.exception, GorillaError) and str(r.exception) == message
