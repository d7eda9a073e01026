"""Local backend and constrained decoding, on a real (tiny, random-initialised) LLaMA forward pass."""

from __future__ import annotations

import json
import random

import pytest

from gorilla.errors import GorillaError
from gorilla.models.base import Backend
from gorilla.models.constrained import build_trie
from gorilla.models.local import LocalBackend
from gorilla.models.tiny import tiny_llama
from gorilla.prompting import STOP, build_prompt, parse_answer

WORDS = ("classify images of birds detect objects in street photos transcribe speech translate english to french "
         "segment the road estimate depth generate text summarize news answer questions about a table").split()




def random_prompts(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [build_prompt(" ".join(rng.choices(WORDS, k=rng.randint(1, 14)))) for _ in range(n)]


def scorer_candidate(text: str) -> str:
    """The reference scorer's cut (reference/scoring.md): after `api_call`, before `api_provider`, ':'+2 .. last ')'."""
    piece = text.split("api_call", 1)[1].split("api_provider")[0]
    start, end = max(piece.find(":"), 0), piece.rfind(")")
    return piece[start + 2: end + 1]


def call_field(text: str) -> str:
    """The api_call field exactly as written (DB calls may carry trailing junk that parse_answer trims)."""
    return text.split("<<<api_call>>>:", 1)[1].split("<<<api_provider>>>")[0].split("<<")[0].strip()


def test_backend_protocol_and_greedy_is_deterministic(tiny):
    assert isinstance(tiny, Backend)
    prompts = random_prompts(2, seed=1)
    a = tiny.generate(prompts, max_new_tokens=12)
    assert a == tiny.generate(prompts, max_new_tokens=12)
    assert len(a) == 2 and all(isinstance(t, str) and t for t in a)


def test_left_padding_batch_equals_one_by_one(tiny):
    prompts = [build_prompt("hi"), build_prompt(" ".join(WORDS))]  # very different lengths: padding matters
    lengths = [len(tiny.tokenizer(p)["input_ids"]) for p in prompts]
    assert lengths[1] > 3 * lengths[0]
    together = tiny.generate(prompts, max_new_tokens=10)
    alone = [tiny.generate([p], max_new_tokens=10)[0] for p in prompts]
    assert together == alone


def test_stop_strings_cut_the_text(tiny):
    out = tiny.generate(random_prompts(3, seed=2), max_new_tokens=30, stop=("e",))
    assert all("e" not in t for t in out)


def test_constrained_call_is_always_on_the_trie(tiny, data_dir):
    """Many random prompts against the whole Hugging Face API database: the call is always one of them."""
    calls = [json.loads(line)["api_call"] for line in open(data_dir / "api" / "huggingface_api.jsonl") if line.strip()]
    prompts = random_prompts(48, seed=3)
    outs = tiny.generate(prompts, max_new_tokens=8, stop=STOP, allowed_calls=[calls] * len(prompts))
    got = [call_field(o) for o in outs]
    assert all(g in calls for g in got), [g for g in got if g not in calls]
    assert all(scorer_candidate(o) == g[: g.rfind(")") + 1] for o, g in zip(outs, got, strict=True))
    assert len(set(got)) > 3  # the random model really chooses, it is not stuck on one call


def test_constrained_per_row_candidates_and_prefix_calls(tiny):
    """Each row gets its own candidates; a call that is a prefix of another may still be chosen whole."""
    pools = [["pipeline('text-classification')", "pipeline('text-classification').to('cpu')"],
             ["hub.load('https://tfhub.dev/google/universal-sentence-encoder/4')"],
             ["torch.hub.load(repo_or_dir='pytorch/vision', model='resnet18', pretrained=True)",
              "torch.hub.load(repo_or_dir='pytorch/vision', model='resnet50', pretrained=True)"]]
    rng = random.Random(4)
    prompts = random_prompts(24, seed=5)
    allowed = [rng.choice(pools) for _ in prompts]
    outs = tiny.generate(prompts, max_new_tokens=5, stop=STOP, allowed_calls=allowed)
    for out, pool in zip(outs, allowed, strict=True):
        assert call_field(out) in pool and parse_answer(out).api_call in pool, out
        assert out.count("<<<api_call>>>") >= 1


def test_trie_tokenises_calls_as_written_after_the_marker(tiny):
    tok = tiny.tokenizer
    call = "torch.hub.load(repo_or_dir='pytorch/vision', model='resnet18', pretrained=True)"
    in_context = tok.encode(f"<<<api_call>>>: {call}", add_special_tokens=False)
    trie = build_trie(tok, [call, call])
    node, path = trie, []
    while node.children:  # one call (given twice): a single path from the root to a terminal
        (token, node), = node.children.items()
        path.append(token)
    assert node.terminal and trie.depth == len(path)
    assert in_context[-len(path):] == path


def test_unreadable_model_path_is_one_line_error(tmp_path):
    for spec, why in ((tmp_path / "missing" / "model", "no such file"), (tmp_path, "not a model directory"),
                      (tmp_path / "weights.bin", "must be .gguf")):
        if spec.name == "weights.bin":
            spec.write_bytes(b"junk")
        with pytest.raises(GorillaError, match=why):
            LocalBackend.load(str(spec))
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(GorillaError, match="cannot load"):
        LocalBackend.load(str(tmp_path))


def test_peft_adapter_dir_loads_on_its_base(tiny, tmp_path, monkeypatch):
    """An adapter directory names its base in adapter_config.json; the backend loads both and merges."""
    import torch

    monkeypatch.setenv("GORILLA_DEVICE", "cpu")  # float32 logits compared with the CPU reference below
    from peft import LoraConfig, get_peft_model

    base_dir, adapter_dir = tmp_path / "base", tmp_path / "adapter"
    tiny.model.save_pretrained(base_dir)
    tiny.tokenizer.save_pretrained(base_dir)
    model, _ = tiny_llama(initializer_range=0.2)
    model.name_or_path = str(base_dir)  # as from_pretrained(base_dir) would set it; PEFT records it
    peft = get_peft_model(model, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    peft.save_pretrained(adapter_dir)
    assert json.loads((adapter_dir / "adapter_config.json").read_text())["base_model_name_or_path"] == str(base_dir)
    loaded = LocalBackend.load(str(adapter_dir))
    ids = tiny.tokenizer(["###Instruction: hi"], return_tensors="pt")
    with torch.inference_mode():
        want = peft(**ids).logits
        got = loaded.model(**ids).logits
        plain = tiny.model(**ids).logits
    assert torch.allclose(got, want, atol=1e-4) and not torch.allclose(got, plain, atol=1e-4)


def test_one_prompt_fast_path_writes_what_the_batch_writes(tiny, data_dir):
    """A single constrained prompt feeds forced runs in one pass each; the text must not change."""
    calls = [json.loads(line)["api_call"] for line in open(data_dir / "api" / "torchhub_api.jsonl") if line.strip()]
    rng = random.Random(6)
    for prompt in random_prompts(6, seed=7):
        pool = rng.sample(calls, 3)
        alone = tiny.generate([prompt], max_new_tokens=64, stop=STOP, allowed_calls=[pool])[0]
        batched = tiny.generate([prompt, build_prompt("x")], max_new_tokens=64, stop=STOP, allowed_calls=[pool, pool])
        assert alone == batched[0] and call_field(alone) in pool


# --- the transformers-free path: gorilla.models.llama + gorilla.models.tokenizer + our decoding loop ---


@pytest.fixture(scope="module")
def tiny_pair(tiny, tmp_path_factory):
    """(transformers backend, light backend) over the same tiny checkpoint saved to a directory, both on the CPU
    in float32 (the tiny reference model is built there), so logits compare within 1e-4 on a GPU machine too."""
    from gorilla.models.llama import Llama

    path = tmp_path_factory.mktemp("tiny-light")
    tiny.model.save_pretrained(path)
    tiny.tokenizer.save_pretrained(path)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GORILLA_DEVICE", "cpu")
        light = LocalBackend.load(str(path))
    assert isinstance(light.model, Llama) and light.light and not tiny.light
    return tiny, light, path


def test_light_llama_logits_match_transformers(tiny_pair):
    """Left-padded batch in one pass, then cached one-token steps: logits of real tokens within 1e-4."""
    import torch

    hf, light, _ = tiny_pair
    batch = hf.tokenizer([build_prompt("hi"), build_prompt(" ".join(WORDS))], return_tensors="pt", padding=True)
    ids, mask = batch["input_ids"], batch["attention_mask"]
    with torch.inference_mode():
        want = hf.model(input_ids=ids, attention_mask=mask).logits
        got = light.model(ids, attention_mask=mask).logits
        real = mask.bool()
        assert (got - want)[real].abs().max() < 1e-4
        # the same sequence fed in pieces through the KV cache gives the same last-token logits
        out = light.model(ids[:, :-3], attention_mask=mask[:, :-3], use_cache=True)
        for i in range(3, 0, -1):
            end = ids.shape[1] - i + 1
            out = light.model(ids[:, end - 1:end], attention_mask=mask[:, :end], cache=out.cache, use_cache=True)
            assert (out.logits[:, -1] - want[:, end - 1]).abs().max() < 1e-4


def test_light_backend_writes_what_transformers_writes(tiny_pair, data_dir):
    """Free, stop strings, constrained batched and the single-prompt fast path: the same texts both ways."""
    hf, light, _ = tiny_pair
    prompts = random_prompts(6, seed=11)
    for kw in ({"max_new_tokens": 20}, {"max_new_tokens": 30, "stop": STOP}, {"max_new_tokens": 30, "stop": ("e",)}):
        assert light.generate(prompts, **kw) == hf.generate(prompts, **kw)
        assert light.generate(prompts[:1], **kw) == hf.generate(prompts[:1], **kw)
    calls = [json.loads(line)["api_call"] for line in open(data_dir / "api" / "huggingface_api.jsonl") if line.strip()]
    rng = random.Random(12)
    pools = [rng.sample(calls, 4) for _ in prompts]
    want = hf.generate(prompts, max_new_tokens=24, stop=STOP, allowed_calls=pools)
    assert light.generate(prompts, max_new_tokens=24, stop=STOP, allowed_calls=pools) == want
    assert all(call_field(w) in pool for w, pool in zip(want, pools, strict=True))
    for prompt, pool in zip(prompts[:3], pools, strict=False):  # one prompt: the forced-run fast path
        assert light.generate([prompt], max_new_tokens=24, stop=STOP, allowed_calls=[pool]) == \
            hf.generate([prompt], max_new_tokens=24, stop=STOP, allowed_calls=[pool])


def test_fast_tokenizer_matches_autotokenizer(tiny_pair):
    import torch

    hf, light, _ = tiny_pair
    a, b = light.tokenizer, hf.tokenizer
    texts = [build_prompt("classify bird species in my photos"), "  two  spaces\n\n<<<api_call>>>: x", "ünïcödé 日本語",
             "<|im_end|> a <|im_start|>", ""]
    for text in texts:
        for special in (True, False):
            assert a.encode(text, add_special_tokens=special) == b.encode(text, add_special_tokens=special)
    assert len(a) == len(b) and (a.eos_token_id, a.pad_token_id, a.bos_token_id) == (b.eos_token_id, b.pad_token_id,
                                                                                          b.bos_token_id)
    rng = random.Random(13)
    for _ in range(200):
        ids = [rng.randrange(len(b)) for _ in range(rng.randint(1, 12))]
        for skip in (True, False):
            assert a.decode(ids, skip_special_tokens=skip) == b.decode(ids, skip_special_tokens=skip)
    assert a.batch_decode([[i] for i in range(len(b))]) == b.batch_decode([[i] for i in range(len(b))])
    x, y = a(texts, return_tensors="pt", padding=True), b(texts, return_tensors="pt", padding=True)
    assert torch.equal(x["input_ids"], y["input_ids"]) and torch.equal(x["attention_mask"], y["attention_mask"])
    assert a(texts, add_special_tokens=False)["input_ids"] == b(texts, add_special_tokens=False)["input_ids"]


@pytest.mark.parametrize("change", ["rope_scaling", "model_type", "attention_bias", "quantization_config", "adapter",
                                    "gguf", "extra_tensor", "rope_type"])
def test_unsupported_checkpoints_fall_back_to_transformers(tiny_pair, tmp_path, change):
    """load_llama refuses what it does not implement exactly; the backend then loads it with transformers."""
    import shutil

    from safetensors.torch import load_file, save_file

    from gorilla.models.llama import load_llama

    _, _, src = tiny_pair
    path = tmp_path / "model"
    shutil.copytree(src, path)
    cfg = json.loads((path / "config.json").read_text())
    if change == "rope_scaling":
        cfg["rope_scaling"] = {"rope_type": "linear", "factor": 2.0}
    elif change == "rope_type":
        cfg["rope_parameters"] = {"rope_type": "linear", "factor": 2.0, "rope_theta": 10000.0}
    elif change == "model_type":
        cfg["model_type"] = "mistral"
    elif change == "attention_bias":
        cfg["attention_bias"] = True
    elif change == "quantization_config":
        cfg["quantization_config"] = {"quant_method": "bitsandbytes"}
    elif change == "adapter":
        (path / "adapter_config.json").write_text("{}")
    elif change == "gguf":
        (path / "model.Q4.gguf").write_bytes(b"")
    elif change == "extra_tensor":
        weights = load_file(path / "model.safetensors")
        weights["model.layers.0.self_attn.q_proj.bias"] = weights["model.norm.weight"].clone()
        save_file(weights, path / "model.safetensors", metadata={"format": "pt"})
    (path / "config.json").write_text(json.dumps(cfg))
    assert load_llama(path) is None
    if change == "rope_scaling":  # the fallback really loads and runs it
        backend = LocalBackend.load(str(path))
        assert not backend.light and backend.generate([build_prompt("hi")], max_new_tokens=3)


def test_embedded_model_light_path_matches_transformers(one_thread):
    """The real embedded SmolLM2 on real prompts: our loop writes the transformers text, constrained and free."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from gorilla.models.embedded import _MARK, converted_dir

    path = converted_dir()
    if not (path / _MARK).is_file():
        pytest.skip("the embedded model has not been converted in this cache")
    light = LocalBackend.load("embedded")
    assert light.light
    hf = LocalBackend(AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32), AutoTokenizer.from_pretrained(path))
    prompts = [build_prompt(q) for q in ("classify bird species in my photos", "transcribe my podcast to text",
                                         "translate english news to french")]
    pool = ["torch.hub.load(repo_or_dir='pytorch/vision', model='resnet50', pretrained=True)",
            "pipeline('automatic-speech-recognition', model='openai/whisper-small')",
            "pipeline('translation_en_to_fr', model='t5-base')"]
    ids = light.tokenizer(prompts[:1], return_tensors="pt")
    with torch.inference_mode():
        assert (light.model(ids["input_ids"]).logits - hf.model(**ids).logits).abs().max() < 2e-4
    for prompt in prompts:
        assert light.generate([prompt], max_new_tokens=40, stop=STOP, allowed_calls=[pool]) == \
            hf.generate([prompt], max_new_tokens=40, stop=STOP, allowed_calls=[pool])
    assert light.generate(prompts[:2], max_new_tokens=16, stop=STOP) == hf.generate(prompts[:2], max_new_tokens=16, stop=STOP)


def test_query_does_not_import_the_transformers_modeling_stack(tiny_pair, data_dir):
    """`gorilla query` on a plain llama dir and the packaged MiniLM imports neither transformers nor
    torch._dynamo/sympy: they cost more than the whole answer on a CPU."""
    import os
    import subprocess
    import sys

    _, _, path = tiny_pair
    script = (
        "import sys\nfrom gorilla.cli.main import main\n"
        "from gorilla.retrieval.embedder import load_embedder\n"
        "load_embedder('all-MiniLM-L6-v2').encode_query('classify birds')\n"
        f"try:\n    main(['query', 'detect cars in a street photo', '--hub', 'torchhub', '--model', {str(path)!r},\n"
        f"          '--retriever', 'bm25', '--data-dir', {str(data_dir)!r}, '--format', 'json'])\n"
        "except SystemExit as e:\n    assert not e.code, e.code\n"
        "bad = [m for m in ('transformers', 'sentence_transformers', 'torch._dynamo', 'sympy') if m in sys.modules]\n"
        "print('FORBIDDEN', bad)\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600,
                         env={**os.environ, "GORILLA_THREADS": "1"})
    assert out.returncode == 0, out.stderr
    assert '"api_call"' in out.stdout and "FORBIDDEN []" in out.stdout, out.stdout + out.stderr


def test_corrupt_safetensors_falls_back_to_the_one_line_error(tiny_pair, tmp_path):
    import shutil

    from gorilla.models.llama import load_llama

    path = tmp_path / "model"
    shutil.copytree(tiny_pair[2], path)
    (path / "model.safetensors").write_bytes(b"junk" * 10)
    assert load_llama(path) is None
    with pytest.raises(GorillaError, match="cannot load"):
        LocalBackend.load(str(path))


def test_device_choice_is_validated(monkeypatch):
    from gorilla.models.local import _device_dtype

    monkeypatch.setenv("GORILLA_DEVICE", "cpu")
    assert _device_dtype()[0] == "cpu"
    monkeypatch.setenv("GORILLA_DEVICE", "tpu")
    with pytest.raises(GorillaError, match="GORILLA_DEVICE must be cpu or cuda"):
        _device_dtype()


def test_a_number_at_its_digit_limit_ends_instead_of_taking_a_dot():
    """A float argument with MAX_DIGITS digits used to accept a '.', after which no character fitted: the
    decoder's completion then failed (found by the tiny model through gorilla serve's tools)."""
    from gorilla.data.functions import FunctionSpec
    from gorilla.models.grammar import MAX_DIGITS, CallGrammar

    spec = FunctionSpec.from_tool({"name": "pay", "parameters": {"properties": {"amount": {"type": "float"}},
                                                                 "required": ["amount"]}})
    grammar = CallGrammar([spec])
    state = grammar.feed(grammar.start, "[pay(amount=" + "8" * MAX_DIGITS)
    assert "." not in (grammar.next_chars(state) or ())
    assert grammar.completion(state) == ")]"
