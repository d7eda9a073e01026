"""The scorer: the published figures exactly, each documented quirk, strict mode, bad input, reports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gorilla.calls import parse_bound_call
from gorilla.data.records import ApiEntry
from gorilla.errors import InputError
from gorilla.prompting import parse_answer
from gorilla.scoring import Scorer
from gorilla.scoring.compat import CompatMatcher, compat_candidate
from gorilla.scoring.strict import StrictMatcher
from tests.conftest import REPO, run_cli

REFERENCE = REPO.parent / "shared" / "reference" / "upstream-scores.json"
RESNET = "torch.hub.load(repo_or_dir='pytorch/vision', model='resnet18', pretrained=True)"


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Persisted compat results go to a fresh folder per test: nothing leaks between tests."""
    monkeypatch.setenv("GORILLA_CACHE", str(tmp_path / "cache"))


def make_data(root: Path, hub: str, api_calls: list[tuple[str, str]], gold: list[str]) -> Path:
    """A small APIBench tree: one hub's API database and eval set (gold domains)."""
    from gorilla.data.hubs import EVAL_FILES

    (root / "api").mkdir(parents=True, exist_ok=True)
    (root / "apibench").mkdir(exist_ok=True)
    with open(root / "api" / f"{hub}_api.jsonl", "w") as f:
        for domain, call in api_calls:
            f.write(json.dumps({"domain": domain, "api_call": call}) + "\n")
    with open(root / "apibench" / EVAL_FILES[hub], "w") as f:
        for domain in gold:
            f.write(json.dumps({"code": "", "api_call": "", "provider": "", "api_data": {"domain": domain, "api_call": "x()"}}) + "\n")
    return root


def write_responses(path: Path, rows: list[dict | str]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


# --- the published figures -------------------------------------------------------------

def test_twelve_published_figures_exact(data_dir):
    if not REFERENCE.exists():
        pytest.skip("reference figures not beside this checkout")
    scores = json.loads(REFERENCE.read_text())["scores"]
    files = [data_dir / "responses" / rel for rel in scores]
    for cached in (False, True, True):  # computed, then stored, then read back from the store
        results = Scorer(data_dir, cache=cached).score_files(files, workers=2)
        for rel, r in zip(scores, results, strict=True):
            assert r.accuracy == scores[rel]["accuracy"], rel
            assert r.hallucination == scores[rel]["hallucination"], rel


def test_naive_baseline_agrees(data_dir):
    """The benchmark's straightforward implementation gives the same counts (else the ratio means nothing)."""
    f = data_dir / "responses" / "torchhub" / "response_torchhub_Gorilla_FT_gpt_index.jsonl"
    out = subprocess.run([sys.executable, str(REPO / "eval" / "naive_scorer.py"), "--data-dir", str(data_dir), str(f)],
                         capture_output=True, text=True, check=True).stdout
    naive = json.loads(out)
    ours = Scorer(data_dir, cache=False).score_file(f)
    assert (naive["correct"], naive["hallucinated"], naive["n"]) == (ours.correct, ours.hallucinated, ours.n)


# --- scoring.md, "Known consequences" --------------------------------------------------

def test_same_response_differs_by_hub_rules():
    text = "<<<api_call>>>: torch.hub.load('pytorch/vision', 'resnet18', pretrained=True) <<<api_provider>>>: PyTorch"
    db = [ApiEntry(domain="Classification", api_call=RESNET)]
    # torchhub reads the values of repo_or_dir= and model=; TF Hub wants the text `repo_or_dir='pytorch/vision'`
    assert CompatMatcher("torchhub", db).match(compat_candidate(text, "torchhub")) == 0
    assert CompatMatcher("tensorflowhub", db).match(compat_candidate(text, "tensorflowhub")) == -1
    # without the marker, torchhub gives up on the response while the other hubs read all of it
    assert compat_candidate("load resnet18", "torchhub") is None
    assert compat_candidate("load resnet18", "huggingface") == "load resnet18"


def test_fall_through_matches_free_text_mentioning_a_model():
    db = [ApiEntry(domain="NLP", api_call="AutoModel.from_pretrained('bert-base-uncased')")]
    m = CompatMatcher("huggingface", db)
    # no subtree is headed by AutoModel.from_pretrained: the last subtree (the string) is used
    assert m.match("'bert-base-uncased' is what you want") == 0
    assert m.match("Use bert-base-uncased here") == -1


def test_slicing_rules():
    piece = "<<<api_call>>>: pipeline('asr', model='x') <<<api_provider>>>: HF"
    assert compat_candidate(piece, "huggingface") == "pipeline('asr', model='x')"
    # no ')' at all: end = -2 cuts the last character of the piece
    assert compat_candidate("api_call: abcdef", "huggingface") == "abcde"


def test_question_id_zero_reads_last_gold_and_past_end_errors(tmp_path):
    root = make_data(tmp_path / "d", "torchhub", [("Classification", RESNET)], ["Detection", "Classification"])
    call = "<<<api_call>>>: torch.hub.load('pytorch/vision', 'resnet18') <<<api_provider>>>"
    f = write_responses(tmp_path / "r.jsonl", [{"question_id": 0, "text": call}, {"question_id": 1, "text": call}])
    r = Scorer(root).score_file(f, "torchhub")
    assert [v.correct for v in r.verdicts] == [True, False]  # id 0 -> gold[-1] == Classification
    write_responses(f, [{"question_id": 3, "text": call}])
    with pytest.raises(InputError, match=r"r.jsonl:1: question_id: 3 is past the end of the torchhub eval set \(2 questions\)"):
        Scorer(root).score_file(f, "torchhub")
    cli = run_cli("eval", "score", "--data-dir", str(root), "--hub", "torchhub", str(f))
    assert cli.returncode == 2 and "Traceback" not in cli.stderr and "question_id: 3 is past the end" in cli.stderr


def test_unmatched_response_past_the_end_still_scores(tmp_path):
    """The reference only reads the gold domain after a match: it produces figures here, so do we."""
    root = make_data(tmp_path / "d", "torchhub", [("Classification", RESNET)], ["Classification"])
    f = write_responses(tmp_path / "r.jsonl", [{"question_id": 99, "text": "api_call: made_up()"}])
    assert Scorer(root).score_file(f, "torchhub").hallucinated == 1


# --- input handling ---------------------------------------------------------------------

def test_missing_text_blank_line_and_non_ascii(tmp_path):
    root = make_data(tmp_path / "d", "huggingface", [("NLP", "AutoModel.from_pretrained('bert-base-uncased')")], ["NLP"] * 3)
    f = write_responses(tmp_path / "r.jsonl", [
        {"question_id": 1},  # no text: counted, neither correct nor hallucinated
        "",  # blank line: not a response
        {"question_id": 2, "text": "<<<api_call>>>: AutoModel.from_pretrained('bert-base-uncased') — für Ü 日本 <<<api_provider>>>"},
        {"question_id": 3, "text": "<<<api_call>>>: AutoModel.from_pretrained('größe/模型') <<<api_provider>>>"},
    ])
    r = Scorer(root).score_file(f, "huggingface")
    assert (r.n, r.correct, r.hallucinated) == (3, 1, 1)
    assert [v.line for v in r.verdicts] == [1, 3, 4] and r.verdicts[0].reason == "no text"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "r.jsonl: file is empty"),
        (b'{"question_id": 1, "text": "a"}\n{"question_id": 2, "text"\n', "r.jsonl:2: invalid JSON"),
        (b'{"question_id": 1, "text": "caf\xe9"}\n', "r.jsonl:1: invalid UTF-8 byte 0xe9"),
        (b'{"question_id": 1, "text": 7}\n', "r.jsonl:1: text: expected str, got int"),
        (b'"just a string"\n', "r.jsonl:1: expected a JSON object"),
    ],
)
def test_malformed_responses_one_line_exit_2(tmp_path, data_dir, content, message):
    f = tmp_path / "r.jsonl"
    f.write_bytes(content)
    r = run_cli("eval", "score", "--hub", "torchhub", "--data-dir", str(data_dir), str(f))
    assert r.returncode == 2
    assert message in r.stderr and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr


def test_hub_must_be_known(tmp_path, data_dir):
    f = write_responses(tmp_path / "answers.jsonl", [{"question_id": 1, "text": "x"}])
    r = run_cli("eval", "score", "--data-dir", str(data_dir), str(f))
    assert r.returncode == 2 and "cannot tell the hub" in r.stderr
    r = run_cli("eval", "score", "--hub", "pypi", "--data-dir", str(data_dir), str(f))
    assert r.returncode == 2 and "unknown hub 'pypi'" in r.stderr


# --- CLI contract -----------------------------------------------------------------------

def test_json_format_and_verdicts(tmp_path, data_dir):
    files = sorted((data_dir / "responses" / "torchhub").glob("*FT*.jsonl"))[:2]
    r = run_cli("eval", "score", "--format", "json", "--data-dir", str(data_dir), *map(str, files))
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert [row["file"] for row in rows] == [str(f) for f in files]
    for row in rows:
        assert list(row) == ["file", "hub", "mode", "n", "correct", "hallucinated", "accuracy", "hallucination", "error"]
        assert row["error"] == 1 - row["accuracy"] - row["hallucination"]
    out = tmp_path / "v.jsonl"
    r = run_cli("eval", "score", "--mode", "strict", "--verdicts", str(out), "--data-dir", str(data_dir), str(files[0]))
    verdicts = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(verdicts) == rows[0]["n"] and verdicts[0]["line"] == 1
    assert set(verdicts[0]) == {"line", "question_id", "correct", "hallucination", "matched", "reason"}
    assert all(isinstance(v["matched"], int) for v in verdicts if v["correct"])
    r = run_cli("eval", "score", "--verdicts", str(out), "--data-dir", str(data_dir), *map(str, files))
    assert r.returncode == 2 and "exactly one" in r.stderr


def test_fast_paths_do_not_import_torch(data_dir):
    f = data_dir / "responses" / "torchhub" / "response_torchhub_Gorilla_FT_0_shot.jsonl"
    code = ("import sys\nfrom gorilla.cli.main import main\n"
            f"for argv in (['--help'], ['eval', 'score', '--help'], ['eval', 'score', {str(f)!r}], ['data', 'info']):\n"
            "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
            "print(sorted(m for m in ('torch', 'transformers', 'faiss', 'sentence_transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ}, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_report_writes_table_and_chart(tmp_path, data_dir):
    files = sorted((data_dir / "responses" / "torchhub").glob("*FT*.jsonl"))
    r = run_cli("eval", "report", "--out", str(tmp_path / "rep"), "--data-dir", str(data_dir), *map(str, files))
    assert r.returncode == 0, r.stderr
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "| response_torchhub_Gorilla_FT_0_shot.jsonl | torchhub | 186 | 0.758 | 0.161 |" in md
    assert (tmp_path / "rep" / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# --- strict mode ------------------------------------------------------------------------

def test_strict_normalises_quotes_spacing_and_positional_arguments():
    m = StrictMatcher([ApiEntry(domain="C", api_call=RESNET)])
    for call in ('torch.hub.load("pytorch/vision", "resnet18")', "torch.hub.load( 'pytorch/vision' ,model = 'resnet18' )",
                 "torch.hub.load('pytorch/vision:v0.10.0', 'resnet18', pretrained=False)"):
        assert m.match(call)[0] == [0], call
    assert m.match("torch.hub.load('pytorch/vision', 'resnet1')")[0] == []  # a substring is not enough
    assert m.match("torch.hub.load('pytorch/vision', 'resnet18'")[1] == "api_call does not parse as one call"
    assert m.match("hub.load('pytorch/vision', 'resnet18')")[1] == "no database API is named hub.load"


def test_strict_nested_calls_identify_and_first_match_decides():
    db = [ApiEntry(domain="QA", api_call="pipeline('question-answering', model=AutoModel.from_pretrained('deepset/a'))"),
          ApiEntry(domain="Tabular Classification", api_call="joblib.load('model.joblib')"),
          ApiEntry(domain="Tabular Regression", api_call="joblib.load('model.joblib')")]
    m = StrictMatcher(db)
    assert m.match("pipeline('question-answering', model='deepset/b')")[0] == []
    assert m.match('pipeline("question-answering", model=AutoModel.from_pretrained("deepset/a"))')[0] == [0]
    assert m.match("joblib.load('model.joblib')")[0] == [1, 2]
    assert parse_bound_call("x = 1") is None


def test_strict_uses_only_the_api_call_field(tmp_path):
    root = make_data(tmp_path / "d", "torchhub", [("C", RESNET), ("D", RESNET)], ["C", "D"])
    f = write_responses(tmp_path / "r.jsonl", [
        {"question_id": 1, "text": "You could call torch.hub.load('pytorch/vision', 'resnet18')"},  # no field
        {"question_id": 1, "text": "{'domain': 'C', 'api_call': \"model = torch.hub.load('pytorch/vision', 'resnet18')\"}"},
        {"question_id": 2, "text": "<<<api_call>>>: torch.hub.load(\\\"pytorch/vision\\\", \\\"resnet18\\\")"},
    ])
    r = Scorer(root).score_file(f, "torchhub", "strict")
    assert [(v.correct, v.hallucination) for v in r.verdicts] == [(False, False), (True, False), (True, False)]
    assert r.verdicts[0].reason == "no api_call field" and r.verdicts[2].matched == 1  # the entry of the gold domain
    compat = Scorer(root).score_file(f, "torchhub", "compat")
    assert not compat.verdicts[2].correct and compat.verdicts[2].matched == 0  # compat: the first entry (domain C) decides


def test_strict_matches_a_verbatim_database_call_that_does_not_parse():
    shell = "mlagents-load-from-hf --repo-id='ThomasSimonini/ppo-SnowballTarget' --local-dir='./downloads'"
    m = StrictMatcher([ApiEntry(domain="RL", api_call=shell), ApiEntry(domain="C", api_call=RESNET)])
    assert m.match(shell.replace("'", '"'))[0] == [0]
    assert m.match("mlagents-load-from-hf --repo-id='someone/else'") == ([], "api_call does not parse as one call")


def test_strict_reads_chained_calls_whole_then_by_their_first_call():
    """API Zoo's Google APIs are chains (`...send(...).execute()`): the answer parser keeps the chain, so the right
    chain matches and a wrong one does not; a chain the database lacks (`.to(device)` after a model) is its first
    call, as before chains were kept."""
    send = "service.users().messages().send(userId='me', body=message).execute()"
    labels = "service.users().labels().list(userId='me').execute()"
    m = StrictMatcher([ApiEntry(domain="Email", api_call=send), ApiEntry(domain="Email", api_call=labels),
                       ApiEntry(domain="C", api_call=RESNET)])
    assert parse_answer(f"<<<api_call>>>: {send}\n<<<api_provider>>>: Gmail").api_call == send
    assert m.match(send)[0] == [0] and m.match(labels)[0] == [1]
    assert m.match("service.users().messages().send(userId='you', body=message).execute()")[0] == []
    assert m.match(f"{RESNET}.to(device)")[0] == [2]


@pytest.mark.parametrize("hub", ["torchhub", "tensorflowhub", "huggingface"])
def test_strict_scores_every_gold_call_in_the_database_correct(data_dir, tmp_path, hub):
    """The eval records' own calls: compat's first-match rule scores some wrong (an earlier entry with the same
    call has another domain); strict must not, or it would mark the right answer wrong."""
    from gorilla.data import load_api_db, load_eval, normalize_call
    from gorilla.data.hubs import EVAL_FILES

    known = {normalize_call(e.api_call) for e in load_api_db(data_dir / "api" / f"{hub}_api.jsonl")}
    pairs = load_eval(data_dir / "apibench" / EVAL_FILES[hub])
    rows = [{"question_id": i + 1, "text": f"<<<api_call>>>: {p.api_data.api_call}"} for i, p in enumerate(pairs)]
    f = write_responses(tmp_path / f"responses_{hub}.jsonl", rows)
    scorer = Scorer(data_dir)
    strict, compat = scorer.score_file(f, hub, "strict"), scorer.score_file(f, hub, "compat")
    in_db = [normalize_call(p.api_data.api_call) in known for p in pairs]
    assert all(v.correct for v, ok in zip(strict.verdicts, in_db, strict=True) if ok)
    assert strict.correct >= compat.correct
