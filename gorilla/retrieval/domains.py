"""Domain vote: which task family (domain) the query's nearest neighbours agree on, as a ranking to fuse.

The single nearest document is often a near miss from the wrong family (an image *feature vector*
model for a classification request), while the neighbourhood as a whole points at the right one.
Each neighbour (every API doc, plus the example memory's nearest solved instructions) votes for its
domain with weight exp(cos / T); entries are ranked by their domain's share of the vote, ties
broken by the dense score. T = 0.05 is the usual contrastive temperature, not tuned here.
"""

from __future__ import annotations

import numpy as np

from gorilla.retrieval.base import Corpus, Retriever
from gorilla.retrieval.dense import DenseRetriever
from gorilla.retrieval.examples import ExampleRetriever

TEMPERATURE = 0.05


class DomainVoteRetriever(Retriever):
    name = "domain-vote"

    def __init__(self, corpus: Corpus, dense: DenseRetriever, examples: ExampleRetriever | None = None,
                 temperature: float = TEMPERATURE):
        self.corpus, self.dense, self.examples, self.temperature = corpus, dense, examples, temperature
        names = sorted({e.domain for e in corpus.entries})
        self.entry_domain = np.array([names.index(e.domain) for e in corpus.entries])
        first_entry = {int(g): i for i, g in reversed(list(enumerate(corpus.groups)))}
        self.group_domain = np.array([self.entry_domain[first_entry[g]] for g in range(len(first_entry))])
        self.n_domains = len(names)

    def scores(self, query: str) -> np.ndarray:
        sims = self.dense.scores(query)
        votes_sims, votes_domains = [sims], [self.entry_domain]
        if self.examples is not None:
            ex_sims, ex_groups = self.examples.neighbours(query)
            votes_sims.append(ex_sims)
            votes_domains.append(self.group_domain[ex_groups])
        s, d = np.concatenate(votes_sims), np.concatenate(votes_domains)
        w = np.exp((s - s.max()) / self.temperature)
        share = np.bincount(d, weights=w, minlength=self.n_domains) / w.sum()
        return share[self.entry_domain] + 1e-3 * sims
