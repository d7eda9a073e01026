"""The local backend: a causal LM in this process (HF id or dir, GGUF file, PEFT adapter).

A plain llama checkpoint directory (the embedded model is one) runs on gorilla.models.llama and a
tokenizers-only tokenizer, with our own greedy loop: importing transformers' modeling stack would
cost more than the whole answer. Everything else goes through transformers. Greedy, batched,
left-padded generation; CUDA with bf16 when there is a GPU, CPU float32 otherwise. `allowed_calls`
switches on constrained decoding (gorilla.models.constrained).
"""

from __future__ import annotations

import inspect
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gorilla.data.functions import ToolCall
from gorilla.errors import GorillaError
from gorilla.models.base import Backend, Decoding, ToolRequest
from gorilla.models.embedded import CacheUnwritable, ensure_converted, gguf_path, is_embedded
from gorilla.threads import set_torch_threads

log = logging.getLogger("gorilla.models")


def _device_dtype() -> tuple[str, Any]:
    """CUDA bf16 when there is a GPU, else CPU float32; $GORILLA_DEVICE=cpu keeps a GPU machine on the CPU."""
    import torch

    want = os.environ.get("GORILLA_DEVICE", "").lower()
    if want not in ("", "cpu", "cuda"):
        raise GorillaError(f"GORILLA_DEVICE must be cpu or cuda, got {want!r}")
    if want == "cuda" and not torch.cuda.is_available():
        raise GorillaError("GORILLA_DEVICE=cuda but torch sees no CUDA device")
    use_cuda = want == "cuda" or (not want and torch.cuda.is_available())
    return ("cuda", torch.bfloat16) if use_cuda else ("cpu", torch.float32)


def _load_error(spec: str, e: BaseException) -> GorillaError:
    first = (str(e).strip().splitlines() or [type(e).__name__])[0]
    return GorillaError(f"--model {spec}: cannot load: {first}")


def _resolve(spec: str, gguf_file: str | None) -> tuple[str, str | None, dict | None]:
    """(path or HF id, gguf file name, adapter config) for what the user named."""
    if is_embedded(spec):
        return _embedded()
    path = Path(spec).expanduser()
    if path.is_file():
        if path.suffix.lower() != ".gguf":
            raise GorillaError(f"--model {spec}: a model file must be .gguf; otherwise pass a model directory")
        return str(path.parent), path.name, None
    if path.is_dir():
        if (path / "adapter_config.json").is_file():
            try:
                adapter = json.loads((path / "adapter_config.json").read_text())
                base = adapter.get("base_model_name_or_path")
            except (OSError, ValueError, AttributeError) as e:
                raise GorillaError(f"{path / 'adapter_config.json'}: unreadable: {e}") from None
            if not isinstance(base, str) or not base:
                raise GorillaError(f"{path / 'adapter_config.json'}: base_model_name_or_path: missing; "
                                   "set it to the base model's id or directory")
            return str(path), None, adapter
        if gguf_file is None and not (path / "config.json").is_file():
            raise GorillaError(f"--model {spec}: not a model directory (no config.json or adapter_config.json)")
        if gguf_file is None:
            _check_config(spec, path / "config.json")
        return str(path), gguf_file, None
    if spec.startswith((".", "/", "~")) or spec.count("/") > 1:  # a path, not an "org/name" id
        raise GorillaError(f"--model {spec}: no such file or directory")
    return spec, gguf_file, None  # a Hugging Face id (downloads only if the user's HF cache/network allow)


def _embedded() -> tuple[str, str | None, None]:
    """The converted embedded model; with an unwritable cache, its GGUF, which transformers dequantises in memory
    on every load (~15 s more, the same weights) rather than refusing to answer."""
    try:
        return str(ensure_converted()), None, None
    except CacheUnwritable as e:
        src = gguf_path()
        log.warning("gorilla: warning: %s; loading the GGUF in memory instead (slower)", e)
        return str(src.parent), src.name, None


# the sizes every causal LM config states; one of the wrong type makes transformers raise deep in its validators
_INT_FIELDS = ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
               "num_key_value_heads", "max_position_embeddings", "head_dim")


def _check_config(spec: str, path: Path) -> None:
    """A one-line error, before torch is imported, for a config.json that is not a JSON object or gives a size
    that is not a positive integer (a hand-edited `"hidden_size": "x"` used to end in a traceback)."""
    where = f"--model {spec}: cannot load: {path}"
    try:
        cfg = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise GorillaError(f"{where}: {e}") from None
    if not isinstance(cfg, dict):
        raise GorillaError(f"{where}: expected a JSON object, got {type(cfg).__name__}")
    for key in _INT_FIELDS:
        value = cfg.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise GorillaError(f"{where}: {key}: expected a positive integer, got {value!r}")


def _load_light(where: str, device: str, dtype: Any, adapter: str | None = None) -> tuple[Any, Any] | None:
    """(Llama, tokenizer) without transformers' modeling stack (a plain LoRA `adapter` merged in), or None if the
    directory needs transformers."""
    from gorilla.models.llama import load_llama
    from gorilla.models.tokenizer import load_fast_tokenizer

    if not Path(where).is_dir():
        return None
    model = load_llama(where, device, dtype, adapter)
    if model is None:
        return None
    tokenizer = load_fast_tokenizer(where)
    if tokenizer is None:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(where)
    return model, tokenizer


def _load(spec: str, resolved: tuple[str, str | None, dict | None], device: str, dtype: Any,
          light_ok: bool = True) -> tuple[Any, Any]:
    """(model, tokenizer); `light_ok=False` forces transformers (PEFT merges adapters into its modules only)."""
    where, gguf, adapter = resolved
    if light_ok and adapter is None and gguf is None and (light := _load_light(where, device, dtype)) is not None:
        return light
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if adapter is not None:
        base = adapter["base_model_name_or_path"]
        base_where, base_gguf, base_adapter = _resolve(base, None)
        if light_ok and base_gguf is None and base_adapter is None and \
                (light := _load_light(base_where, device, dtype, where)) is not None:
            return light
        base_model, tokenizer = _load(base, (base_where, base_gguf, base_adapter), device, dtype, light_ok=False)
        from peft import PeftModel

        try:
            model = PeftModel.from_pretrained(base_model, where).merge_and_unload()
        except (OSError, ValueError, RuntimeError, KeyError) as e:
            raise _load_error(spec, e) from None
        if (Path(where) / "tokenizer_config.json").is_file():
            tokenizer = AutoTokenizer.from_pretrained(where)
        return model, tokenizer
    from safetensors import SafetensorError

    kwargs = {"gguf_file": gguf} if gguf else {}
    try:
        tokenizer = AutoTokenizer.from_pretrained(where, **kwargs)
        model = AutoModelForCausalLM.from_pretrained(where, dtype=dtype, **kwargs)
    except (OSError, ValueError, TypeError, RuntimeError, KeyError, ImportError, SafetensorError) as e:
        raise _load_error(spec, e) from None
    except Exception as e:  # huggingface_hub's config validators raise their own classes (StrictDataclassError)
        if type(e).__module__.split(".")[0] != "huggingface_hub":
            raise
        raise _load_error(spec, e) from None
    return model.to(device), tokenizer


class LocalBackend(Backend):
    """A causal LM and its tokenizer; `generate` is batched greedy decoding with left padding."""

    steerable = True

    def __init__(self, model: Any, tokenizer: Any, name: str = "local"):
        self.model, self.tokenizer, self.name = model.eval(), tokenizer, name
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        tokenizer.padding_side = "left"

    @classmethod
    def load(cls, spec: str = "embedded", *, gguf_file: str | None = None) -> LocalBackend:
        """Load what `spec` names: "embedded", an HF id, a model dir, a .gguf file, or an adapter dir."""
        resolved = _resolve(str(spec), gguf_file)  # bad paths fail here, before torch is imported
        set_torch_threads()
        device, dtype = _device_dtype()
        model, tokenizer = _load(str(spec), resolved, device, dtype)
        name = "smollm2-135m-instruct" if is_embedded(str(spec)) else Path(str(spec).rstrip("/")).name or str(spec)
        return cls(model, tokenizer, name)

    def _generate(self, prompts: list[str], decoding: Decoding) -> list[str]:
        """Batched decoding; a lone constrained greedy prompt takes the faster one-row path. Each row stops at
        its own budget, so an answer is the same text alone or in any batch."""
        import torch

        allowed_calls, temperature = decoding.allowed_calls, decoding.temperature
        if len(prompts) == 1 and allowed_calls and allowed_calls[0] and temperature <= 0:
            return [self._one_constrained(prompts[0], allowed_calls[0], decoding)]
        batch = self.tokenizer(prompts, return_tensors="pt", padding=True).to(self.model.device)
        prompt_len = batch["input_ids"].shape[1]
        processors, criteria, max_new_tokens = self._controls(decoding, prompt_len, len(prompts))
        with torch.inference_mode():
            if self.light:
                out = self._decode(batch["input_ids"], batch["attention_mask"], max_new_tokens, processors, criteria,
                                   decoding)
            else:
                from transformers import LogitsProcessorList, StoppingCriteriaList

                sampling = {"do_sample": True, "temperature": temperature} if temperature > 0 else {"do_sample": False}
                out = self.model.generate(**batch, max_new_tokens=max_new_tokens,
                                          logits_processor=LogitsProcessorList(processors),
                                          stopping_criteria=StoppingCriteriaList(criteria),
                                          pad_token_id=self.tokenizer.pad_token_id, top_p=None, top_k=None, **sampling)
                decoding.check_cancel()
        texts = self.tokenizer.batch_decode(out[:, prompt_len:], skip_special_tokens=True)
        return [_cut(t, decoding.stop) for t in texts]

    def _controls(self, decoding: Decoding, prompt_len: int, rows: int) -> tuple[list[Any], list[Any], int]:
        """(logits processors, stopping criteria, the batch's token budget): the call constraint, each row's own
        budget, the stop strings, and the cancel flag, in the order both decoding loops apply them."""
        from gorilla.models.constrained import CallConstraint, RowBudgets, StopOnStrings, Withdrawn

        processors: list[Any] = []
        budgets = [decoding.max_new_tokens] * rows
        if decoding.allowed_calls is not None:
            constraint = CallConstraint(self.tokenizer, decoding.allowed_calls, prompt_len, decoding.max_new_tokens)
            budgets = constraint.budgets  # never less than room for a whole call
            processors.append(constraint)
        criteria: list[Any] = [RowBudgets(budgets, prompt_len)]
        if decoding.stop:
            criteria.append(StopOnStrings(self.tokenizer, decoding.stop, prompt_len))
        if decoding.cancel is not None and not self.light:  # our own loop polls it itself, and raises at once
            criteria.append(Withdrawn(decoding.cancel))
        return processors, criteria, max(budgets)

    @property
    def light(self) -> bool:
        """True when the model is gorilla.models.llama's (our own decoding loop), not a transformers model."""
        from gorilla.models.llama import Llama

        return isinstance(self.model, Llama)

    def _decode(self, input_ids: Any, attention_mask: Any, max_new_tokens: int, processors: Sequence[Any],
                criteria: Sequence[Any], decoding: Decoding) -> Any:
        """transformers' generate loop, for our Llama: same processors and stopping criteria, same order
        (scores -> processors -> pick -> pad finished rows -> append -> EOS/criteria), so the same text;
        a withdrawn request stops before the next token."""
        import torch

        temperature = decoding.temperature

        eos = torch.tensor(self.model.config.eos_token_ids, dtype=torch.long, device=input_ids.device)  # none: no EOS stop, as HF
        pad = self.tokenizer.pad_token_id
        unfinished = torch.ones(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        feed, cache = input_ids, None
        for _ in range(max_new_tokens):
            decoding.check_cancel()
            result = self.model(feed, attention_mask=attention_mask, cache=cache, use_cache=True)
            cache = result.cache
            scores = result.logits[:, -1, :].float()
            for process in processors:
                scores = process(input_ids, scores)
            if temperature > 0:
                nxt = torch.multinomial(torch.softmax(scores / temperature, dim=-1), num_samples=1).squeeze(1)
            else:
                nxt = scores.argmax(dim=-1)
            nxt = torch.where(unfinished, nxt, torch.full_like(nxt, pad))
            input_ids = torch.cat([input_ids, nxt[:, None]], dim=-1)
            attention_mask = torch.cat([attention_mask, attention_mask.new_ones(attention_mask.shape[0], 1)], dim=-1)
            feed = nxt[:, None]
            unfinished &= ~torch.isin(nxt, eos)
            for stop in criteria:
                unfinished &= ~stop(input_ids, scores)
            if not unfinished.any():
                break
        return input_ids

    def _forward(self, feed: Any, past: Any) -> tuple[Any, Any]:
        """(logits, cache) of one cached forward pass, for our Llama or a transformers model."""
        if self.light:
            result = self.model(feed, cache=past, use_cache=True)
            return result.logits, result.cache
        # transformers 5 names the KV cache `cache`, 4.x `past_key_values`
        cache_arg = "cache" if "cache" in inspect.signature(self.model.forward).parameters else "past_key_values"
        result = self.model(input_ids=feed, use_cache=True, **{cache_arg: past})
        return result.logits, result[cache_arg]

    def _one_constrained(self, prompt: str, calls: Sequence[str], decoding: Decoding) -> str:
        """Greedy constrained decoding of one prompt, feeding each run of forced tokens (markers, the
        unambiguous rest of a call) in one forward pass: the same text as the batched path, with a
        fraction of the passes, which is what makes an interactive query fast on a CPU."""
        import torch

        from gorilla.models.constrained import CallConstraint

        feed = self.tokenizer(prompt, return_tensors="pt")["input_ids"].to(self.model.device)
        constraint = CallConstraint(self.tokenizer, [calls], feed.shape[1], decoding.max_new_tokens)
        stop = decoding.stop
        out: list[int] = []
        past = None
        with torch.inference_mode():
            while len(out) < constraint.max_new_tokens:
                decoding.check_cancel()
                logits, past = self._forward(feed, past)
                token = constraint.choose(0, logits[0, -1].float(), len(out))
                run = [token]
                constraint.consume(0, token)
                while len(out) + len(run) < constraint.max_new_tokens and (nxt := constraint.forced(0)) is not None:
                    run.append(nxt)
                    constraint.consume(0, nxt)
                out += run
                text = self.tokenizer.decode(out)
                if token == self.tokenizer.eos_token_id or _cut(text, stop) != text:
                    break
                feed = torch.tensor([run], device=self.model.device)
        return _cut(self.tokenizer.decode(out, skip_special_tokens=True), stop)


    def chat_prompt(self, messages: Sequence[dict[str, Any]]) -> str:
        """Chat messages as this model's prompt (prompting.render_chat)."""
        from gorilla.prompting import render_chat

        return render_chat(self.tokenizer, messages)

    def call_tools(self, request: ToolRequest) -> tuple[list[ToolCall], str]:
        """Greedy decoding of the answer under the call grammar (gorilla.models.grammar): the calls are valid by
        construction and read off the grammar's state, not parsed back out of the text."""
        from gorilla.models.grammar import CallGrammar
        from gorilla.prompting import tool_messages

        grammar = CallGrammar(request.functions, allow_none=request.allow_none, parallel=request.parallel,
                              offered=dict(request.offered))
        prompt = self.chat_prompt(tool_messages(request.messages, request.functions))
        text, state = self._decode_grammar(prompt, grammar, request)
        return grammar.calls(state), text

    def _decode_grammar(self, prompt: str, grammar: Any, request: ToolRequest) -> tuple[str, Any]:
        """(text, final grammar state) of one greedy answer, each run of forced tokens (the opening bracket, a
        function's name, argument names, closers) fed in one forward pass, as `_one_constrained` does."""
        import torch

        from gorilla.models.constrained import GrammarConstraint

        prompt_ids = self.tokenizer(prompt, return_tensors="pt")["input_ids"].to(self.model.device)
        constraint = GrammarConstraint(self.tokenizer, [grammar], prompt_ids.shape[1], request.max_new_tokens,
                                       request.policy)
        run = self._forced_run(constraint)
        feed, past, out = torch.cat([prompt_ids, prompt_ids.new_tensor([run])], dim=1), None, list(run)
        with torch.inference_mode():
            while not constraint.done(0):
                request.check_cancel()
                logits, past = self._forward(feed, past)
                token = constraint.choose(0, logits[0, -1].float(), len(out))
                constraint.consume(0, token)
                run = [token, *self._forced_run(constraint)]
                out += run
                feed = prompt_ids.new_tensor([run])
        return self.tokenizer.decode(out, skip_special_tokens=True), constraint.states[0]

    @staticmethod
    def _forced_run(constraint: Any) -> list[int]:
        """The tokens the grammar fixes from here on, consumed."""
        run = []
        while (nxt := constraint.forced(0)) is not None:
            constraint.consume(0, nxt)
            run.append(nxt)
        return run


def _cut(text: str, stop: Sequence[str]) -> str:
    """Text up to the first stop string (generation may run a few tokens past it within a batch)."""
    ends = [i for s in stop if (i := text.find(s)) >= 0]
    return text[: min(ends)] if ends else text
