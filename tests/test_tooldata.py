"""Function-calling training: train files checked by the call grammar, targets the decoder would write, distractor
functions, answer-only labels, a tiny `gorilla train --tool-file` run, and a LoRA adapter merged on the short path."""

from __future__ import annotations

import json

import pytest
from conftest import run_cli

from gorilla.data.functions import FunctionSpec
from gorilla.errors import InputError
from gorilla.models.grammar import CallGrammar
from gorilla.prompting import answer_text, literal, tool_messages
from gorilla.training.data import IGNORE, encode, tool_dataset
from gorilla.training.tooldata import read_tool_pairs, with_distractors

RATE = {"name": "loans.monthly_payment", "description": "Monthly payment of a fixed-rate loan.",
        "parameters": {"type": "object", "properties": {
            "principal": {"type": "number", "description": "Amount borrowed."},
            "annual_rate": {"type": "number", "description": "Yearly interest rate as a fraction, e.g. 0.05."},
            "years": {"type": "integer", "description": "Term in years."},
            "extra": {"type": "boolean", "description": "Include an amortisation table.", "default": False}},
            "required": ["principal", "annual_rate", "years"]}}
CITY = {"name": "weather.now", "description": "Current weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"},
                                                        "unit": {"type": "string", "enum": ["C", "F"]}},
                       "required": ["city"]}}
LINES = [
    # arguments given out of schema order: the target writes them in the schema's order
    {"request": "Payment on 250k over 30 years at 6.5%?", "functions": [RATE],
     "calls": [{"name": "loans.monthly_payment", "arguments": {"years": 30, "principal": 250000, "annual_rate": 0.065}}]},
    {"request": "Weather in Oslo and in Rome, in F", "functions": [CITY, RATE],
     "calls": [{"name": "weather.now", "arguments": {"city": "Oslo", "unit": "F"}},
               {"name": "weather.now", "arguments": {"city": "Rome", "unit": "F"}}]},
    {"messages": [{"role": "user", "content": "Tell me a joke"}], "functions": [CITY], "calls": []},
]


def write(path, lines):
    path.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    return path


def test_targets_are_the_grammar_s_own_text(tmp_path):
    pairs = read_tool_pairs(write(tmp_path / "t.jsonl", LINES))
    assert pairs[0].answer == "[loans.monthly_payment(principal=250000, annual_rate=0.065, years=30)]"
    assert pairs[1].answer == '[weather.now(city="Oslo", unit="F"), weather.now(city="Rome", unit="F")]'
    assert pairs[2].answer == "[]" and pairs[2].messages[0]["content"] == "Tell me a joke"
    chat = pairs[1].chat()
    assert chat[0]["role"] == "system" and "def weather.now(" in chat[0]["content"] and chat[1]["role"] == "user"


def test_numbers_below_one_and_exponents_are_writable():
    spec = FunctionSpec.from_tool(RATE)
    grammar = CallGrammar([spec])
    text = answer_text([(spec.name, {"principal": 1.8e-05, "annual_rate": 0.5, "years": 0})], [spec])
    assert literal(1.8e-05) == "0.000018" and "annual_rate=0.5" in text
    state = grammar.feed(grammar.start, text)
    assert state is not None and grammar.done(state)
    assert grammar.calls(state)[0].arguments == {"principal": 1.8e-05, "annual_rate": 0.5, "years": 0}
    assert grammar.feed(grammar.start, "[loans.monthly_payment(principal=0.5, annual_rate=01") is None
    assert grammar.feed(grammar.start, "[loans.monthly_payment(principal=1, annual_rate=1, years=0.") is None


@pytest.mark.parametrize(("line", "message"), [
    ({"request": "x", "functions": [CITY], "calls": [{"name": "weather.now", "arguments": {"town": "Oslo"}}]},
     r"t.jsonl:2: calls: a call breaks its function's schema"),
    ({"request": "x", "functions": [CITY], "calls": [{"name": "weather.now", "arguments": {"city": "Oslo", "unit": "K"}}]},
     r"t.jsonl:2: calls: a call breaks"),
    ({"request": "x", "functions": [CITY], "calls": [{"name": "flights.search", "arguments": {}}]},
     r"t.jsonl:2: calls: 'flights.search' is not among the functions"),
    ({"request": "", "functions": [CITY], "calls": []}, r"t.jsonl:2: request: expected a non-empty string"),
    ({"request": "x", "functions": [], "calls": []}, r"t.jsonl:2: functions: expected a list of 1 to 16"),
    ({"id": "simple_0", "question": [[{"role": "user", "content": "x"}]], "function": [CITY]},
     r"t.jsonl:2: a BFCL test file .* is evaluation data, never training data"),
])
def test_bad_lines_name_file_line_and_field(tmp_path, line, message):
    with pytest.raises(InputError, match=message):
        read_tool_pairs(write(tmp_path / "t.jsonl", [LINES[0], line]))


def test_distractors_add_other_lines_functions_and_keep_the_calls(tmp_path):
    pairs = read_tool_pairs(write(tmp_path / "t.jsonl", LINES)) * 10
    mixed = with_distractors(pairs, share=1.0, most=1, seed=3)
    assert mixed == with_distractors(pairs, share=1.0, most=1, seed=3)
    grew = [(a, b) for a, b in zip(pairs, mixed, strict=True) if len(b.functions) > len(a.functions)]
    assert grew and all(len(b.functions) == len(a.functions) + 1 for a, b in grew)
    for a, b in zip(pairs, mixed, strict=True):
        assert b.calls == a.calls and len({f.name for f in b.functions}) == len(b.functions)
    assert with_distractors(pairs, share=0.0, most=3, seed=3) == pairs


def test_labels_cover_exactly_the_answer(tmp_path):
    from gorilla.models.embedded import embedded_tokenizer
    from gorilla.prompting import chatml

    tok = embedded_tokenizer()
    pairs = read_tool_pairs(write(tmp_path / "t.jsonl", LINES))
    data = tool_dataset(pairs, ["t.jsonl"], chatml, distractors=0.0, most=1, val_fraction=0.0, seed=0)
    row = encode(data.train[0], tok, 2048)
    start = next(i for i, label in enumerate(row["labels"]) if label != IGNORE)
    assert all(label == IGNORE for label in row["labels"][:start])
    assert tok.decode(row["input_ids"][:start]).endswith("<|im_start|>assistant\n")
    assert tok.decode(row["labels"][start:]) == pairs[0].answer + tok.eos_token


def test_tiny_tool_training_and_the_adapter_on_the_short_load_path(tmp_path):
    import torch

    from gorilla.models.llama import Llama
    from gorilla.models.local import LocalBackend

    out = tmp_path / "run"
    data = write(tmp_path / "t.jsonl", LINES * 4)
    r = run_cli("train", "--preset", "tiny", "--lora", "--lora-r", "4", "--tool-file", str(data), "--max-len", "1024",
                "--max-steps", "2", "--merge", "--out", str(out))
    assert r.returncode == 0, r.stderr[-2000:]
    assert "split by example" in r.stdout and "0 dropped" in r.stdout
    adapted, merged = LocalBackend.load(str(out)), LocalBackend.load(str(out / "merged"))
    assert isinstance(adapted.model, Llama) and isinstance(merged.model, Llama)  # both without transformers
    ids = torch.tensor([[1, 5, 9, 200, 31]])
    with torch.no_grad():
        assert torch.allclose(adapted.model(ids).logits, merged.model(ids).logits, atol=1e-4)
    bad = write(tmp_path / "bfcl.jsonl", [{"question": [[{"role": "user", "content": "x"}]], "function": [CITY]}])
    r = run_cli("train", "--preset", "tiny", "--tool-file", str(bad), "--out", str(tmp_path / "no"))
    assert r.returncode == 2 and "evaluation data, never training data" in r.stderr and "Traceback" not in r.stderr


def test_lora_deltas_read_plain_adapters_only(tmp_path):
    from gorilla.models.llama import lora_deltas

    out = tmp_path / "run"
    r = run_cli("train", "--preset", "tiny", "--lora", "--lora-r", "4", "--lora-targets", "q_proj,v_proj",
                "--tool-file", str(write(tmp_path / "t.jsonl", LINES * 4)), "--max-len", "1024", "--max-steps", "1",
                "--out", str(out))
    assert r.returncode == 0, r.stderr[-2000:]
    deltas = lora_deltas(out)
    assert deltas and all(k.endswith(("q_proj.weight", "v_proj.weight")) for k in deltas)
    config = json.loads((out / "adapter_config.json").read_text())
    (out / "adapter_config.json").write_text(json.dumps(config | {"use_dora": True}))
    assert lora_deltas(out) is None  # PEFT merges what we do not read


@pytest.mark.slow
def test_the_embedded_default_answers_tool_calls_with_the_packaged_adapter():
    import torch

    from gorilla.models.embedded import TOOLS_ADAPTER, for_tools
    from gorilla.models.llama import Llama
    from gorilla.pipeline import Gorilla, PipelineConfig

    assert (TOOLS_ADAPTER / "adapter_model.safetensors").stat().st_size < 6_000_000
    assert for_tools("embedded") == str(TOOLS_ADAPTER) and for_tools("smollm2-135m-instruct") == "smollm2-135m-instruct"
    g = Gorilla(PipelineConfig())
    tools, base = g.tool_backend, g.backend
    assert isinstance(tools.model, Llama) and tools is not base and g.tool_backend is tools
    ids = torch.tensor([tools.tokenizer.encode("[weather.now(city=", add_special_tokens=False)])
    with torch.no_grad():
        assert not torch.allclose(tools.model(ids).logits, base.model(ids).logits)


def test_an_earlier_turn_s_tool_calls_reach_the_prompt_as_calls():
    spec = FunctionSpec.from_tool(CITY)
    chat = tool_messages([
        {"role": "user", "content": "Weather in Oslo, in F?"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function", "function": {
            "name": "weather.now", "arguments": json.dumps({"unit": "F", "city": "Oslo"})}}]},
        {"role": "tool", "content": "-3 F, snow", "tool_call_id": "c1"},
        {"role": "user", "content": "And in Rome?"}], [spec])
    assert [m["role"] for m in chat] == ["system", "user", "assistant", "tool", "user"]
    assert chat[2]["content"] == '[weather.now(city="Oslo", unit="F")]' and chat[3]["content"] == "-3 F, snow"
