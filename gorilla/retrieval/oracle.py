"""The gold entry itself, for evaluation only: the upper bound a perfect retriever would give."""

from __future__ import annotations

from gorilla.data import ApiEntry
from gorilla.errors import GorillaError
from gorilla.retrieval.base import Corpus, Hit, Retriever, check_query


class OracleRetriever(Retriever):
    """`search(query, k, gold=entry)` returns the database entry with the gold call (the gold record
    itself when equal), or the gold record with index -1 when its call is not in the database."""

    name = "oracle"
    needs_gold = True

    def __init__(self, corpus: Corpus):
        self.corpus = corpus

    def search(self, query: str, k: int = 5, gold: ApiEntry | None = None) -> list[Hit]:
        check_query(query)
        if gold is None:
            raise GorillaError("the oracle retriever needs the gold entry: search(query, k, gold=entry)")
        matches = [int(i) for i in self.corpus.entries_for_call(gold.api_call)]
        if not matches:
            return [Hit(-1, 1.0, gold)]
        same = [i for i in matches if self.corpus.entries[i] == gold]
        i = (same or matches)[0]
        return [Hit(i, 1.0, self.corpus.entries[i])]
