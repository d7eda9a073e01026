"""The default `Answerer`: the Gorilla pipeline (gorilla.pipeline), one query per request; a tool turn goes
to gorilla.toolcalls on the pipeline's backend (the same model, loaded once)."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable

from gorilla.pipeline import Gorilla
from gorilla.prompting import format_answer
from gorilla.serve.app import Reply, ToolTurn
from gorilla.toolcalls import ToolAnswer, ToolSettings, call_tools


class PipelineAnswerer:
    """Adapts `Gorilla.ask` to the server: per-request token budget, Gorilla's marker text out."""

    def __init__(self, gorilla: Gorilla, tool_settings: ToolSettings | None = None):
        self.gorilla = gorilla
        self.tool_settings = tool_settings or ToolSettings()
        # load the model and indexes now: a bad flag fails at startup with one line, not on the first request
        gorilla.backend  # noqa: B018
        gorilla.retrievers  # noqa: B018

    @property
    def default_max_tokens(self) -> int:
        return self.gorilla.config.max_new_tokens

    def _with_budget(self, max_tokens: int) -> Gorilla:
        """The same pipeline (shared model, retrievers, caches) with another max_new_tokens."""
        if max_tokens == self.gorilla.config.max_new_tokens:
            return self.gorilla
        other = copy.copy(self.gorilla)
        other.config = dataclasses.replace(self.gorilla.config, max_new_tokens=max_tokens)
        return other

    def __call__(self, query: str, max_tokens: int, cancel: Callable[[], bool] | None = None) -> Reply:
        """One answer; `cancel` (the server's "client gone" flag) stops generation between tokens."""
        a = self._with_budget(max_tokens).ask(query, cancel=cancel)
        fields = {"domain": a.domain, "api_call": a.api_call, "api_provider": a.api_provider,
                  "explanation": a.explanation, "code": a.code}
        return Reply(text=format_answer(**fields), fields=fields, retrieved=list(a.retrieved),
                     problems=list(a.problems), hub=a.hub or None, source=a.source, api_name=a.api_name or None,
                     raw=a.text)

    def tools(self, turn: ToolTurn, cancel: Callable[[], bool] | None = None) -> ToolAnswer:
        """The calls for one tool turn (gorilla.toolcalls) on the pipeline's backend, with the turn's token budget;
        `cancel` stops decoding between tokens."""
        settings = dataclasses.replace(self.tool_settings, max_new_tokens=turn.max_tokens)
        return call_tools(self.gorilla.tool_backend, turn.messages, turn.functions, turn.tool_choice,
                          parallel=turn.parallel, settings=settings, cancel=cancel)
