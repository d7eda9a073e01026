"""APIBench builder: parsers on real docs and written model cards, database, diff, self-instruct, CLI."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from conftest import run_cli

from gorilla.apibench import apizoo, database, huggingface, selfinstruct, tfhub, torchhub
from gorilla.apibench.diff import diff, render
from gorilla.apibench.selfinstruct import SelfInstructConfig
from gorilla.apibench.source import SourceError
from gorilla.calls import call_key, parse_bound_call, parse_source_call
from gorilla.prompting import instruction_of, teacher_prompt

DOCS = Path(__file__).resolve().parents[2] / "shared" / "docs"


@pytest.fixture(scope="module")
def docs() -> Path:
    if not DOCS.is_dir():
        pytest.skip("hub docs (../shared/docs) are not beside this checkout")
    return DOCS


def _calls(path: Path, parser) -> dict[str, dict]:
    return {f.record["api_name"]: f.record for f in parser.parse_file(path).found}


def test_torchhub_variants_from_comments_variables_and_positionals(docs):
    th = docs / "torchhub"
    resnet = _calls(th / "pytorch_vision_resnet.md", torchhub)
    assert set(resnet) == {"resnet18", "resnet34", "resnet50", "resnet101", "resnet152"}
    assert resnet["resnet34"]["api_call"] == "torch.hub.load(repo_or_dir='pytorch/vision:v0.10.0', model='resnet34', pretrained=True)"
    assert resnet["resnet18"]["domain"] == "Classification"
    assert resnet["resnet152"]["performance"]["accuracy"] == {"Top-1 error": "21.69", "Top-5 error": "5.94"}
    midas = _calls(th / "intelisl_midas_v2.md", torchhub)  # model name in a variable, siblings in commented assignments
    assert set(midas) == {"DPT_Large", "DPT_Hybrid", "MiDaS_small"}
    assert midas["DPT_Hybrid"]["domain"] == "Depth Estimation"
    meal = _calls(th / "pytorch_vision_meal_v2.md", torchhub)  # variant as a third positional, siblings in a comment list
    assert "torch.hub.load('szq0214/MEAL-V2', 'meal_v2', 'mealv2_efficientnet_b0', pretrained=True)" in \
        {r["api_call"] for r in meal.values()}
    tts = _calls(th / "snakers4_silero-models_tts.md", torchhub)  # variables resolved to their literal values
    assert tts["silero_tts"]["api_call"].endswith("language='en', speaker='lj_16khz')")
    for rec in [*resnet.values(), *midas.values(), *meal.values(), *tts.values()]:
        assert parse_source_call(rec["api_call"]) is not None and parse_bound_call(rec["api_call"]) is not None


def test_tfhub_module_page_and_other_pages(docs, tmp_path):
    page = docs / "tfhub/google/models/imagenet/mobilenet_v2_100_224/classification/4.md"
    (rec,) = [f.record for f in tfhub.parse_file(page).found]
    assert rec["api_call"] == "hub.KerasLayer('https://tfhub.dev/google/imagenet/mobilenet_v2_100_224/classification/4')"
    assert rec["domain"] == "Image classification" and "mobilenet-v2" in rec["functionality"]
    assert call_key(rec["api_call"]) == "google/imagenet/mobilenet_v2_100_224/classification/4"
    assert tfhub.parse_file(docs / "tfhub/monatis/models/german-mbmelgan/lite/lite/1.md").found == []  # TF Lite: no Python API
    bad = tmp_path / "acme/models/thing/1.md"
    bad.parent.mkdir(parents=True)
    bad.write_text("# Module acme/other/1\nA thing.\n<!-- task: image-classification -->\n")
    with pytest.raises(SourceError, match=r"1\.md:1:10: module handle 'acme/other/1' does not match"):
        tfhub.parse_file(bad)


CARDS = {
    "acme-lab/distilroberta-finance-sentiment": """\
        ---
        language: en
        license: apache-2.0
        library_name: transformers
        pipeline_tag: text-classification
        tags: [finance, sentiment]
        datasets:
          - financial_phrasebank
        metrics:
          - accuracy
        model-index:
          - name: distilroberta-finance-sentiment
            results:
              - task: {type: text-classification}
                dataset: {name: Financial PhraseBank, type: financial_phrasebank}
                metrics:
                  - {type: accuracy, value: 0.981, name: Accuracy}
        ---
        # DistilRoBERTa for financial sentiment

        This model classifies sentences from financial news as positive, negative or neutral.

        ```python
        from transformers import pipeline
        clf = pipeline("text-classification", model="acme-lab/distilroberta-finance-sentiment")
        ```
        """,
    "acme-lab/multilingual-mini-embed": """\
        ---
        library_name: sentence-transformers
        pipeline_tag: sentence-similarity
        tags: [sentence-transformers, feature-extraction]
        datasets: [s2orc, msmarco]
        ---
        # multilingual-mini-embed

        Maps sentences in 50 languages to a 384-dimensional space for semantic search.
        """,
    "pixel-co/sketch-diffusion": """\
        ---
        library_name: diffusers
        pipeline_tag: text-to-image
        license: creativeml-openrail-m
        ---
        Turns text prompts into pencil-sketch style images.
        """,
}


def _write_cards(root: Path) -> Path:
    for mid, card in CARDS.items():
        p = root / mid / "README.md"
        p.parent.mkdir(parents=True)
        p.write_text(textwrap.dedent(card))
    return root


def test_huggingface_model_cards(tmp_path):
    root = _write_cards(tmp_path / "cards")
    recs = {r["api_name"]: r for p in huggingface.files(root) for r in (f.record for f in huggingface.parse_file(p).found)}
    fin = recs["acme-lab/distilroberta-finance-sentiment"]
    assert fin["api_call"] == "pipeline('text-classification', model='acme-lab/distilroberta-finance-sentiment')"
    assert fin["domain"] == "Natural Language Processing Text Classification"
    assert fin["performance"] == {"dataset": "Financial PhraseBank", "accuracy": {"Accuracy": 0.981}}
    assert fin["description"].startswith("This model classifies sentences")
    assert recs["acme-lab/multilingual-mini-embed"]["api_call"] == "SentenceTransformer('acme-lab/multilingual-mini-embed')"
    sketch = recs["pixel-co/sketch-diffusion"]
    assert sketch["api_call"] == "DiffusionPipeline.from_pretrained('pixel-co/sketch-diffusion')"
    assert sketch["domain"] == "Multimodal Text To Image"
    bad = tmp_path / "broken/card/README.md"
    bad.parent.mkdir(parents=True)
    bad.write_text("---\npipeline_tag: fill-mask\ntags: [a, b\n---\nbody\n")
    with pytest.raises(SourceError, match=r"README\.md:\d+:\d+: front matter"):
        huggingface.parse_file(bad)


def test_apizoo_malformed_json_is_located(docs):
    with pytest.raises(SourceError) as e:
        apizoo.parse_file(docs / "apizoo/Gmail_API.json")
    assert str(e.value).endswith("Gmail_API.json:39:5: invalid JSON: Expecting value")
    found = apizoo.parse_file(docs / "apizoo/yfinance.json").found
    assert len(found) == 12 and found[0].line == 2 and found[0].record["framework"] == "yfinance"
    with pytest.raises(SourceError, match=r"yfinance\.json:23:5: api_call: not a single Python call"):
        [database.check(f) for f in found]


def test_merge_dedupes_and_orders(docs):
    th = docs / "torchhub"
    found = [f for name in ("nvidia_deeplearningexamples_tacotron2.md", "nvidia_deeplearningexamples_waveglow.md")
             for f in torchhub.parse_file(th / name).found]
    records, merged = database.merge(found)
    assert merged == 2  # each page also loads the other's model
    assert [r["api_name"] for r in records] == ["nvidia_tacotron2", "nvidia_waveglow"]
    # the page's own example wins: waveglow's record comes from its own page
    assert "generating speech" in records[1]["description"]
    assert records == database.merge(list(reversed(found)))[0]


def test_diff_normalises_repo_tags_and_lists_missing_and_extra(tmp_path):
    built, up = tmp_path / "built.jsonl", tmp_path / "torchhub_api.jsonl"
    rows = lambda calls: "".join(json.dumps({"domain": "d", "api_call": c}) + "\n" for c in calls)  # noqa: E731
    built.write_text(rows(["torch.hub.load(repo_or_dir='pytorch/vision:v0.10.0', model='resnet18', pretrained=True)",
                           "torch.hub.load('pytorch/fairseq', 'roberta.large')", "torch.hub.load('a/b', 'extra')"]))
    up.write_text(rows(["torch.hub.load(repo_or_dir='pytorch/vision', model='resnet18', pretrained=True)",
                        "torch.hub.load(repo_or_dir='pytorch/fairseq')", "torch.hub.load(repo_or_dir='x/y', model='gone')"]))
    d = diff(built, up)
    assert (d.reproduced, d.missing, d.extra) == (["pytorch/fairseq:", "pytorch/vision:resnet18"], ["x/y:gone"], ["a/b:extra"])
    assert "reproduced 2/3" in render(d) and "  - x/y:gone" in render(d)


def _db(n: int = 3) -> list[dict]:
    return [{"domain": "Classification", "framework": "PyTorch", "api_name": f"netv{i}x",
             "api_call": f"torch.hub.load(repo_or_dir='lab/zoo', model='netv{i}x', pretrained=True)",
             "description": "An image classifier.", "example_code": "import torch"} for i in range(n)]


def test_selfinstruct_filters():
    db = _db(2) + [{"domain": "Other", "framework": "X", "api_name": "broken", "api_call": "load(", "description": ""}]
    k0, k1, k2 = (call_key(r["api_call"]) or r["api_call"] for r in db)
    texts = {
        k0: " Sort my holiday photos by what animal is in them\n2. Use netv0x to label images of cats\n3. too short\n"
            "4. Please sort my holiday photos by what animal is in them",
        k1: " Which bird species is in this picture from my garden camera?\n2. Load lab/zoo for me and classify\n"
            "3. Count how many cars pass through the parking lot entrance in our footage",
        k2: " A perfectly fine request about something we need here",
    }
    seeds = selfinstruct.load_seeds("torchhub")  # the third request of k1 copies a seed
    pairs, counts = selfinstruct.filter_pairs(db, "torchhub", texts, SelfInstructConfig(), seeds)
    assert [p["api_call"] for p in pairs] == [db[0]["api_call"], db[1]["api_call"]]
    assert counts["dropped"] == {"unparsed": 0, "length": 1, "names_api": 2, "copies_seed": 1, "call_mismatch": 1,
                                 "off_topic": 0, "near_duplicate": 1}
    assert counts["kept"] == 2 and counts["candidates"] == 8
    code = pairs[0]["code"]
    assert code.startswith("###Instruction: Sort my holiday photos") and "\n###Output: <<<domain>>>: Classification" in code
    assert instruction_of(code) == "Sort my holiday photos by what animal is in them"
    assert "<<<api_call>>>: torch.hub.load(repo_or_dir='lab/zoo', model='netv0x', pretrained=True)" in code


class Counting:
    """A real backend that counts its prompts and can be told to fail after some calls (a crash)."""

    def __init__(self, inner, fail_after: int | None = None):
        self.inner, self.name, self.prompts, self.fail_after, self.calls = inner, inner.name, 0, fail_after, 0

    def generate(self, prompts, **kw):
        if self.fail_after is not None and self.calls >= self.fail_after:
            raise RuntimeError("teacher crashed")
        self.calls += 1
        self.prompts += len(prompts)
        return self.inner.generate(prompts, **kw)


@pytest.fixture(scope="module")
def tiny():
    return selfinstruct.load_teacher("tiny")


def test_selfinstruct_resumes_and_is_deterministic(tiny, tmp_path):
    db, seeds = _db(3), selfinstruct.load_seeds("torchhub")
    cfg = SelfInstructConfig(max_new_tokens=12, batch_size=1)
    raw = tmp_path / "run1" / "teacher.jsonl"
    crashing = Counting(tiny, fail_after=1)
    with pytest.raises(RuntimeError):
        selfinstruct.generate(db, "torchhub", lambda: crashing, "tiny", seeds, raw, cfg)
    assert len(raw.read_text().splitlines()) == 1  # the finished API was kept
    resumed = Counting(tiny)
    texts = selfinstruct.generate(db, "torchhub", lambda: resumed, "tiny", seeds, raw, cfg)
    assert resumed.prompts == 2  # only the two APIs not done before the crash
    fresh = selfinstruct.generate(db, "torchhub", lambda: tiny, "tiny", seeds, tmp_path / "run2" / "teacher.jsonl", cfg)
    never = Counting(tiny, fail_after=0)  # all done: the teacher is not even loaded
    assert selfinstruct.generate(db, "torchhub", lambda: never, "tiny", seeds, raw, cfg) == texts
    assert texts == fresh and all(isinstance(t, str) and t for t in texts.values())
    prompt = teacher_prompt(db[0], selfinstruct.pick_seeds(seeds, "k", 3, 0), 10)
    assert prompt.count("API: ") == 4 and prompt.endswith("Requests:\n1.") and "Write 10 new" in prompt


def test_build_resumes_from_the_teacher_journal_after_a_crash(tiny, tmp_path, monkeypatch):
    from gorilla.apibench.build import BuildConfig, build, journal_path

    docs, out = tmp_path / "api.jsonl", tmp_path / "th"
    docs.write_text("".join(json.dumps(r) + "\n" for r in _db(3)))
    cfg = BuildConfig(hub="torchhub", docs=docs, out=out, teacher="tiny",
                      selfinstruct=SelfInstructConfig(max_new_tokens=12, batch_size=1))
    teacher = Counting(tiny, fail_after=1)
    monkeypatch.setattr(selfinstruct, "load_teacher", lambda *a, **k: teacher)  # whichever `teacher` is current
    with pytest.raises(RuntimeError):
        build(cfg, report=lambda _: None)
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == [".th.teacher.jsonl", "api.jsonl"]
    assert len(journal_path(out).read_text().splitlines()) == 1  # the finished API outlived the crash
    teacher = Counting(tiny)
    m = build(cfg, report=lambda _: None)
    assert teacher.prompts == 2 and m["instructions"]["apis"] == 3  # only the APIs not done before the crash
    assert sorted(p.name for p in out.iterdir()) == ["api.jsonl", "eval.json", "manifest.json", "teacher.jsonl", "train.json"]
    assert len((out / "teacher.jsonl").read_text().splitlines()) == 3 and not journal_path(out).exists()
    teacher = Counting(tiny, fail_after=0)  # a rebuild re-filters the finished build's text, asks nothing
    assert build(cfg, report=lambda _: None)["instructions"]["kept"] == m["instructions"]["kept"]


def test_build_cli_end_to_end_no_instructions(docs, tmp_path):
    out = tmp_path / "th"
    r = run_cli("apibench", "build", "--hub", "torchhub", "--docs", str(docs / "torchhub"), "--out", str(out),
                "--no-instructions")
    assert r.returncode == 0, r.stderr
    assert "files: 52 used" in r.stdout
    assert sorted(p.name for p in out.iterdir()) == ["api.jsonl", "manifest.json"]
    assert not list(tmp_path.glob(".th.*"))  # no staging left behind
    rows = [json.loads(x) for x in (out / "api.jsonl").read_text().splitlines()]
    assert len(rows) == json.loads((out / "manifest.json").read_text())["apis"] > 100
    assert list(rows[0]) == list(database.API_FIELDS)
    r = run_cli("apibench", "diff", str(out / "api.jsonl"), str(DOCS.parent / "apibench/api/torchhub_api.jsonl"))
    assert r.returncode == 0 and "reproduced 89/94" in r.stdout, r.stdout + r.stderr


def test_build_cli_malformed_sources_stop_or_keep_going(docs, tmp_path):
    out = tmp_path / "zoo"
    r = run_cli("apibench", "build", "--hub", "apizoo", "--docs", str(docs / "apizoo"), "--out", str(out), "--no-instructions")
    assert r.returncode == 2 and "Gmail_API.json:39:5: invalid JSON" in r.stderr and "Traceback" not in r.stderr
    assert not out.exists()
    r = run_cli("apibench", "build", "--hub", "apizoo", "--docs", str(docs / "apizoo"), "--out", str(out), "--no-instructions",
                "--keep-going")
    assert r.returncode == 0, r.stderr
    assert "skipped: " in r.stderr and "skipped (malformed) of 28" in r.stdout
    m = json.loads((out / "manifest.json").read_text())
    assert m["files"]["skipped"] == len(m["skipped"]["files"]) >= 3 and m["apis"] > 100


def test_build_config_file_then_flags(tmp_path):
    from gorilla.apibench.build import load_config

    cfg_file = tmp_path / "build.toml"
    cfg_file.write_text('[defaults]\nper_api = 7\nteacher = "tiny"\n[torchhub]\ndocs = "docs/th"\nout = "out/th"\nper_api = 5\n')
    cfg = load_config(cfg_file, "torch", {"teacher": "embedded", "out": None})
    assert (cfg.hub, cfg.teacher, cfg.selfinstruct.per_api) == ("torchhub", "embedded", 5)
    assert cfg.docs == (tmp_path / "docs/th").resolve() and cfg.out == (tmp_path / "out/th").resolve()
    assert load_config(cfg_file, "th", {}).hub == "torchhub"  # the aliases of gorilla.data.hubs, `th` included
    cfg_file.write_text("[torchhub]\ndocs = 'd'\nout = 'o'\nper_apis = 3\n")
    with pytest.raises(Exception, match="unknown setting.*per_apis"):
        load_config(cfg_file, "torchhub", {})


def test_build_cli_huggingface_cards_and_broken_card(tmp_path):
    root = _write_cards(tmp_path / "cards")
    out = tmp_path / "hf"
    r = run_cli("apibench", "build", "--hub", "hf", "--docs", str(root), "--out", str(out), "--no-instructions")
    assert r.returncode == 0, r.stderr
    rows = [json.loads(x) for x in (out / "api.jsonl").read_text().splitlines()]
    assert sorted(x["api_name"] for x in rows) == sorted(CARDS)
    (root / "zz/bad").mkdir(parents=True)
    (root / "zz/bad/README.md").write_text("---\npipeline_tag: [a\n---\n")
    r = run_cli("apibench", "build", "--hub", "hf", "--docs", str(root), "--out", str(out), "--no-instructions")
    assert r.returncode == 2 and "zz/bad/README.md:3:1: front matter" in r.stderr, r.stderr
    assert len((out / "api.jsonl").read_text().splitlines()) == 3  # the earlier build is untouched


def test_selfinstruct_roundtrip_filter_drops_off_topic_requests():
    db = [{"domain": "Classification", "framework": "PyTorch", "api_name": "birdnet", "description": "Classifies bird species in photos.",
           "api_call": "torch.hub.load(repo_or_dir='lab/zoo', model='birdnet', pretrained=True)"},
          {"domain": "Translation", "framework": "PyTorch", "api_name": "en2de", "description": "Translates English text into German.",
           "api_call": "torch.hub.load(repo_or_dir='lab/zoo', model='en2de', pretrained=True)"},
          {"domain": "Depth Estimation", "framework": "PyTorch", "api_name": "deep3", "description": "Estimates depth from one image.",
           "api_call": "torch.hub.load(repo_or_dir='lab/zoo', model='deep3', pretrained=True)"}]  # BM25 needs 3+ docs
    texts = {call_key(db[0]["api_call"]): " Which bird species is sitting on my balcony in this photo\n"
             "2. Please translate my English letter into German today"}
    pairs, counts = selfinstruct.filter_pairs(db, "torchhub", texts, SelfInstructConfig(roundtrip_k=1))
    assert [p["code"].split("\n")[0] for p in pairs] == ["###Instruction: Which bird species is sitting on my balcony in this photo"]
    assert counts["dropped"]["off_topic"] == 1
