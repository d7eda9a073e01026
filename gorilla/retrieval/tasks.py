"""Task glossary: one sentence per domain saying what goes in and what comes out, as one more voter.

A bag-of-meaning embedder sees "turn audio into text" and "turn text into audio" as the same request,
and an API doc rarely states its task in the user's words: speech-recognition docs talk about
wav2vec2 and word error rates. A glossary (`{"<domain>": "Transcribe spoken audio into written text
(speech-to-text)."}`) puts the task in plain words beside its label, and the domain vote hears it
once per entry of that domain, like any other doc text (DomainVoteRetriever's views).

Default glossaries: `gorilla/resources/tasks/<hub>.json` for the APIBench hubs, `gorilla hub add --glossary` for
one's own (gorilla.data.Hub.glossary); a hub without one votes without it. Only
Hugging Face ships one (domain@1 0.6345 -> 0.6553, both halves gained); on TF Hub and torchhub a
glossary did not gain on the dev halves (eval/results/retrieval.md, "Task glossary").
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from gorilla.data.paths import TASKS_DIR
from gorilla.errors import GorillaError, InputError
from gorilla.retrieval.base import Corpus, Retriever, file_sha256
from gorilla.retrieval.dense import cosines, embedded_index

NO_TASKS = "none"
__all__ = ["TASKS_DIR", "NO_TASKS", "TaskView", "glossary_path", "read_glossary", "task_text"]


def glossary_path(tasks: str | Path | None) -> Path | None:
    """The glossary file `tasks` names; None for None or "none" (a hub's own default comes from its Hub)."""
    if tasks is None or str(tasks).lower() == NO_TASKS:
        return None
    path = Path(tasks)
    if not path.is_file():
        raise GorillaError(f"{path}: task glossary not found")
    return path


def read_glossary(path: Path) -> dict[str, str]:
    """`{domain: sentence}`; anything else is refused naming the file and the key."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise InputError(path, f"unreadable ({e.strerror})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(path, f"not valid JSON ({e})", getattr(e, "lineno", None)) from None
    if not isinstance(data, dict):
        raise InputError(path, "expected a JSON object of domain -> sentence")
    for domain, sentence in data.items():
        if not isinstance(sentence, str) or not sentence.strip():
            raise InputError(path, "expected a non-empty sentence", field=domain)
    return data


def task_text(domain: str, sentence: str) -> str:
    return f"domain: {domain}\ntask: {sentence}"


class TaskView(Retriever):
    """Per entry, the cosine between the query and its domain's task text (-inf where the glossary has none).

    Called only by the domain vote, which remembers its result per query, so nothing is cached here."""

    name = "tasks"

    def __init__(self, corpus: Corpus, path: Path, embedder: str | None = None, cache: Path | None = None,
                 on_stale: str = "rebuild"):
        self.corpus = corpus
        glossary = read_glossary(path)
        domains = sorted({e.domain for e in corpus.entries} & set(glossary))
        if not domains:
            raise GorillaError(f"{path}: names none of the {corpus.hub} database's domains")
        row = {d: i for i, d in enumerate(domains)}
        self.entry_row = np.array([row.get(e.domain, len(domains)) for e in corpus.entries])  # past the end: none
        self.model, self.index = embedded_index("tasks", corpus.hub, [task_text(d, glossary[d]) for d in domains],
                                                {path.name: file_sha256(path)}, "tasks", embedder, cache, on_stale)

    def scores(self, query: str) -> np.ndarray:
        return np.append(cosines(self.model, self.index, query), -np.inf)[self.entry_row]
