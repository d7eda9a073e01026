"""Model backends: local transformers (HF id, directory, GGUF, PEFT adapter) and OpenAI-compatible endpoints."""

from gorilla.models.base import Backend

__all__ = ["Backend"]
