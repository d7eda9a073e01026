"""The default `Answerer`: the Gorilla pipeline (retrieve -> prompt -> generate -> parse) for one hub.

INTERIM: gorilla.pipeline (generation area) was not in the tree when this was written; this is
the smallest composition the server needs, over the shared pieces (retrieval, prompting, a
models Backend). Once the pipeline lands, `PipelineAnswerer` should wrap it instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gorilla.errors import GorillaError
from gorilla.models.base import Backend
from gorilla.prompting import STOP, build_prompt, format_answer, parse_answer, render_doc
from gorilla.serve.app import Reply

CONSTRAIN = ("off", "retrieved", "db")


@dataclass
class PipelineAnswerer:
    """query -> top-k documents -> retriever-aware prompt -> backend -> parsed Gorilla answer."""

    backend: Backend
    retriever: Any  # gorilla.retrieval.Retriever, or None for 0-shot
    hub: str
    k: int = 3
    constrain: str = "off"

    def __post_init__(self) -> None:
        if self.constrain not in CONSTRAIN:
            raise GorillaError(f"--constrain: expected one of {', '.join(CONSTRAIN)}, got {self.constrain!r}")
        if self.constrain == "db" and self.retriever is None:
            raise GorillaError("--constrain db needs a retriever's API database; pass --retriever")

    def __call__(self, query: str, max_tokens: int) -> Reply:
        hits = self.retriever.search(query, k=self.k) if self.retriever is not None else []
        prompt = build_prompt(query, [render_doc(h.entry.raw) for h in hits])
        allowed = None
        if self.constrain == "retrieved" and hits:
            allowed = [[h.entry.api_call for h in hits]]
        elif self.constrain == "db":
            allowed = [sorted({e.api_call for e in self.retriever.corpus.entries})]
        raw = self.backend.generate([prompt], max_new_tokens=max_tokens, stop=STOP, allowed_calls=allowed)[0]
        parsed = parse_answer(raw)
        f = parsed.fields
        text = format_answer(f.get("domain", ""), f.get("api_call", ""), f.get("api_provider", ""),
                             f.get("explanation", ""), f.get("code", ""))
        return Reply(text=text, fields=dict(f), retrieved=[f"{self.hub}:{h.index}" for h in hits],
                     problems=list(parsed.problems), hub=self.hub)
