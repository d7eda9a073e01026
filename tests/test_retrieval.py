"""Retrievers on a tiny fixture database: paraphrased queries, stale indexes, bad queries, the CLI."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli

from gorilla.data import ApiEntry, load_api_db, load_eval, load_examples
from gorilla.errors import GorillaError
from gorilla.retrieval import Corpus, Hit, get_retriever
from gorilla.retrieval.benchmark import evaluate
from gorilla.retrieval.index import read_manifest
from gorilla.retrieval.tokenize import tokenize

API = [
    {"domain": "Video Classification", "functionality": "3D ResNet", "api_name": "slow_r50",
     "api_call": "torch.hub.load(repo_or_dir='facebookresearch/pytorchvideo', model='slow_r50', pretrained=True)",
     "description": "A ResNet-style video classification network pretrained on Kinetics 400 to recognise human actions in clips."},
    {"domain": "Semantic Segmentation", "functionality": "DeepLabV3", "api_name": "deeplabv3_resnet50",
     "api_call": "torch.hub.load(repo_or_dir='pytorch/vision', model='deeplabv3_resnet50', pretrained=True)",
     "description": "Assigns a class label to every pixel of an image, segmenting roads, people and cars."},
    {"domain": "Text-To-Speech", "functionality": "Tacotron 2", "api_name": "nvidia_tacotron2",
     "api_call": "torch.hub.load(repo_or_dir='NVIDIA/DeepLearningExamples:torchhub', model='nvidia_tacotron2')",
     "description": "Generates natural sounding speech audio from written text."},
    {"domain": "Audio Separation", "functionality": "Music source separation", "api_name": "umxhq",
     "api_call": "torch.hub.load(repo_or_dir='sigsep/open-unmix-pytorch', model='umxhq', pretrained=True)",
     "description": "Separates a song into vocals, drums, bass and other instruments."},
    {"domain": "Object Detection", "functionality": "YOLOv5", "api_name": "yolov5s",
     "api_call": "torch.hub.load(repo_or_dir='ultralytics/yolov5', model='yolov5s', pretrained=True)",
     "description": "Real-time object detector that draws bounding boxes around objects in photos."},
    {"domain": "Classification", "functionality": "Image Recognition", "api_name": "resnet18",
     "api_call": "torch.hub.load(repo_or_dir='pytorch/vision', model='resnet18', pretrained=True)",
     "description": "Residual network that classifies images into the 1000 ImageNet categories."},
    # a second entry for the same call (upstream DBs have many): results must list the call once
    {"domain": "Classification", "functionality": "Image Recognition", "api_name": "resnet18",
     "api_call": 'torch.hub.load(repo_or_dir="pytorch/vision", model="resnet18", pretrained=True)',
     "description": "ResNet 18 image classifier trained on ImageNet."},
]

# (query, index of the expected entry). Reworded requests that share a word or two with the doc,
# which every retriever must get; and ones that share none, which only embeddings can get.
PARAPHRASES = [
    ("which action is a person performing in this video clip?", 0),
    ("give a class to each pixel so I can segment roads in dashcam frames", 1),
    ("turn my blog post text into spoken speech", 2),
    ("pull the vocals out of a song", 3),
    ("put bounding boxes on every object in a photo", 4),
]
SEMANTIC = [
    ("recognise what someone is doing in a short movie", 0),
    ("read my essay aloud with a human-like voice", 2),
    ("isolate the singer from a track", 3),
]

TRAIN = [("Find the API that tells which human action happens in a video", 0),
         ("I need to turn a text script into spoken audio for an audiobook", 2),
         ("Isolate the singer's voice from a music recording", 3),
         ("Detect cars and pedestrians with boxes in camera frames", 4),
         ("Give every pixel in a picture a semantic class", 1)]


@pytest.fixture(scope="module")
def fixture_db(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("fixture")
    db = root / "api.jsonl"
    db.write_text("".join(json.dumps(e) + "\n" for e in API), encoding="utf-8")
    train = root / "train.json"
    train.write_text("".join(json.dumps({"code": f"{{'Instruction': {q}, 'Output': {{}}}}", "api_call": API[i]["api_call"],
                                         "provider": "PyTorch", "api_data": API[i]}) + "\n" for q, i in TRAIN),
                     encoding="utf-8")
    return db, train


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    """No fine-tuned default embedder from the user's cache: these tests pin the packaged MiniLM."""
    monkeypatch.setenv("GORILLA_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def corpus(fixture_db) -> Corpus:
    return Corpus("torchhub", fixture_db[0], load_api_db(fixture_db[0]))


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("indexes")


def make(name: str, corpus: Corpus, fixture_db, cache: Path, **kw):
    return get_retriever(name, "torchhub", corpus=corpus, train_files=[fixture_db[1]], cache=cache, **kw)


def test_tokenize_splits_code_and_ids():
    toks = tokenize("hub.KerasLayer('https://tfhub.dev/google/mobilenet_v2_100_224/4') ResNet50 the café")
    for t in ("keras", "layer", "mobilenet", "224", "resnet50", "resnet", "café"):
        assert t in toks
    assert "the" not in toks


@pytest.mark.parametrize("name", ["bm25", "dense", "hybrid", "fusion"])
def test_paraphrases_find_the_entry(name, corpus, fixture_db, cache):
    r = make(name, corpus, fixture_db, cache)
    for query, want in PARAPHRASES:
        hits = r.search(query, k=3)
        assert hits[0].index == want, (name, query, [h.entry.api_name for h in hits])
        assert isinstance(hits[0], Hit) and hits[0].entry == corpus.entries[want]


@pytest.mark.parametrize("name", ["dense", "examples"])
def test_embeddings_find_paraphrases_without_shared_words(name, corpus, fixture_db, cache):
    r = make(name, corpus, fixture_db, cache)
    for query, want in SEMANTIC:
        assert r.search(query, k=1)[0].index == want, (name, query)


def test_example_memory_votes_from_nearest_instructions(corpus, fixture_db, cache):
    r = make("examples", corpus, fixture_db, cache)
    assert r.unmapped == 0
    for query, want in PARAPHRASES:
        assert r.search(query, k=1)[0].index == want, query
    # only calls some example voted for are candidates
    assert all(h.entry.api_name != "resnet18" for h in r.search("classify imagenet images", k=10))


def test_duplicate_calls_are_listed_once(corpus, fixture_db, cache):
    hits = make("bm25", corpus, fixture_db, cache).search("resnet18 imagenet image classifier", k=7)
    calls = [h.entry.api_call.replace('"', "'") for h in hits]
    assert len(calls) == len(set(calls)) == 6
    assert hits[0].entry.api_name == "resnet18"


def test_oracle_returns_gold(corpus, fixture_db, cache):
    r = make("oracle", corpus, fixture_db, cache)
    assert r.search("anything", gold=corpus.entries[3])[0].index == 3
    outside = ApiEntry(domain="X", api_call="torch.hub.load('a/b', 'c')")
    assert r.search("anything", gold=outside) == [Hit(-1, 1.0, outside)]
    with pytest.raises(GorillaError, match="gold"):
        r.search("anything")
    pairs = load_eval(fixture_db[1])
    row = evaluate(r, pairs, "torchhub")
    assert row["recall@1"] == row["domain@1"] == 1.0 and row["n"] == len(TRAIN)


@pytest.mark.parametrize("name", ["bm25", "dense", "fusion"])
def test_bad_queries(name, corpus, fixture_db, cache):
    r = make(name, corpus, fixture_db, cache)
    for empty in ("", "   \n\t"):
        with pytest.raises(GorillaError, match="empty query"):
            r.search(empty)
    long = "segment every pixel of the image " * 5000
    assert r.search(long, k=2)[0].entry.domain == "Semantic Segmentation"
    hits = r.search("séparer la voix du chanteur 🎤 音楽 ünïcödé", k=3)
    assert 1 <= len(hits) <= 3
    assert r.search("the of and", k=2)  # stopwords only: still an answer, not a crash
    with pytest.raises(GorillaError, match="k must be"):
        r.search("speech", k=0)


def test_stale_index_is_refused_or_rebuilt(tmp_path, fixture_db):
    db = tmp_path / "api.jsonl"
    db.write_bytes(fixture_db[0].read_bytes())
    cache = tmp_path / "idx"

    def dense(on_stale="rebuild"):
        return get_retriever("dense", "torchhub", corpus=Corpus("torchhub", db, load_api_db(db)), cache=cache,
                             on_stale=on_stale)

    first = dense()
    folder = next(cache.glob("torchhub/dense-*"))
    manifest = read_manifest(folder)
    assert manifest["count"] == len(API) and manifest["dim"] == 384 and manifest["embedder"] == "all-MiniLM-L6-v2"
    stamp = (folder / "index.faiss").stat().st_mtime_ns
    dense(on_stale="error")  # fresh: loaded, not rebuilt
    assert (folder / "index.faiss").stat().st_mtime_ns == stamp

    extra = dict(API[0], api_name="x3d_s", api_call="torch.hub.load('facebookresearch/pytorchvideo', 'x3d_s')")
    with db.open("a", encoding="utf-8") as f:
        f.write(json.dumps(extra) + "\n")
    with pytest.raises(GorillaError, match="stale index .*source data changed"):
        dense(on_stale="error")
    rebuilt = dense()
    assert read_manifest(folder)["count"] == len(API) + 1 and rebuilt.index.ntotal == len(API) + 1
    assert first.index.ntotal == len(API)

    (folder / "manifest.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(GorillaError, match="manifest unreadable"):
        dense(on_stale="error")
    dense()  # rebuilt over the broken manifest
    (folder / "index.faiss").write_bytes(b"\0" * 10)
    with pytest.raises(GorillaError, match="index.faiss changed since it was built"):
        dense(on_stale="error")
    assert dense().index.ntotal == len(API) + 1
    assert not list(folder.glob(".*.tmp"))


def test_a_first_build_says_what_it_prepares(tmp_path, corpus, fixture_db, caplog):
    """One "preparing:" line per index or head a first query builds; none once they are cached."""
    caplog.set_level("INFO", logger="gorilla")
    get_retriever("fusion", "torchhub", corpus=corpus, train_files=[fixture_db[1]], cache=tmp_path / "idx")
    notes = [r.getMessage() for r in caplog.records if r.getMessage().startswith("preparing:")]
    assert "preparing: embedding torchhub's 7 API docs, full text (first run only)" in notes
    assert any("5 solved requests" in n for n in notes) and any("task head" in n for n in notes)
    assert any("lexical head" in n for n in notes)
    assert len(notes) == 7  # docs x4 views (full, rich, description, short), examples, task head, lexical head
    caplog.clear()
    get_retriever("fusion", "torchhub", corpus=corpus, train_files=[fixture_db[1]], cache=tmp_path / "idx")
    assert not [r for r in caplog.records if r.getMessage().startswith("preparing:")]


def test_cli_retrieve_and_eval(data_dir, tmp_path):
    env = {**os.environ, "GORILLA_CACHE": str(tmp_path)}
    out = run_cli("retrieve", "classify sports activities in videos", "--hub", "torchhub", "-r", "bm25", "-k", "3",
                  "--format", "json", "--data-dir", str(data_dir), env=env)
    assert out.returncode == 0, out.stderr
    hits = json.loads(out.stdout)
    assert [h["rank"] for h in hits] == [1, 2, 3] and all("torch.hub.load" in h["api_call"] for h in hits)

    bad = run_cli("retrieve", "  ", "--hub", "torchhub", "-r", "bm25", "--data-dir", str(data_dir), env=env)
    assert bad.returncode == 2 and bad.stderr.strip().startswith("gorilla: error: empty query")
    assert "Traceback" not in bad.stderr

    out = run_cli("eval", "retrieval", "--hub", "torchhub", "-r", "bm25", "--format", "json", "--data-dir",
                  str(data_dir), env=env)
    assert out.returncode == 0, out.stderr
    row = json.loads(out.stdout)
    assert {"hub", "retriever", "n", "recall@1", "recall@5", "recall@10", "mrr", "domain@1", "qps"} <= set(row)
    assert row["n"] == 186 and 0 < row["recall@1"] <= row["recall@5"] <= row["recall@10"] <= 1


def test_contrastive_loss_does_not_push_apart_pairs_of_the_same_api():
    import torch

    from gorilla.retrieval.finetune import contrastive_loss

    q = torch.nn.functional.normalize(torch.tensor([[1.0, 0.0], [1.0, 0.1], [0.0, 1.0]]), dim=-1)
    d = q.clone()
    same_api = contrastive_loss(q, d, torch.tensor([0, 0, 1]), 0.05)
    distinct = contrastive_loss(q, d, torch.tensor([0, 1, 2]), 0.05)
    assert same_api < 0.01 < distinct  # rows 0 and 1 are near-duplicates: only a negative when their APIs differ


def test_finetune_writes_a_loadable_embedder(corpus, fixture_db, tmp_path):
    from gorilla.retrieval.finetune import FinetuneConfig, finetune

    out = tmp_path / "minilm-ft"
    log = finetune([(corpus, load_examples(fixture_db[1]))], out, cfg=FinetuneConfig(batch_size=5), progress=False)
    assert log["examples"] == len(TRAIN) and log["steps"] == 1 and log["hubs"] == ["torchhub"]
    assert (out / "model.safetensors").is_file() and [p.name for p in tmp_path.iterdir()] == ["minilm-ft"]
    r = get_retriever("dense", "torchhub", corpus=corpus, embedder=str(out), cache=tmp_path / "idx")
    assert r.model.name == str(out.resolve())
    assert r.search("pull the vocals out of a song", k=1)[0].index == 3


def test_light_encoder_matches_sentence_transformers_and_falls_back(tmp_path):
    """Queries skip importing sentence-transformers (seconds): the packaged MiniLM runs on gorilla.retrieval.bert
    with the library's vectors to 1e-5, batched (length-sorted) and one query at a time; a config the light
    encoder does not cover goes through transformers, a pooling layout it does not cover through the library."""
    import shutil

    from sentence_transformers import SentenceTransformer

    from gorilla.retrieval.embedder import (
        MeanPoolEncoder,
        default_embedder_path,
        load_embedder,
        mean_pooling_layout,
    )

    texts = ["transcribe my podcast", "", "ünïcödé 日本語 Café naïve ResNet50", "model ids and words " * 200,
             API[1]["description"]]
    e = load_embedder("all-MiniLM-L6-v2")
    assert isinstance(e.encoder, MeanPoolEncoder) and e.encoder.max_length == 256
    assert e.encoder.light and type(e.encoder.model).__module__ == "gorilla.retrieval.bert"
    ref = SentenceTransformer(str(default_embedder_path()), device="cpu").encode(texts, normalize_embeddings=True)
    assert np.allclose(e.encode(texts, batch_size=2), ref, atol=1e-5)
    assert np.allclose(e.encode_query(texts[2])[0], ref[2], atol=1e-5)
    other = tmp_path / "gelu-new"
    shutil.copytree(default_embedder_path(), other)
    cfg = json.loads((other / "config.json").read_text())
    (other / "config.json").write_text(json.dumps({**cfg, "hidden_act": "gelu_new"}))
    fallback = MeanPoolEncoder(other, mean_pooling_layout(other))
    assert not fallback.light
    ref = SentenceTransformer(str(other), device="cpu").encode(texts, normalize_embeddings=True)
    assert np.allclose(fallback(texts).numpy(), ref, atol=1e-5)
    cls = tmp_path / "cls-pooling"
    cls.mkdir()
    (cls / "modules.json").write_text(json.dumps([{"path": "", "type": "sentence_transformers.models.Transformer"},
                                                  {"path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]))
    assert mean_pooling_layout(cls) is None


def test_bm25_postings_score_like_rank_bm25(data_dir):
    from gorilla.data import ApiBenchPaths
    from gorilla.retrieval.bm25 import BM25Retriever

    hub = "huggingface"
    r = BM25Retriever(Corpus.load(hub, ApiBenchPaths.resolve(data_dir).api_db(hub)))
    for query in ("summarize long news articles in French", "AutoModelForSeq2SeqLM t5-base", "zzz unknownword"):
        assert np.allclose(r.scores(query), r.bm25.get_scores(tokenize(query)))


def test_fusion_ranks_the_voted_domain_first(corpus, fixture_db, cache):
    """Two-stage default: every entry of the domain the neighbours vote for comes before any other."""
    r = make("fusion", corpus, fixture_db, cache)
    for query, _ in PARAPHRASES + SEMANTIC:
        share = r.vote.share(query)
        assert share.sum() == pytest.approx(1.0)
        chosen = int(np.argmax(share))
        hits = r.search(query, k=len(API))
        in_domain = [r.vote.entry_domain[h.index] == chosen for h in hits]
        assert in_domain[0] and in_domain == sorted(in_domain, reverse=True), query


def test_vote_hears_every_doc_view_and_skips_blank_texts(corpus, fixture_db, cache, tmp_path):
    """The vote reads the full doc text plus the extra views; an entry with no text in a view is not a candidate."""
    from gorilla.retrieval.dense import DenseRetriever
    from gorilla.retrieval.domains import VOTE_VIEWS

    r = make("fusion", corpus, fixture_db, cache)
    assert [v.doc_fields for v in r.vote.views] == ["full", *VOTE_VIEWS]
    blank = Corpus("torchhub", corpus.path, [*corpus.entries[:-1], ApiEntry(domain="X", api_call="f('x')")])
    scores = DenseRetriever(blank, doc_fields="description", cache=tmp_path).scores("classify images")
    assert scores[-1] == -np.inf and np.isfinite(scores[:-1]).all()


def test_task_glossary_votes_for_its_domain(corpus, fixture_db, cache, tmp_path):
    """A glossary sentence is one more voter per entry of its domain: the request it words plainly gains share."""
    from gorilla.retrieval.tasks import TaskView, task_text

    glossary = tmp_path / "tasks.json"
    sentence = "Synthesize spoken audio from written text (text-to-speech)."
    glossary.write_text(json.dumps({"Text-To-Speech": sentence, "Not In This Database": "x"}), encoding="utf-8")
    query = "make a voice read my article out loud"
    plain = make("fusion", corpus, fixture_db, cache, tasks="none")
    tasks = make("fusion", corpus, fixture_db, cache, tasks=glossary)
    view = tasks.vote.views[-1]
    assert isinstance(view, TaskView) and len(tasks.vote.views) == len(plain.vote.views) + 1
    scores = view.scores(query)
    tts = [i for i, e in enumerate(corpus.entries) if e.domain == "Text-To-Speech"]
    assert np.isfinite(scores[tts]).all() and np.isneginf(np.delete(scores, tts)).all()
    expected = float(view.model.encode([task_text("Text-To-Speech", sentence)])[0] @ view.model.encode([query])[0])
    assert scores[tts[0]] == pytest.approx(expected, abs=1e-5)
    domain = plain.vote.entry_domain[tts[0]]
    assert tasks.vote.share(query)[domain] > plain.vote.share(query)[domain]
    assert tasks.search(query, k=1)[0].entry.domain == "Text-To-Speech"


def test_task_glossary_edits_rebuild_and_bad_files_are_named(corpus, fixture_db, tmp_path):
    from gorilla.retrieval.tasks import TaskView

    glossary = tmp_path / "tasks.json"
    glossary.write_text(json.dumps({"Classification": "Name the object in a photo."}), encoding="utf-8")
    before = TaskView(corpus, glossary, cache=tmp_path / "idx").scores("what is in this picture")
    glossary.write_text(json.dumps({"Classification": "Split a song into vocals and drums."}), encoding="utf-8")
    after = TaskView(corpus, glossary, cache=tmp_path / "idx").scores("what is in this picture")
    assert after.max() < before.max()  # the edited sentence was embedded, not the cached one
    for text, says in (("{", "not valid JSON"), ("[1]", "JSON object"), ('{"Classification": 3}', "Classification"),
                       ('{"Nope": "a sentence"}', "none of the")):
        glossary.write_text(text, encoding="utf-8")
        with pytest.raises(GorillaError, match=says) as e:
            TaskView(corpus, glossary, cache=tmp_path / "idx")
        assert str(glossary) in str(e.value)
    with pytest.raises(GorillaError, match="not found"):
        make("fusion", corpus, fixture_db, tmp_path / "idx", tasks=tmp_path / "missing.json")


def test_shipped_glossaries_name_every_domain_of_their_hub(data_dir):
    from gorilla.retrieval.tasks import TASKS_DIR, read_glossary

    shipped = sorted(TASKS_DIR.glob("*.json"))
    assert shipped, "no task glossary shipped"
    for path in shipped:
        domains = {e.domain for e in load_api_db(data_dir / "api" / f"{path.stem}_api.jsonl")}
        assert domains <= set(read_glossary(path)), path.name


def test_task_head_learns_domains_and_is_cached_by_what_it_was_trained_on(tmp_path):
    from gorilla.retrieval.taskhead import TaskHead, load_or_train, train_head

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 16))
    y = np.repeat(np.arange(3), 40)
    x = centres[y] + 0.3 * rng.normal(size=(120, 16))
    head = TaskHead(train_head(x, y, 3))
    assert all(int(np.argmax(head.probs(c[None]))) == i for i, c in enumerate(centres))
    assert head.probs(centres[:1]).sum() == pytest.approx(1.0)
    calls = []

    def rows():
        calls.append(1)
        return x, y

    first = load_or_train("torchhub", ("emb", "fp"), {"db": "a"}, rows, 3, cache=tmp_path)
    again = load_or_train("torchhub", ("emb", "fp"), {"db": "a"}, rows, 3, cache=tmp_path)
    assert len(calls) == 1 and np.array_equal(first.w, again.w)  # loaded, not retrained
    load_or_train("torchhub", ("emb", "fp"), {"db": "b"}, rows, 3, cache=tmp_path)
    assert len(calls) == 2  # other sources: retrained
    weights = next(tmp_path.rglob("head.safetensors"))
    weights.write_bytes(weights.read_bytes()[:20])
    repaired = load_or_train("torchhub", ("emb", "fp"), {"db": "b"}, rows, 3, cache=tmp_path)
    assert len(calls) == 3 and np.allclose(repaired.w, first.w)  # a truncated file is retrained, same result


def test_lexical_head_reads_task_words_and_is_cached(tmp_path):
    from gorilla.retrieval.lexhead import LexicalHead, load_or_train_lexical, train_lexical

    texts = ["estimate the depth of each pixel", "depth map from one photo", "how far away is every point",
             "segment the people in this image", "pixel masks for each object", "separate objects by class",
             "transcribe this recording", "turn my speech into text", "what words are spoken here"]
    y = np.repeat(np.arange(3), 3)
    head = LexicalHead(train_lexical(texts, y, 3))
    for query, want in [("a depth estimate for my picture", 0), ("masks of every object", 1), ("speech to text", 2)]:
        assert int(np.argmax(head.probs(query))) == want
    assert head.probs("zebra quokka").sum() == pytest.approx(1.0)  # no known word: the class prior
    calls = []

    def rows():
        calls.append(1)
        return texts, y

    first = load_or_train_lexical("torchhub", {"db": "a"}, rows, 3, cache=tmp_path)
    again = load_or_train_lexical("torchhub", {"db": "a"}, rows, 3, cache=tmp_path)
    assert len(calls) == 1 and np.array_equal(first.w, again.w) and np.array_equal(first.ids, again.ids)
    load_or_train_lexical("torchhub", {"db": "b"}, rows, 3, cache=tmp_path)
    assert len(calls) == 2  # other sources: retrained


def test_fusion_mixes_the_task_head_into_the_vote(corpus, fixture_db, cache):
    plain = make("fusion", corpus, fixture_db, cache, head=False)
    mixed = make("fusion", corpus, fixture_db, cache)
    assert plain.vote.head is None and mixed.vote.head is not None
    assert plain.vote.lexical is None and mixed.vote.lexical is not None
    x, y = mixed.vote.labelled_vectors()
    assert len(x) == len(y) == 4 * len(API) + len(TRAIN)  # four doc views of every entry, and the memory
    for query, i in PARAPHRASES:
        share = mixed.vote.share(query)
        p = mixed.vote.head.probs(mixed.vote.dense.model.encode_query(query))
        with_head = (1 - mixed.vote.head_weight) * plain.vote.share(query) + mixed.vote.head_weight * p
        lexical, w = mixed.vote.lexical.probs(query), mixed.vote.lexical_weight
        assert share == pytest.approx((1 - w) * with_head + w * lexical)
        assert mixed.search(query, k=1)[0].index == i
