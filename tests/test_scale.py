"""Large hubs: the approximate index past APPROX_MIN (real FAISS HNSW), its manifest, and the resumable embedding.

The 100k-operation measurement is eval/bench_scale.py; these run the same code on a few thousand vectors.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from gorilla.data import load_api_db
from gorilla.errors import GorillaError
from gorilla.retrieval import Corpus, best_for, get_retriever, resumable
from gorilla.retrieval import index as index_module
from gorilla.retrieval.embedder import Embedder, load_embedder
from gorilla.retrieval.index import (
    FLAT,
    HNSW,
    build_index,
    flat_ip,
    index_params,
    is_exact,
    load_or_build,
    read_manifest,
)


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    """Nothing read from or left in the user's cache."""
    monkeypatch.setenv("GORILLA_CACHE", str(tmp_path / "cache"))


def clustered(n: int, d: int = 384, seed: int = 0) -> np.ndarray:
    """Unit vectors around 200 centres: neighbourhoods like embeddings', unlike uniform noise."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((200, d))
    x = centres[rng.integers(0, 200, n)] + 0.6 * rng.standard_normal((n, d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def recall_at_10(index, exact, queries: np.ndarray) -> float:
    got, want = index.search(queries, 10)[1], exact.search(queries, 10)[1]
    return float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(got, want, strict=True)]))


def test_past_the_threshold_the_index_is_hnsw_with_high_recall_and_a_manifest_that_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(index_module, "APPROX_MIN", 2000)
    assert index_params(1999) == FLAT and index_params(2000) == HNSW
    x, queries = clustered(3000), clustered(200, seed=1)
    params = index_params(len(x))
    expected = {"format": 1, "kind": "dense", "count": len(x), "index": params}
    built = load_or_build(tmp_path, expected, lambda: build_index(x, params))
    assert not is_exact(built) and built.ntotal == len(x)
    assert recall_at_10(built, flat_ip(x), queries) >= 0.95

    manifest = read_manifest(tmp_path)
    assert manifest["index"] == {"type": "hnsw", "M": HNSW["M"], "ef_construction": HNSW["ef_construction"],
                                 "ef_search": HNSW["ef_search"], "embed": "bf16"}
    loaded = load_or_build(tmp_path, expected, lambda: pytest.fail("rebuilt a fresh index"))
    assert loaded.hnsw.efSearch == HNSW["ef_search"]
    assert np.array_equal(loaded.search(queries, 10)[1], built.search(queries, 10)[1])

    other = expected | {"index": {**params, "ef_search": 16}}  # other parameters: another index
    with pytest.raises(GorillaError, match="stale index .*index differs"):
        load_or_build(tmp_path, other, lambda: build_index(x, params), on_stale="error")
    (tmp_path / "index.faiss").write_bytes((tmp_path / "index.faiss").read_bytes()[:-8] + b"\0" * 8)
    with pytest.raises(GorillaError, match="index.faiss changed since it was built"):
        load_or_build(tmp_path, expected, lambda: build_index(x, params), on_stale="error")


def test_a_manifest_from_before_approximate_indexes_reads_as_exact(tmp_path):
    x = clustered(50)
    load_or_build(tmp_path, {"format": 1, "count": 50}, lambda: flat_ip(x))  # no "index" field, as older gorilla wrote
    assert "index" not in read_manifest(tmp_path)
    fresh = load_or_build(tmp_path, {"format": 1, "count": 50, "index": FLAT}, lambda: pytest.fail("rebuilt"))
    assert is_exact(fresh)
    with pytest.raises(GorillaError, match="index differs"):
        load_or_build(tmp_path, {"format": 1, "count": 50, "index": HNSW}, lambda: flat_ip(x), on_stale="error")


OPS = [("billing", "listInvoicesByCustomer", "List the invoices of a given customer, newest first."),
       ("billing", "refundPayment", "Refund a card payment, fully or in part."),
       ("crm", "createLead", "Create a new sales lead from a contact form."),
       ("storage", "uploadFile", "Upload a file into a folder."),
       ("calendar", "bookMeetingRoom", "Reserve a meeting room for a time slot."),
       ("hr", "approveTimesheet", "Approve an employee's pending timesheet."),
       ("maps", "geocodeAddress", "Turn a street address into latitude and longitude."),
       ("mail", "sendEmail", "Send an email message to one or more recipients.")]


@pytest.fixture
def catalogue(tmp_path) -> Corpus:
    db = tmp_path / "ops.jsonl"
    db.write_text("".join(json.dumps({"domain": s, "api_name": name, "api_call": f"{s}.{name}()", "description": d}) + "\n"
                          for s, name, d in OPS), encoding="utf-8")
    return Corpus("mine", db, load_api_db(db))


def test_the_dense_retriever_answers_from_an_approximate_index(tmp_path, monkeypatch, catalogue):
    monkeypatch.setattr(index_module, "APPROX_MIN", 1)
    monkeypatch.setattr("gorilla.retrieval.dense.CANDIDATES", 3)
    r = get_retriever("dense", "mine", corpus=catalogue, cache=tmp_path / "idx")
    assert not is_exact(r.index)
    assert read_manifest(next((tmp_path / "idx" / "mine").glob("dense-*")))["index"]["type"] == "hnsw"
    assert r.search("turn a street address into coordinates", k=1)[0].entry.api_name == "geocodeAddress"
    scores = r.scores("give money back for a card payment")
    assert np.isfinite(scores).sum() == 3 and np.argmax(scores) == 1  # its 3 nearest scored, the rest left out


def test_a_large_catalogue_gets_the_hybrid_by_default(monkeypatch, catalogue):
    assert best_for(catalogue) == "dense"  # 7 domains for 8 calls, no requests: the vote has nothing to go on
    monkeypatch.setattr("gorilla.retrieval.LARGE_HUB", len(OPS))
    assert best_for(catalogue) == "hybrid"


def test_an_interrupted_embedding_resumes_from_its_saved_chunks(tmp_path, monkeypatch):
    monkeypatch.setattr(resumable, "CHUNK", 3)
    model = load_embedder(None)
    texts = [f"{name}: {d}" for _, name, d in OPS]  # chunks of 3, 3 and 2
    calls: list[int] = []
    crash_at = [2]  # killed during the second chunk
    real = Embedder.encode

    def encode(self, part, *args, **kw):
        """The real encoder, counting chunks, interrupted once."""
        calls.append(len(part))
        if len(calls) == crash_at[0]:
            raise KeyboardInterrupt
        return real(self, part, *args, **kw)

    monkeypatch.setattr(Embedder, "encode", encode)
    with pytest.raises(KeyboardInterrupt):
        resumable.embed(model, texts, tmp_path)
    assert len(list((tmp_path / "chunks").glob("*.npy"))) == 1
    crash_at[0], calls[:] = 0, []
    vectors = resumable.embed(model, texts, tmp_path)
    assert calls == [3, 2]  # only the chunks that were not saved
    assert np.allclose(vectors, real(model, texts), atol=1e-5)

    params = {"type": "flat"}
    built = load_or_build(tmp_path, {"count": len(texts), "index": params},
                          lambda: build_index(resumable.embed(model, texts, tmp_path), params))
    assert built.ntotal == len(texts) and not (tmp_path / "chunks").exists()  # the saved index holds them now


def test_bf16_embedding_stays_within_a_hair_of_float32():
    from gorilla.retrieval.embedder import native_bf16

    model = load_embedder(None)
    texts = [f"{name}: {d}" for _, name, d in OPS]
    exact, fast = model.encode(texts), model.encode(texts, bf16=True)
    assert fast.dtype == np.float32 and np.allclose(np.linalg.norm(fast, axis=1), 1, atol=1e-5)
    cos = (exact * fast).sum(1)
    assert cos.min() > 0.9999
    # bf16 products where the CPU has them (the vectors then differ in their last digits), float32 otherwise
    assert not np.array_equal(exact, fast) if native_bf16() else np.array_equal(exact, fast)


def test_partial_ranking_equals_a_full_stable_sort():
    """best_first and top_hits pick a prefix before sorting (a 100k-entry hub): the same order as sorting it all."""
    from gorilla.data import ApiEntry
    from gorilla.retrieval.base import best_first, top_hits

    rng = np.random.default_rng(0)
    entries = [ApiEntry(domain="d", api_call=f"f{g}()") for g in rng.integers(0, 300, 2000)]  # calls shared
    corpus = Corpus("mine", None, entries)
    for _ in range(20):
        scores = rng.integers(0, 40, 2000).astype(float)  # many ties
        scores[rng.random(2000) < 0.3] = -np.inf
        full = [i for i in np.argsort(-scores, kind="stable") if np.isfinite(scores[i])]
        assert best_first(scores).tolist() == full
        prefix = best_first(scores, 50)
        assert len(prefix) >= 50 and prefix.tolist() == full[:len(prefix)]
        want, seen = [], set()
        for i in full:
            if corpus.groups[i] not in seen and len(want) < 25:
                seen.add(corpus.groups[i])
                want.append(i)
        assert [h.index for h in top_hits(corpus, scores, 25)] == want
