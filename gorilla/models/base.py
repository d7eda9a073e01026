"""What every backend offers the pipeline, the teacher and the server."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable


@runtime_checkable
class Backend(Protocol):
    """Text in, text out, batched.

    `allowed_calls[i]`, when given, lists the API calls prompt i may write in its api_call
    field (constrained decoding); backends that cannot constrain say so by raising GorillaError.
    """

    name: str

    def generate(
        self,
        prompts: Sequence[str],
        *,
        max_new_tokens: int = 160,
        temperature: float = 0.0,
        stop: Sequence[str] = (),
        allowed_calls: Sequence[Sequence[str]] | None = None,
    ) -> list[str]: ...
