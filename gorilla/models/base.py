"""What every backend offers the pipeline, the teacher and the server.

`Backend.generate` is written once, here: its signature and defaults, and the checks every backend
needs, so the local and the OpenAI-compatible backends cannot drift apart in what they accept.
A backend implements only `_generate`, which gets the prompts and one `Decoding`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gorilla.data.functions import FunctionSpec, ToolCall
from gorilla.errors import Cancelled, GorillaError


@dataclass(frozen=True)
class Decoding:
    """How to decode one batch.

    `allowed_calls[i]`, when given, lists the API calls prompt i may write in its api_call
    field (constrained decoding); backends that cannot constrain say so by raising GorillaError.
    `cancel`, when given, is polled between tokens (local) or requests (openai): once it returns True the
    backend stops and raises `Cancelled`, so a server whose client has gone frees the model at once.
    """

    max_new_tokens: int = 160
    temperature: float = 0.0  # 0: greedy, so the same prompt gives the same text
    stop: tuple[str, ...] = ()
    allowed_calls: Sequence[Sequence[str]] | None = None
    cancel: Callable[[], bool] | None = None

    def check_cancel(self) -> None:
        """Raise `Cancelled` once the caller has withdrawn the request; a no-op without `cancel`."""
        check_cancel(self.cancel)


def check_cancel(cancel: Callable[[], bool] | None) -> None:
    """The one withdrawal check of a generation request and a tool turn."""
    if cancel is not None and cancel():
        raise Cancelled("request withdrawn")


@dataclass(frozen=True)
class ToolRequest:
    """One function-calling turn as a backend gets it (gorilla.toolcalls builds it from tool_choice).

    `functions` are the callable ones; `allow_none`: answering with no call is allowed; `parallel`: several
    calls may be made; `offered[name]`: the optional parameters of that function a local decoder lets a call
    pass (absent: all); `policy` (a `gorilla.models.constrained.CallPolicy`) steers a local decoder's open choices.
    """

    messages: tuple[Mapping[str, Any], ...]
    functions: tuple[FunctionSpec, ...]
    allow_none: bool = True
    parallel: bool = True
    offered: Mapping[str, frozenset[str]] = field(default_factory=dict)
    max_new_tokens: int = 384
    cancel: Callable[[], bool] | None = None
    policy: Any = None

    def check_cancel(self) -> None:
        """Raise `Cancelled` once the caller has withdrawn the request; a no-op without `cancel`."""
        check_cancel(self.cancel)


class Backend(ABC):
    """Text in, text out, batched; `name` says which model answered (in manifests and responses)."""

    name: str
    steerable = False  # True: the model runs here, so gorilla.toolcalls may steer its decoding (LocalBackend)

    def generate(
        self,
        prompts: Sequence[str],
        *,
        max_new_tokens: int = 160,
        temperature: float = 0.0,
        stop: Sequence[str] = (),
        allowed_calls: Sequence[Sequence[str]] | None = None,
        cancel: Callable[[], bool] | None = None,
    ) -> list[str]:
        """One text per prompt, in prompt order (see `Decoding` for the options)."""
        if not prompts:
            return []
        if allowed_calls is not None and len(allowed_calls) != len(prompts):
            raise GorillaError(f"allowed_calls has {len(allowed_calls)} lists for {len(prompts)} prompts")
        decoding = Decoding(max_new_tokens, temperature, tuple(stop), allowed_calls, cancel)
        decoding.check_cancel()  # withdrawn while it waited: no work at all
        return self._generate(list(prompts), decoding)

    @abstractmethod
    def _generate(self, prompts: list[str], decoding: Decoding) -> list[str]:
        """The backend's own decoding of a non-empty batch whose options were already checked."""

    def call_tools(self, request: ToolRequest) -> tuple[list[ToolCall], str]:
        """(calls, the model's raw text) for one function-calling turn; backends that can call tools override it."""
        raise GorillaError(f"the {self.name} backend cannot call tools")
