"""Model backends: local transformers (HF id, directory, GGUF, PEFT adapter) and OpenAI-compatible endpoints."""

from __future__ import annotations

from gorilla.errors import GorillaError
from gorilla.models.base import Backend

BACKENDS = ("local", "openai")

__all__ = ["Backend", "BACKENDS", "load_backend"]


def load_backend(backend: str = "local", model: str = "embedded", *, base_url: str | None = None,
                 api_key: str | None = None, **openai_options: str) -> Backend:
    """The backend a user named: `local` loads `model` here; `openai` talks to `base_url`
    (`openai_options`: OpenAIConfig fields such as mode and guided)."""
    if backend == "local":
        from gorilla.models.local import LocalBackend

        return LocalBackend.load(model)
    if backend == "openai":
        from gorilla.models.openai import OpenAIBackend, OpenAIConfig

        if not base_url:
            raise GorillaError("--backend openai needs --base-url, e.g. http://127.0.0.1:8001/v1")
        return OpenAIBackend(OpenAIConfig(base_url=base_url, model=None if model == "embedded" else model, api_key=api_key,
                                          **openai_options))
    raise GorillaError(f"--backend: expected one of {', '.join(BACKENDS)}, got {backend!r}")
