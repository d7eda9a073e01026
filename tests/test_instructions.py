"""The per-API instructions shipped in gorilla/resources/instructions: well formed, true to the database,
never naming the API, and no closer to the eval sets than upstream's own train split is to its eval set."""

from __future__ import annotations

import collections
import json

import pytest

from gorilla.apibench.contamination import contamination, shared_ngrams
from gorilla.apibench.selfinstruct import _norm, forbidden_names
from gorilla.data import load_eval, load_examples, read_jsonl
from gorilla.data.paths import instructions_file
from gorilla.errors import InputError

SHIPPED = {hub: instructions_file(hub) for hub in ("huggingface", "tensorflowhub")}


@pytest.mark.parametrize("hub", SHIPPED)
def test_shipped_instructions_match_their_database_lines(hub, data_dir):
    db = [obj for _, obj in read_jsonl(data_dir / "api" / f"{hub}_api.jsonl")]
    rows = [obj for _, obj in read_jsonl(SHIPPED[hub])]
    per_api = collections.Counter(r["api_index"] for r in rows)
    for r in rows:
        api = db[r["api_index"]]
        assert (r["api_call"], r["domain"]) == (api["api_call"], api["domain"])
        assert not any(n in _norm(r["instruction"]) for n in forbidden_names(api)), r
    assert len({r["instruction"] for r in rows}) == len(rows)
    assert sum(per_api.values()) / len(per_api) >= 4.5  # 5 written per record; filters drop a few
    assert len({e.domain for e in load_examples(SHIPPED[hub])}) == len({a["domain"] for a in db})


def test_contamination_is_calibrated_on_upstreams_own_split(data_dir):
    """The issue's calibration, reproduced: upstream's torchhub train set against its eval set."""
    evals = [p.instruction for p in load_eval(data_dir / "apibench" / "torchhub_eval.json")]
    train = [e.instruction for e in load_examples(data_dir / "apibench" / "torchhub_train.json")]
    assert contamination(evals, train) | {"n_train": 0} == {
        "n_eval": 186, "n_train": 0, "median_max_cos": 0.849, "share_ge_0.95": 0.048, "shared_8gram": 25}


@pytest.mark.slow
@pytest.mark.parametrize("hub, eval_file", [("huggingface", "huggingface_eval.json"),
                                            ("tensorflowhub", "tensorflow_eval.json")])
def test_shipped_instructions_are_no_closer_to_eval_than_upstream_train(hub, eval_file, data_dir):
    evals = [p.instruction for p in load_eval(data_dir / "apibench" / eval_file)]
    row = contamination(evals, [e.instruction for e in load_examples(SHIPPED[hub])])
    assert row["median_max_cos"] <= 0.849 and row["share_ge_0.95"] <= 0.048
    assert row["shared_8gram"] / row["n_eval"] <= 25 / 186


def test_shared_ngrams_counts_eval_lines_not_matches():
    train = ["please classify the birds in these garden photos for me today"]
    evals = ["could you classify the birds in these garden photos for me now", "something else entirely"]
    assert shared_ngrams(evals, train) == 1 and shared_ngrams(evals, train, n=12) == 0


def test_examples_read_both_formats_and_name_bad_lines(tmp_path):
    ours = tmp_path / "ours.jsonl"
    ours.write_text(json.dumps({"instruction": "caption my photos", "api_call": "f('a')", "domain": "D", "api_index": 3})
                    + "\n", encoding="utf-8")
    upstream = tmp_path / "train.json"
    upstream.write_text(json.dumps({"code": "###Instruction: caption it ###Output: x", "api_call": "f('b')",
                                    "api_data": {"domain": "E", "api_call": "f('b')"}}) + "\n", encoding="utf-8")
    assert [(e.instruction, e.api_call, e.domain) for e in load_examples(ours) + load_examples(upstream)] == [
        ("caption my photos", "f('a')", "D"), ("caption it", "f('b')", "E")]
    ours.write_text(json.dumps({"instruction": "x"}) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match="api_call") as e:
        load_examples(ours)
    assert "ours.jsonl" in str(e.value) and ":1" in str(e.value)


def test_gzipped_jsonl_reads_like_plain_and_bad_gzip_is_named(tmp_path):
    from gorilla.data import write_jsonl

    rows = [{"instruction": "caption my photos", "api_call": "f('a')"}, {"instruction": "é", "api_call": "g()"}]
    write_jsonl(tmp_path / "a.jsonl.gz", rows)
    write_jsonl(tmp_path / "b.jsonl.gz", rows)
    assert [o for _, o in read_jsonl(tmp_path / "a.jsonl.gz")] == rows
    assert (tmp_path / "a.jsonl.gz").read_bytes() == (tmp_path / "b.jsonl.gz").read_bytes()  # reproducible bytes
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes((tmp_path / "a.jsonl.gz").read_bytes()[:-12])
    with pytest.raises(InputError, match="gzip") as e:
        list(read_jsonl(cut))
    assert "cut.jsonl.gz" in str(e.value)
