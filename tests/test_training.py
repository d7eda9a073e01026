"""Training: data and loss masking, configs, bad input, resume, an end-to-end tiny run, and 2-process DDP."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, run_cli

from gorilla.data import load_eval
from gorilla.errors import GorillaError
from gorilla.prompting import OUTPUT_TAG, parse_answer
from gorilla.training.config import CONFIG_NAME, TrainConfig, merge, read_toml
from gorilla.training.data import (
    IGNORE,
    Collator,
    build_examples,
    encode,
    encode_all,
    pack,
    split,
    train_files,
)
from gorilla.training.presets import preset


@pytest.fixture(scope="module")
def pairs(data_dir):
    return [("torchhub", p) for p in load_eval(data_dir / "apibench" / "torchhub_train.json")]


@pytest.fixture(scope="module")
def tok():
    from gorilla.models.embedded import embedded_tokenizer

    return embedded_tokenizer()


def tiny_cfg(out: Path, **kw) -> TrainConfig:
    return merge(TrainConfig(), {**preset("tiny"), "out": str(out), **kw}, "test")


def test_examples_use_the_shared_prompt_and_answer_format(pairs):
    examples, stats = build_examples(pairs[:20])
    assert stats.with_docs == 0
    for (_, pair), ex in zip(pairs[:20], examples, strict=True):
        assert ex.prompt.endswith(OUTPUT_TAG) and pair.instruction.split()[0] in ex.prompt
        assert "{'Instruction'" not in ex.prompt  # torchhub_train's dict form was unwrapped
        assert parse_answer(ex.answer).api_call == pair.api_call


def test_full_answer_recovers_explanation_and_code(pairs):
    (ex,), _ = build_examples(pairs[:1], full_answer=True)
    parsed = parse_answer(ex.answer)
    assert parsed["explanation"] and "torch.hub.load" in parsed["code"]


def test_rat_prompts_carry_retrieved_docs_and_count_wrong_top_docs(pairs, data_dir):
    from gorilla.retrieval import get_retriever

    bm25 = get_retriever("bm25", "torchhub", data_dir=data_dir)
    examples, stats = build_examples(pairs[:60], search=lambda hub, q, k: bm25.search(q, k), rat_rate=0.5, seed=1)
    with_docs = [e for e in examples if e.doc_hit is not None]
    assert len(with_docs) == stats.with_docs and 15 < stats.with_docs < 45
    assert stats.top_wrong == sum(not e.doc_hit for e in with_docs)
    assert all("Use this API documentation for reference:" in e.prompt for e in with_docs)
    assert all("documentation" not in e.prompt for e in examples if e.doc_hit is None)


def test_loss_mask_covers_exactly_the_answer_tokens(pairs, tok):
    import torch

    from gorilla.models.tiny import tiny_llama

    examples, _ = build_examples(pairs[:4])
    rows = [encode(e, tok, 256) for e in examples]
    for ex, row in zip(examples, rows, strict=True):
        n_prompt = len(tok(ex.prompt).input_ids)
        assert row["labels"][:n_prompt] == [IGNORE] * n_prompt
        answer_ids = row["labels"][n_prompt:]
        assert IGNORE not in answer_ids and answer_ids[-1] == tok.eos_token_id
        assert tok.decode(answer_ids[:-1]).strip() == ex.answer
    batch = Collator(tok.pad_token_id)(rows)
    assert (batch["labels"] != IGNORE).sum() == sum(len(tok(" " + e.answer, add_special_tokens=False).input_ids) + 1
                                                     for e in examples)
    # the model's loss is the mean cross-entropy over exactly those positions
    model, _ = tiny_llama()
    with torch.no_grad():
        out = model(**batch)
    logits, labels = out.logits[:, :-1], batch["labels"][:, 1:]
    keep = labels != IGNORE
    manual = torch.nn.functional.cross_entropy(logits[keep], labels[keep])
    assert torch.allclose(out.loss, manual, atol=1e-5)
    # packing keeps every answer label and adds none
    packed = pack(rows, 256)
    assert len(packed) < len(rows)
    assert sum(sum(x != IGNORE for x in r["labels"]) for r in packed) == int(keep.sum())


def test_too_long_examples_are_dropped_and_counted(pairs, tok):
    examples, _ = build_examples(pairs[:10])
    rows, dropped = encode_all(examples, tok, 40)
    assert dropped == 10 - len(rows) and dropped > 0


def test_validation_split_by_api_holds_out_whole_apis(pairs):
    examples, _ = build_examples(pairs)
    train, val = split(examples, "api", 0.1, seed=0)
    assert len(train) + len(val) == len(examples) and len(val) >= 0.1 * len(examples)
    assert not {e.api_call for e in train} & {e.api_call for e in val}
    train, val = split(examples, "example", 0.1, seed=0)
    assert len(val) == round(0.1 * len(examples)) and {e.api_call for e in val} <= {e.api_call for e in train} | {
        e.api_call for e in val}
    assert split(examples, "example", 0.1, seed=0) == (train, val)  # seeded


def test_eval_sets_and_missing_files_are_refused(data_dir, tmp_path):
    with pytest.raises(GorillaError, match="is an eval set"):
        train_files(["torchhub"], [data_dir / "apibench" / "torchhub_eval.json"], data_dir)
    with pytest.raises(GorillaError, match="train file not found"):
        train_files(["torchhub"], [tmp_path / "nope.json"], data_dir)
    assert train_files(["torchhub"], [], data_dir) == [("torchhub", data_dir / "apibench" / "torchhub_train.json")]


def test_config_round_trips_through_toml_and_rejects_unknown_keys(tmp_path):
    cfg = tiny_cfg(tmp_path, lora=True, lora_targets=["q_proj"], rat_rate=0.3)
    (tmp_path / "c.toml").write_text(cfg.to_toml())
    assert merge(TrainConfig(), read_toml(tmp_path / "c.toml"), "c.toml") == cfg
    with pytest.raises(GorillaError, match="unknown training setting 'lora_rank'"):
        merge(cfg, {"lora_rank": 8}, "c.toml")
    with pytest.raises(GorillaError, match="lr: expected float, got str"):
        merge(cfg, {"lr": "fast"}, "c.toml")
    with pytest.raises(GorillaError, match="unknown preset"):
        preset("gpt-5")


@pytest.mark.parametrize("args, message", [
    (["--base", "no-such/model-xyz"], "unknown base 'no-such/model-xyz'"),
    (["--train-file", "/nonexistent/train.json"], "/nonexistent/train.json: train file not found"),
    (["--lora", "--lora-targets", "q_proj,wq"], "LoRA target wq not in tiny"),
    (["--retriever", "examples"], "cannot build RAT prompts"),
    (["--tool-file", "t.jsonl", "--eval"], "--eval scores APIBench answers; score a function-calling model"),
    (["--tool-file", "t.jsonl", "--train-file", "x.json"], "give tool_files or train_files, not both"),
])
def test_bad_configs_fail_early_with_one_line(tmp_path, args, message):
    r = run_cli("train", "--preset", "tiny", "--out", str(tmp_path / "run"), *args)
    assert r.returncode == 2, r.stderr
    assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_train_help_does_not_import_torch():
    code = ("import sys; from gorilla.cli.main import main\ntry: main(['train', '--help'])\nexcept SystemExit: pass\n"
            "assert 'torch' not in sys.modules and 'transformers' not in sys.modules")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 0, r.stderr


class _Interrupt(Exception):
    pass


def test_resume_restores_step_and_optimizer_state(tmp_path, data_dir):
    import torch
    from transformers import TrainerCallback

    from gorilla.training.trainer import train

    cfg = tiny_cfg(tmp_path / "run", max_steps=6, save_steps=3, val_fraction=0.0, data_dir=str(data_dir))

    class KillAfterCheckpoint(TrainerCallback):  # a crash between checkpoints, as a kill would leave it
        def on_step_end(self, args, state, control, **kw):
            if state.global_step == 4:
                raise _Interrupt

    with pytest.raises(_Interrupt):
        train(cfg, callbacks=[KillAfterCheckpoint()])
    ckpt = tmp_path / "run" / "checkpoints" / "checkpoint-3"
    saved = torch.load(ckpt / "optimizer.pt", weights_only=True)["state"]
    seen = {}

    class Inspect(TrainerCallback):
        def on_train_begin(self, args, state, control, optimizer=None, **kw):
            seen["step"] = state.global_step
            seen["state"] = [{k: v.clone() for k, v in s.items()} for s in optimizer.state_dict()["state"].values()]

    summary = train(cfg, callbacks=[Inspect()])
    assert seen["step"] == 3 and summary["steps"] == 6
    assert len(seen["state"]) == len(saved) > 0
    for got, want in zip(seen["state"], saved.values(), strict=True):
        assert int(got["step"]) == 3 and torch.equal(got["exp_avg"], want["exp_avg"])
        assert torch.equal(got["exp_avg_sq"], want["exp_avg_sq"])
    log = [json.loads(x) for x in (tmp_path / "run" / "train_log.jsonl").read_text().splitlines()]
    assert any("loss" in row and row["tokens_per_s"] > 0 for row in log)


@pytest.mark.slow
def test_ddp_two_cpu_processes_over_gloo(tmp_path, data_dir):
    torchrun = Path(sys.executable).parent / "torchrun"
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GORILLA_DATA": str(data_dir)}
    with socket.socket() as s:  # a free port: other test runs may share this machine
        s.bind(("127.0.0.1", 0))
        port = str(s.getsockname()[1])
    r = subprocess.run([str(torchrun), "--nproc_per_node", "2", "--master_port", port, "-m", "gorilla", "train",
                        "--preset", "tiny", "--max-steps", "2", "--out", str(out)],
                       capture_output=True, text=True, cwd=REPO, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["world_size"] == 2 and summary["steps"] == 2
    assert r.stdout.count("saved model to") == 1  # rank 0 alone writes
    assert (out / "model.safetensors").is_file() and (out / CONFIG_NAME).is_file()
    shutil.rmtree(out)


def test_tiny_end_to_end_lora_merge_generate_score(tmp_path, data_dir):
    from gorilla.models.local import LocalBackend
    from gorilla.prompting import STOP, build_prompt

    out = tmp_path / "run"
    r = run_cli("train", "--preset", "tiny", "--lora", "--lora-r", "4", "--max-steps", "4", "--merge", "--eval",
                "--eval-limit", "4", "--out", str(out), "--data-dir", str(data_dir))
    assert r.returncode == 0, r.stderr[-2000:]
    assert "loss" in r.stdout and "tok/s" in r.stdout and "ETA" in r.stdout
    saved = read_toml(out / CONFIG_NAME)
    assert saved["lora"] is True and saved["lora_r"] == 4 and saved["max_steps"] == 4
    assert (out / "adapter_config.json").is_file() and (out / "merged" / "config.json").is_file()
    results = json.loads((out / "eval" / "results.json").read_text())["results"]
    assert {(x["setting"], x["mode"]) for x in results} == {("0_shot", "compat"), ("0_shot", "strict")}
    assert all(x["n"] == 4 and 0 <= x["accuracy"] + x["hallucination"] <= 1 for x in results)
    # the adapter dir itself loads (base found through adapter_config.json) and generates
    texts = LocalBackend.load(str(out)).generate([build_prompt("classify birds in photos")], max_new_tokens=5, stop=STOP)
    assert len(texts) == 1 and isinstance(texts[0], str)
