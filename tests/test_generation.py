"""The pipeline and the `query` / `generate` commands, with a tiny random LLaMA and the real BM25 retriever."""

from __future__ import annotations

import json
import os

import pytest
from conftest import run_cli

from gorilla.data import ApiBenchPaths, load_api_db
from gorilla.errors import GorillaError
from gorilla.pipeline import Gorilla, PipelineConfig, eval_questions, generate_file, read_questions, resume
from gorilla.prompting import format_answer

ONE_THREAD = {**os.environ, "GORILLA_THREADS": "1"}  # see one_thread in conftest.py


def pipeline(tiny, data_dir, **kw) -> Gorilla:
    return Gorilla(PipelineConfig(retriever="bm25", max_new_tokens=8, data_dir=str(data_dir), **kw), backend=tiny)


def test_retrieved_constraint_answers_with_a_retrieved_call(tiny, data_dir):
    g = pipeline(tiny, data_dir, hub="torchhub", k=3)
    queries = ["classify sports in videos", "segment people in street photos", "estimate depth from one image",
               "turn text into speech"]
    db = load_api_db(ApiBenchPaths(data_dir).api_db("torchhub"))
    for q, a in zip(queries, g.ask_many(queries), strict=True):
        assert a.retrieved == [d.id for d in g.retrieve(q)] and len(a.retrieved) == 3
        assert a.source in a.retrieved and a.hub == "torchhub"
        assert a.api_call == db[int(a.source.split(":")[1])].api_call  # ids are hub:line in the API database
        assert a.api_name == db[int(a.source.split(":")[1])].api_name  # the source document's, like its domain
        assert set(a.to_json()) == {"domain", "api_call", "api_name", "api_provider", "explanation", "code", "hub",
                                    "retrieved", "parameters"}
        assert a.parameters == {}  # APIBench's calls are fixed: no schema


def test_hub_all_searches_every_hub_and_db_constraint(tiny, data_dir):
    g = pipeline(tiny, data_dir, hub="all", k=6, constrain="db")
    docs = g.retrieve("translate english text to german")
    assert len(docs) == 6 and {d.hub for d in docs} >= {"huggingface"}
    a = g.ask("translate english text to german")
    all_calls = {c for h in ("torchhub", "tensorflowhub", "huggingface") for c in g.db_calls(h)}
    assert a.api_call in {c.rstrip(".") for c in all_calls} and a.hub in ("torchhub", "tensorflowhub", "huggingface")


def test_hub_all_puts_the_hub_nearest_the_query_first(tiny, data_dir, tmp_path):
    """Fused scores are ranks inside one database; across hubs the dense relevance decides (real MiniLM + FAISS)."""
    from gorilla.retrieval import Corpus, get_retriever

    paths = ApiBenchPaths(data_dir)
    retrievers = {}
    for hub in ("torchhub", "tensorflowhub", "huggingface"):
        corpus = Corpus(hub, paths.api_db(hub), load_api_db(paths.api_db(hub))[:40])
        retrievers[hub] = get_retriever("dense", hub, corpus=corpus, cache=tmp_path, embedder="all-MiniLM-L6-v2")
    g = Gorilla(PipelineConfig(hub="all", k=2, data_dir=str(data_dir)), backend=tiny, retrievers=retrievers)
    for query in ("classify the sport in a video clip", "translate english text to german"):
        rel = {h: r.relevance(query) for h, r in retrievers.items()}
        docs = g.retrieve(query)
        assert [d.hub for d in docs] == [max(rel, key=rel.get)] * 2
        assert docs[0].api_call == retrievers[docs[0].hub].search(query, k=1)[0].entry.api_call


def test_documents_whose_call_names_nothing_are_skipped(tiny, data_dir):
    from gorilla.pipeline import names_something
    from gorilla.retrieval import get_retriever

    assert not names_something("S2THubInterface()") and not names_something("TabTransformer.from_config() ")
    assert names_something("pipeline('translation', model='t5-base')") and names_something("./run.sh --stage 2")
    query = "S2THubInterface speech to speech translation"
    assert get_retriever("bm25", "huggingface", data_dir=data_dir).search(query, k=1)[0].entry.api_call == "S2THubInterface()"
    docs = pipeline(tiny, data_dir, hub="huggingface", k=2).retrieve(query)
    assert len(docs) == 2 and all(names_something(d.api_call) for d in docs)


def test_answer_fields_are_grounded_in_the_source_document(tiny, data_dir):
    from gorilla.pipeline import Doc

    g = pipeline(tiny, data_dir, hub="huggingface")
    entry = load_api_db(ApiBenchPaths(data_dir).api_db("huggingface"))[0]
    doc = Doc("huggingface", 0, 1.0, entry.api_call, entry.raw)
    a = g._answer(format_answer("Nonsense", entry.api_call, "hugg.", "", ""), [doc])
    assert (a.domain, a.api_provider, a.explanation) == (entry.domain, entry.framework, entry.description)
    assert a.source == "huggingface:0" and "Nonsense" in a.text  # the raw text, which is scored, stays the model's
    own = g._answer(format_answer("x", entry.api_call, "y", "my words", "import x"), [doc])
    assert (own.explanation, own.code) == ("my words", "import x")  # the model's own prose is kept
    elsewhere = g._answer(format_answer("Nonsense", "f('other')", "hugg.", "", ""), [doc])
    assert (elsewhere.domain, elsewhere.api_provider) == ("Nonsense", "hugg.")  # not the document's call: no grounding


def test_parse_of_model_outputs_fills_the_answer(tiny, data_dir):
    g = pipeline(tiny, data_dir, hub="torchhub")
    text = format_answer("Classification", "torch.hub.load('pytorch/vision', 'resnet18', pretrained=True)", "PyTorch",
                         "a small ImageNet classifier", "```python\nimport torch\n```")
    a = g._answer(text, [])
    assert (a.domain, a.api_provider, a.code) == ("Classification", "PyTorch", "import torch")
    assert a.api_call == "torch.hub.load('pytorch/vision', 'resnet18', pretrained=True)" and not a.problems
    junk = g._answer("I would use a model", [])
    assert junk.api_call == "" and "no api_call found" in junk.problems


def test_bad_config_and_empty_query(tiny, data_dir):
    with pytest.raises(GorillaError, match="unknown hub"):
        PipelineConfig(hub="pytorch-hub")
    with pytest.raises(GorillaError, match="--constrain"):
        PipelineConfig(constrain="sometimes")
    with pytest.raises(GorillaError, match="empty query"):
        pipeline(tiny, data_dir, hub="torchhub").ask("   ")


def test_constrain_auto_follows_what_the_backend_can_enforce():
    assert PipelineConfig().constrain == "retrieved"  # local: the token trie
    assert PipelineConfig(backend="openai").constrain == "off"  # a generic endpoint cannot restrict tokens
    assert PipelineConfig(backend="openai", guided="vllm").constrain == "retrieved"  # vLLM's regex can
    with pytest.raises(GorillaError, match="needs --guided"):
        PipelineConfig(backend="openai", constrain="db")


def test_generate_file_resumes_and_repairs_a_cut_line(tiny, data_dir, tmp_path):
    g = pipeline(tiny, data_dir, hub="torchhub")
    qs = eval_questions("torchhub", str(data_dir))
    out = tmp_path / "r.jsonl"
    calls = []
    first = generate_file(g, qs, out, batch_size=2, limit=3, progress=lambda d, t: calls.append((d, t)))
    assert first["generated"] == 3 and calls[0] == (0, 3) and calls[-1] == (3, 3)
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert [r["question_id"] for r in rows] == [1, 2, 3]
    assert set(rows[0]) == {"question_id", "text", "answer_id", "model_id", "metadata"} and "api_call" in rows[0]["text"]
    out.write_text(out.read_text()[:-25])  # an interrupted run: the last line is cut short
    assert resume(out) == {1, 2}
    second = generate_file(g, qs, out, batch_size=2, limit=5)
    assert (second["skipped"], second["generated"]) == (2, 3)
    ids = [json.loads(x)["question_id"] for x in out.read_text().splitlines()]
    assert sorted(ids) == [1, 2, 3, 4, 5]
    out.write_text('{"question_id": 1}\nnot json\n{"question_id": 2}\n')
    with pytest.raises(GorillaError, match=r"r.jsonl:2"):
        resume(out)


def test_upstream_questions_file_drops_the_literal_newline(data_dir):
    qs = read_questions(ApiBenchPaths(data_dir).questions("torchhub"))
    assert qs[0].question_id == 1 and not qs[0].text.endswith("\\n") and qs[0].text.startswith("What is an API")


def test_cli_generate_then_score_and_query_json(tiny_dir, data_dir, tmp_path):
    out = tmp_path / "responses_torchhub.jsonl"
    r = run_cli("generate", "--hub", "torchhub", "--split", "eval", "--out", str(out), "--model", tiny_dir,
                "--retriever", "bm25", "--limit", "4", "--max-new-tokens", "8", "--data-dir", str(data_dir), env=ONE_THREAD)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.strip().splitlines()[-1])["generated"] == 4
    s = run_cli("eval", "score", "--format", "json", str(out), "--hub", "torchhub", "--data-dir", str(data_dir))
    assert s.returncode == 0, s.stderr
    score = json.loads(s.stdout.strip().splitlines()[0])
    assert score["hallucination"] == 0.0  # constrained to retrieved calls: never an invented one
    q = run_cli("query", "detect cars in a street photo", "--hub", "torchhub", "--model", tiny_dir, "--retriever", "bm25",
                "--format", "json", "--max-new-tokens", "8", "--data-dir", str(data_dir), env=ONE_THREAD)
    assert q.returncode == 0, q.stderr
    obj = json.loads(q.stdout)
    assert obj["hub"] == "torchhub" and obj["api_call"].startswith("torch.hub.load(") and len(obj["retrieved"]) == 1


@pytest.mark.parametrize("args, message", [
    (("query", "  "), "empty query"),
    (("query", "classify birds", "--hub", "jaxhub"), "unknown hub 'jaxhub'"),
    (("query", "classify birds", "--model", "/nonexistent/model", "--retriever", "none"), "no such file or directory"),
    (("generate", "--hub", "torchhub", "--out", "x.jsonl"), "exactly one of --questions"),
])
def test_cli_bad_input_is_one_line(args, message, tmp_path):
    r = run_cli(*args, cwd=tmp_path)
    assert r.returncode == 2 and message in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
