"""OpenAI-compatible HTTP serving of the Gorilla pipeline."""

from gorilla.serve.app import Answerer, ApiError, Reply, ServeConfig, create_app

__all__ = ["Answerer", "ApiError", "Reply", "ServeConfig", "create_app"]
