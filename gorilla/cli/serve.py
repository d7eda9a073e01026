"""`gorilla serve`: the Gorilla pipeline behind an OpenAI-compatible HTTP API."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

import typer

from gorilla.cli.app import (
    ApiDbOpt,
    DataDirOpt,
    HubOrAllOpt,
    PipelineOptions,
    app,
    option,
    option_set,
    pipeline_options,
)

if TYPE_CHECKING:
    from gorilla.serve import ServeConfig

LOOPBACK = ("127.0.0.1", "localhost", "::1")
HostOpt = Annotated[str, typer.Option(help="Interface to bind; 0.0.0.0 exposes the server to the network.")]
PortOpt = Annotated[int, typer.Option(help="TCP port (0: any free port, printed at startup).")]
ServerKeyOpt = Annotated[str | None, typer.Option(
    "--api-key", help="Require 'Authorization: Bearer KEY' on /v1/* (default: $GORILLA_SERVE_API_KEY; none: open).",
    show_default=False)]


@dataclass(frozen=True)
class ServeLimits:
    """What one server instance allows (sizes, concurrency, queue) and the model id it reports; checked on creation
    so a bad flag is one line before anything loads."""

    name: str
    max_tokens_limit: int
    max_body_bytes: int
    max_concurrency: int
    max_queue: int

    def __post_init__(self) -> None:
        """Refuse limits that would make every request fail (zero sizes) or the queue meaningless."""
        from gorilla.errors import GorillaError

        for flag in ("max_tokens_limit", "max_body_bytes", "max_concurrency"):
            if getattr(self, flag) < 1:
                raise GorillaError(f"--{flag.replace('_', '-')} must be at least 1, got {getattr(self, flag)}")
        if self.max_queue < 0:
            raise GorillaError(f"--max-queue must be at least 0, got {self.max_queue}")

    def config(self, api_key: str | None, default_max_tokens: int) -> ServeConfig:
        """The server's config; `default_max_tokens` (--max-new-tokens) must fit under --max-tokens-limit."""
        from gorilla.errors import GorillaError
        from gorilla.serve import ServeConfig

        if default_max_tokens > self.max_tokens_limit:
            raise GorillaError(f"--max-new-tokens {default_max_tokens} is over --max-tokens-limit {self.max_tokens_limit}")
        return ServeConfig(model_id=self.name, api_key=api_key, max_body_bytes=self.max_body_bytes,
                           max_tokens_limit=self.max_tokens_limit,
                           default_max_tokens=default_max_tokens, max_concurrency=self.max_concurrency,
                           max_queue=self.max_queue)


LIMITS = [
    option("name", Annotated[str, typer.Option(help="Model id the server reports in /v1/models and responses.")],
           "gorilla"),
    option("max_tokens_limit", Annotated[int, typer.Option(help="Largest max_tokens a request may ask for (400 above).")],
           512),
    option("max_body_bytes", Annotated[int, typer.Option(help="Largest request body (413 above).")], 64 * 1024),
    option("max_concurrency", Annotated[int, typer.Option(help="Answers computed at once.")], 1),
    option("max_queue", Annotated[int, typer.Option(help="Requests waiting for a slot; beyond that 503 + Retry-After.")],
           16),
]


@app.command("serve")
@pipeline_options(serving=True)
@option_set("limits", LIMITS, ServeLimits)
def serve(
    *,
    host: HostOpt = "127.0.0.1",
    port: PortOpt = 8000,
    api_key: ServerKeyOpt = None,
    hub: HubOrAllOpt = "all",
    pipeline: PipelineOptions,
    limits: ServeLimits,
    data_dir: DataDirOpt = None,
    api_db: ApiDbOpt = None,
) -> None:
    """Serve Gorilla as an OpenAI-compatible API: /v1/models, /v1/chat/completions (streaming),
    /v1/completions, /health. The last user message is the query; the reply is one API call. A chat request
    with `tools` gets `tool_calls` instead (OpenAI function calling; docs/serving.md).

    Example: gorilla serve --hub torchhub --api-key secret --port 8000
    then:    curl -H 'Authorization: Bearer secret' localhost:8000/v1/chat/completions \\
             -d '{"model": "gorilla", "messages": [{"role": "user", "content": "classify bird photos"}]}'
    """
    import uvicorn

    from gorilla.errors import GorillaError
    from gorilla.pipeline import Gorilla
    from gorilla.serve import create_app
    from gorilla.serve.answer import PipelineAnswerer

    if not 0 <= port <= 65535:  # checked before the model loads; asyncio's bind() would raise OverflowError
        raise GorillaError(f"--port must be 0-65535 (0: any free port), got {port}")
    config = limits.config(api_key or os.environ.get("GORILLA_SERVE_API_KEY") or None, pipeline.max_new_tokens)
    answer = PipelineAnswerer(Gorilla(pipeline.config(hub, data_dir, api_db)))  # loads model and indexes before binding
    if host not in LOOPBACK and config.api_key is None:
        typer.echo(f"gorilla: warning: serving on {host} without --api-key: anyone who can reach it can use it", err=True)
    uvicorn.run(create_app(answer, config), host=host, port=port, log_level="info", timeout_graceful_shutdown=5)
