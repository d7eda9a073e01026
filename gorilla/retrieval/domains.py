"""Domain vote: which task family (domain) the query's nearest neighbours agree on, as a ranking to fuse.

The single nearest document is often a near miss from the wrong family (an image *feature vector*
model for a classification request), while the neighbourhood as a whole points at the right one.
Each neighbour (every API doc, seen through several texts of it, plus the example memory's nearest
solved instructions) votes for its domain with weight exp(cos / T); entries are ranked by their
domain's share of the vote, ties broken by the dense score. T = 0.02 was chosen on the dev halves
from {0.01, 0.02, 0.03, 0.05} (eval/results/retrieval.md): sharper than the usual 0.05, so the few
nearest neighbours decide. The extra views (VOTE_VIEWS: the doc's description alone, its short
label, the two together) let a query that matches one part of a doc well be heard, where the full
text dilutes it; chosen on the dev halves: TF Hub and Hugging Face gained on both halves, torchhub
was unchanged (eval/results/retrieval.md). Where the hub has a task glossary (tasks.py), its sentence
for each domain is one more view. A task head (taskhead.py), trained on every labelled text the vote
hears, is mixed into the share where the retriever was built with one, and after it the lexical head
(lexhead.py), the same texts read as words.

`DomainFirstRetriever` is the two-stage default: the vote picks the domain, a fused ranking orders
the entries inside it (then the rest), so bm25 or dense cannot overrule a clear vote at rank 1.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from gorilla.retrieval.base import Corpus, Retriever
from gorilla.retrieval.dense import DenseRetriever
from gorilla.retrieval.docs import doc_text
from gorilla.retrieval.examples import ExampleRetriever
from gorilla.retrieval.lexhead import WEIGHT as LEXICAL_WEIGHT
from gorilla.retrieval.lexhead import LexicalHead
from gorilla.retrieval.taskhead import WEIGHT, TaskHead

TEMPERATURE = 0.02
VOTE_VIEWS = ("rich", "description", "short")  # doc presets that vote beside the dense index's own text


class DomainVoteRetriever(Retriever):
    name = "domain-vote"

    def __init__(self, corpus: Corpus, dense: DenseRetriever, examples: ExampleRetriever | None = None,
                 temperature: float = TEMPERATURE, views: Sequence[Retriever] = ()):
        self.corpus, self.dense, self.examples, self.temperature = corpus, dense, examples, temperature
        self.views = [dense, *views]
        names = sorted({e.domain for e in corpus.entries})
        self.entry_domain = np.array([names.index(e.domain) for e in corpus.entries])
        first_entry = {int(g): i for i, g in reversed(list(enumerate(corpus.groups)))}
        self.group_domain = np.array([self.entry_domain[first_entry[g]] for g in range(len(first_entry))])
        self.n_domains = len(names)
        self.head: TaskHead | None = None
        self.head_weight = WEIGHT
        self.lexical: LexicalHead | None = None
        self.lexical_weight = LEXICAL_WEIGHT
        self._last: tuple[str, np.ndarray] | None = None

    def _doc_views(self) -> list[tuple[DenseRetriever, np.ndarray]]:
        """Each doc view with the mask of its non-blank entries: the doc rows both heads train on."""
        return [(v, ~v.blank) for v in self.views if isinstance(v, DenseRetriever)]

    def _labels(self) -> np.ndarray:
        """The domain of every labelled row, in the order `labelled_vectors` and `labelled_texts` give them."""
        ys = [self.entry_domain[keep] for _, keep in self._doc_views()]
        if self.examples is not None:
            ys.append(self.group_domain[self.examples.example_groups])
        return np.concatenate(ys)

    def labelled_vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """Every text the vote hears, as (vectors, domain ids): each doc view's non-blank entries, and the
        example memory's solved instructions. The task head's training rows."""
        xs = [v.index.reconstruct_n(0, v.index.ntotal)[keep] for v, keep in self._doc_views()]
        if self.examples is not None:
            xs.append(self.examples.index.reconstruct_n(0, self.examples.index.ntotal))
        return np.concatenate(xs), self._labels()

    def labelled_texts(self) -> tuple[list[str], np.ndarray]:
        """The same rows as `labelled_vectors`, as texts: the lexical head's training rows."""
        texts = [doc_text(e, v.doc_fields) for v, keep in self._doc_views()
                 for e, k in zip(self.corpus.entries, keep, strict=True) if k]
        if self.examples is not None:
            texts += self.examples.instructions
        return texts, self._labels()

    def share(self, query: str) -> np.ndarray:
        """Each domain's share of the neighbours' vote (sums to 1), remembered for the query asked last."""
        if self._last is not None and self._last[0] == query:
            return self._last[1]
        votes_sims = [v.scores(query) for v in self.views]
        votes_domains = [self.entry_domain] * len(self.views)
        if self.examples is not None:
            ex_sims, ex_groups = self.examples.neighbours(query)
            votes_sims.append(ex_sims)
            votes_domains.append(self.group_domain[ex_groups])
        s, d = np.concatenate(votes_sims), np.concatenate(votes_domains)
        w = np.exp((s - s.max()) / self.temperature)
        share = np.bincount(d, weights=w, minlength=self.n_domains) / w.sum()
        if self.head is not None:
            p = self.head.probs(self.dense.model.encode_query(query))
            share = (1 - self.head_weight) * share + self.head_weight * p
        if self.lexical is not None:
            share = (1 - self.lexical_weight) * share + self.lexical_weight * self.lexical.probs(query)
        self._last = (query, share)
        return share

    def scores(self, query: str) -> np.ndarray:
        return self.share(query)[self.entry_domain] + 1e-3 * self.dense.scores(query)

    def relevance(self, query: str) -> float | None:
        return self.dense.relevance(query)


class DomainFirstRetriever(Retriever):
    """Entries of the voted domain first, each group in the order of `ranking` (scores shifted by 1 > any RRF sum)."""

    def __init__(self, corpus: Corpus, vote: DomainVoteRetriever, ranking: Retriever, name: str = "fusion"):
        self.corpus, self.vote, self.ranking, self.name = corpus, vote, ranking, name

    def relevance(self, query: str) -> float | None:
        return self.vote.relevance(query)

    def scores(self, query: str) -> np.ndarray:
        chosen = int(np.argmax(self.vote.share(query)))
        return self.ranking.scores(query) + (self.vote.entry_domain == chosen)
