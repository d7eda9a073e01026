"""`gorilla serve`: the Gorilla pipeline behind an OpenAI-compatible HTTP API."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from gorilla.cli.app import Backend, BaseUrl, Constrain, DataDir, Guided, Model, Retriever, app
from gorilla.pipeline import DEFAULT_K, DEFAULT_MAX_NEW_TOKENS


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind; 0.0.0.0 exposes the server to the network.")]
    = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port (0: any free port, printed at startup).")] = 8000,
    api_key: Annotated[str | None, typer.Option(
        "--api-key", help="Require 'Authorization: Bearer KEY' on /v1/* (default: $GORILLA_SERVE_API_KEY; none: open).",
        show_default=False)] = None,
    model: Model = "embedded",
    backend: Backend = "local",
    base_url: BaseUrl = None,
    backend_api_key: Annotated[str | None, typer.Option(
        help="With --backend openai: its key (default: $OPENAI_API_KEY).", show_default=False)] = None,
    api_mode: Annotated[str, typer.Option(help="With --backend openai: chat (/chat/completions, system prompt + "
                                               "the Gorilla prompt) or completions (/completions, the raw prompt; "
                                               "for base and fine-tuned models).")] = "chat",
    guided: Guided = "off",
    hub: Annotated[str, typer.Option(help="torchhub, tensorflowhub, huggingface, or all.")] = "all",
    retriever: Retriever = "best",
    k: Annotated[int, typer.Option("-k", help="Documents put in the prompt.")] = DEFAULT_K,
    constrain: Constrain = "auto",
    max_new_tokens: Annotated[int, typer.Option(help="Tokens per answer when a request gives no max_tokens.")]
    = DEFAULT_MAX_NEW_TOKENS,
    name: Annotated[str, typer.Option(help="Model id the server reports in /v1/models and responses.")] = "gorilla",
    max_tokens_limit: Annotated[int, typer.Option(help="Largest max_tokens a request may ask for (400 above).")] = 512,
    max_body_bytes: Annotated[int, typer.Option(help="Largest request body (413 above).")] = 64 * 1024,
    max_query_chars: Annotated[int, typer.Option(help="Longest query, after whitespace is collapsed (400 above).")]
    = 2000,
    max_concurrency: Annotated[int, typer.Option(help="Answers computed at once.")] = 1,
    max_queue: Annotated[int, typer.Option(help="Requests waiting for a slot; beyond that 503 + Retry-After.")] = 16,
    data_dir: DataDir = None,
) -> None:
    """Serve Gorilla as an OpenAI-compatible API: /v1/models, /v1/chat/completions (streaming),
    /v1/completions, /health. The last user message is the query; the reply is one API call.

    Example: gorilla serve --hub torchhub --api-key secret --port 8000
    then:    curl -H 'Authorization: Bearer secret' localhost:8000/v1/chat/completions \\
             -d '{"model": "gorilla", "messages": [{"role": "user", "content": "classify bird photos"}]}'
    """
    import uvicorn

    from gorilla.errors import GorillaError
    from gorilla.models import load_backend
    from gorilla.pipeline import Gorilla, PipelineConfig
    from gorilla.serve import ServeConfig, create_app
    from gorilla.serve.answer import PipelineAnswerer

    for flag, value in (("--max-tokens-limit", max_tokens_limit), ("--max-body-bytes", max_body_bytes),
                        ("--max-query-chars", max_query_chars),
                        ("--max-concurrency", max_concurrency)):
        if value < 1:
            raise GorillaError(f"{flag} must be at least 1, got {value}")
    if max_queue < 0:
        raise GorillaError(f"--max-queue must be at least 0, got {max_queue}")
    if max_new_tokens > max_tokens_limit:
        raise GorillaError(f"--max-new-tokens {max_new_tokens} is over --max-tokens-limit {max_tokens_limit}")
    pipeline = PipelineConfig(hub=hub, model=model, backend=backend, base_url=base_url, api_key=backend_api_key,
                              guided=guided, retriever=retriever, k=k, constrain=constrain,
                              max_new_tokens=max_new_tokens, data_dir=str(data_dir) if data_dir else None)
    options = {"mode": api_mode, "guided": guided} if backend == "openai" else {}
    model_backend = load_backend(backend, model, base_url=base_url, api_key=backend_api_key, **options)
    answer = PipelineAnswerer(Gorilla(pipeline, backend=model_backend))
    config = ServeConfig(model_id=name, api_key=api_key or os.environ.get("GORILLA_SERVE_API_KEY") or None,
                         max_body_bytes=max_body_bytes, max_query_chars=max_query_chars, max_tokens_limit=max_tokens_limit,
                         default_max_tokens=max_new_tokens, max_concurrency=max_concurrency, max_queue=max_queue)
    if host not in ("127.0.0.1", "localhost", "::1") and config.api_key is None:
        typer.echo(f"gorilla: warning: serving on {host} without --api-key: anyone who can reach it can use it", err=True)
    uvicorn.run(create_app(answer, config), host=host, port=port, log_level="info", timeout_graceful_shutdown=5)
