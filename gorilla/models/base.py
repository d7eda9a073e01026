"""What every backend offers the pipeline, the teacher and the server.

`Backend.generate` is written once, here: its signature and defaults, and the checks every backend
needs, so the local and the OpenAI-compatible backends cannot drift apart in what they accept.
A backend implements only `_generate`, which gets the prompts and one `Decoding`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

from gorilla.errors import GorillaError


@dataclass(frozen=True)
class Decoding:
    """How to decode one batch.

    `allowed_calls[i]`, when given, lists the API calls prompt i may write in its api_call
    field (constrained decoding); backends that cannot constrain say so by raising GorillaError.
    """

    max_new_tokens: int = 160
    temperature: float = 0.0  # 0: greedy, so the same prompt gives the same text
    stop: tuple[str, ...] = ()
    allowed_calls: Sequence[Sequence[str]] | None = None


class Backend(ABC):
    """Text in, text out, batched; `name` says which model answered (in manifests and responses)."""

    name: str

    def generate(
        self,
        prompts: Sequence[str],
        *,
        max_new_tokens: int = 160,
        temperature: float = 0.0,
        stop: Sequence[str] = (),
        allowed_calls: Sequence[Sequence[str]] | None = None,
    ) -> list[str]:
        """One text per prompt, in prompt order (see `Decoding` for the options)."""
        if not prompts:
            return []
        if allowed_calls is not None and len(allowed_calls) != len(prompts):
            raise GorillaError(f"allowed_calls has {len(allowed_calls)} lists for {len(prompts)} prompts")
        return self._generate(list(prompts), Decoding(max_new_tokens, temperature, tuple(stop), allowed_calls))

    @abstractmethod
    def _generate(self, prompts: list[str], decoding: Decoding) -> list[str]:
        """The backend's own decoding of a non-empty batch whose options were already checked."""
