"""Function calling: the call grammar's state machine, FunctionSpec, the tiny random LLaMA decoding under the
grammar (both decoding paths), tool_choice, the mention rule for optional arguments, and the BFCL runner."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import run_cli, schema_problem

from gorilla.data.functions import FunctionSpec, ToolCall
from gorilla.errors import GorillaError
from gorilla.models.grammar import CallGrammar

AREA = FunctionSpec.from_tool({"name": "geo.area", "description": "Area of a shape.", "parameters": {
    "type": "dict", "required": ["base", "height"], "properties": {
        "base": {"type": "integer"}, "height": {"type": "float"},
        "unit": {"type": "string", "enum": ["cm", "m"]}, "tags": {"type": "tuple", "items": {"type": "string"}},
        "opts": {"type": "dict", "required": ["exact"], "properties": {"exact": {"type": "boolean"}, "note": {"type": "any"}}},
        "extra": {"type": "dict"}}}})
USER = FunctionSpec.from_tool({"type": "function", "function": {"name": "create_user", "parameters": {
    "type": "object", "required": ["profile", "roles"], "properties": {
        "profile": {"type": "object", "required": ["name", "age"], "properties": {
            "name": {"type": "string"}, "age": {"type": "integer"},
            "address": {"type": "object", "required": ["city"], "properties": {"city": {"type": "string"}}}}},
        "roles": {"type": "array", "items": {"type": "string", "enum": ["admin", "viewer"]}},
        "scores": {"type": "array", "items": {"type": "number"}}, "active": {"type": "boolean"}}}}})
PING = FunctionSpec.from_tool({"name": "ping", "description": "Ping a host.",
                               "parameters": {"type": "dict", "properties": {"host": {"type": "string"}}, "required": ["host"]}})


def feed(grammar: CallGrammar, text: str) -> Any:
    return grammar.feed(grammar.start, text)


# --- FunctionSpec -----------------------------------------------------------------------------

def test_from_tool_reads_every_spelling_and_normalises_bfcl_types():
    assert AREA.parameters["type"] == "object" and AREA.required == ["base", "height"]
    props = AREA.properties
    assert props["height"]["type"] == "number" and props["tags"]["type"] == "array"
    assert props["opts"]["type"] == "object" and "type" not in props["opts"]["properties"]["note"]  # any: no type
    assert USER.name == "create_user" and USER.properties["profile"]["properties"]["age"]["type"] == "integer"
    bare = FunctionSpec.from_tool({"name": "f"})
    assert bare.parameters == {"type": "object", "properties": {}, "required": []}
    assert ToolCall("f", {"a": 1}).as_dict() == {"name": "f", "arguments": {"a": 1}}


@pytest.mark.parametrize("doc, message", [
    ([], "expected an object"), ({"description": "x"}, "name"), ({"name": "f", "parameters": []}, "parameters"),
    ({"name": "f", "parameters": {"type": 3}}, "type"), ({"type": "function", "function": "f"}, "function"),
])
def test_from_tool_refuses_what_is_not_a_function_doc(doc, message):
    with pytest.raises(GorillaError, match=message):
        FunctionSpec.from_tool(doc)


# --- the grammar ------------------------------------------------------------------------------

def test_grammar_accepts_calls_of_every_type_and_builds_their_values():
    g = CallGrammar([AREA, PING], parallel=True)
    text = ('[geo.area(base=10, height=-2.5, unit="m", tags=["a", "b c"], opts={"exact": True, "note": [1, "x", None, '
            '{"k": 2.0}]}, extra={"z": -3}), ping(host="example.org")]')
    state = feed(g, text)
    assert g.done(state)
    assert g.calls(state) == [
        ToolCall("geo.area", {"base": 10, "height": -2.5, "unit": "m", "tags": ["a", "b c"],
                              "opts": {"exact": True, "note": [1, "x", None, {"k": 2.0}]}, "extra": {"z": -3}}),
        ToolCall("ping", {"host": "example.org"})]


@pytest.mark.parametrize("text", [
    "[geo.area(height=5, base=1)]",  # out of the schema's order: base is required first
    "[geo.area(base=1)]",  # a required argument missing
    "[geo.area(base=1, height=2, color=3)]",  # an unknown argument
    "[geo.area(base=1.5, height=2)]",  # a number for an integer
    "[geo.area(base=01, height=2)]",  # a leading zero
    '[geo.area(base=1, height="2")]',  # a string for a number
    '[geo.area(base=1, height=2, unit="km")]',  # outside the enum
    '[geo.area(base=1, height=2, opts={"note": 1})]',  # the nested object's required key missing
    '[geo.area(base=1, height=2, tags=[1])]',  # an item of the wrong type
    '[geo.area(base=1, height=2, unit="m\\n")]',  # a backslash in a string
    "[nope(base=1)]",  # not one of the functions
    "[geo.area(base=1,height=2)]",  # spacing is canonical
    "[geo.area(base=1, height=2)] and more",  # nothing after the list
    "[]",  # no call is not allowed here
])
def test_grammar_refuses_what_the_schema_does_not_allow(text):
    assert feed(CallGrammar([AREA]), text) is None


def test_no_call_and_the_number_of_calls_follow_the_options():
    assert CallGrammar([PING], allow_none=True).calls(feed(CallGrammar([PING], allow_none=True), "[]")) == []
    one = CallGrammar([PING])
    assert feed(one, '[ping(host="a"), ping(host="b")]') is None
    two = CallGrammar([PING], parallel=True, max_calls=2)
    assert two.done(feed(two, '[ping(host="a"), ping(host="b")]'))
    assert feed(two, '[ping(host="a"), ping(host="b"), ping(host="c")]') is None


def test_offered_limits_the_optional_arguments():
    g = CallGrammar([AREA], offered={"geo.area": frozenset({"unit"})})
    assert g.done(feed(g, '[geo.area(base=1, height=2, unit="cm")]'))
    assert feed(g, '[geo.area(base=1, height=2, tags=["a"])]') is None


def test_next_chars_forced_text_and_completion():
    g = CallGrammar([AREA])
    assert g.forced(g.start) == "[geo.area(base="
    state = feed(g, "[geo.area(base=1")
    assert g.next_chars(state) == frozenset("0123456789,")  # more digits, or the number ends
    assert g.next_chars(feed(g, '[geo.area(base=1, height=2, unit="')) == frozenset("cm")  # an enum: a trie
    assert g.next_chars(feed(g, '[geo.area(base=1, height=2, tags=["')) is None  # free text inside strings
    for prefix in ["[geo.area(base=1", '[geo.area(base=1, height=2, unit="c', "[geo.area(base=1, height=2.",
                   '[geo.area(base=1, height=2, opts={"exact": T', '[geo.area(base=1, height=2, tags=["x',
                   '[geo.area(base=1, height=2, extra={"k": {"j": [']:
        state = feed(g, prefix)
        assert state is not None, prefix
        done = g.feed(state, g.completion(state))
        assert done is not None and g.done(done), prefix
    assert g.completion(feed(g, "[")) == "geo.area(base=0, height=0)]"
    nested = CallGrammar([USER])
    state = feed(nested, "[create_user(profile={")
    assert nested.completion(state) == '"name": "", "age": 0}, roles=[])]'



def test_numeric_enums_that_prefix_each_other():
    f = FunctionSpec.from_tool({"name": "f", "parameters": {"type": "dict", "required": ["n"], "properties": {
        "n": {"type": "integer", "enum": [1, 10]}}}})
    g = CallGrammar([f])
    assert g.calls(feed(g, "[f(n=1)]")) == [ToolCall("f", {"n": 1})]
    assert g.calls(feed(g, "[f(n=10)]")) == [ToolCall("f", {"n": 10})]
    assert feed(g, "[f(n=100)]") is None


# --- a real (tiny, random) model under the grammar ----------------------------------------------

@pytest.mark.parametrize("seed", [0, 1, 2])
def test_tiny_model_always_writes_schema_valid_calls(seed):
    """A random model has no idea what it writes: whatever it prefers, the grammar makes it a valid call."""
    from gorilla.models.base import ToolRequest
    from gorilla.models.local import LocalBackend
    from gorilla.models.tiny import tiny_llama

    model, tok = tiny_llama(initializer_range=0.2, seed=seed)
    backend = LocalBackend(model, tok, "tiny")
    functions = (AREA, USER, PING)
    for budget in (40, 160):  # a short budget forces the completion
        calls, text = backend.call_tools(ToolRequest(({"role": "user", "content": "make a user and an area"},),
                                                     functions, allow_none=False, parallel=True, max_new_tokens=budget))
        assert calls, text
        specs = {f.name: f for f in functions}
        for call in calls:
            assert schema_problem(call.arguments, specs[call.name].parameters) is None, text
        assert CallGrammar(functions, parallel=True).calls(feed(CallGrammar(functions, parallel=True), text)) == calls


def test_light_and_transformers_paths_write_the_same_answer(tiny, tmp_path):
    """Our pure-torch Llama with its KV cache, transformers' model in our loop, and transformers' generate with the
    GrammarConstraint as its logits processor: one answer."""
    import torch
    from transformers import LogitsProcessorList

    from gorilla.models.base import ToolRequest
    from gorilla.models.constrained import GrammarConstraint
    from gorilla.models.grammar import CallGrammar
    from gorilla.models.local import LocalBackend
    from gorilla.prompting import tool_messages

    tiny.model.save_pretrained(tmp_path)
    tiny.tokenizer.save_pretrained(tmp_path)
    light = LocalBackend.load(str(tmp_path))
    assert light.light
    request = ToolRequest(({"role": "user", "content": "area of 3 by 4"},), (AREA, PING), allow_none=False,
                          parallel=True, max_new_tokens=60)
    ours = light.call_tools(request)
    theirs = tiny.call_tools(request)
    assert ours == theirs
    prompt = tiny.chat_prompt(tool_messages(request.messages, request.functions))
    ids = tiny.tokenizer(prompt, return_tensors="pt")["input_ids"]
    grammar = CallGrammar(request.functions, parallel=True)
    constraint = GrammarConstraint(tiny.tokenizer, [grammar], ids.shape[1], 60)
    with torch.inference_mode():
        out = tiny.model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=60, do_sample=False,
                                  logits_processor=LogitsProcessorList([constraint]),
                                  pad_token_id=tiny.tokenizer.pad_token_id, eos_token_id=tiny.tokenizer.eos_token_id)
    text = tiny.tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True)
    assert text == ours[1]


# --- tool_choice and policies ---------------------------------------------------------------------

def test_tool_choice_semantics(tiny):
    from gorilla.toolcalls import ToolSettings, call_tools

    plain = ToolSettings(relevance=False)
    msgs = [{"role": "user", "content": "ping example.org"}]
    assert call_tools(tiny, msgs, [AREA, PING], "none", settings=plain).calls == []
    named = call_tools(tiny, msgs, [AREA, PING], {"type": "function", "function": {"name": "ping"}}, settings=plain)
    assert named.calls and {c.name for c in named.calls} == {"ping"}
    required = call_tools(tiny, msgs, [PING], "required", parallel=False, settings=plain)
    assert len(required.calls) == 1
    for bad, message in [("sometimes", "tool_choice"), ({"type": "function", "function": {"name": "nope"}},
                                                   "no tool named 'nope'")]:
        with pytest.raises(GorillaError, match=message):
            call_tools(tiny, msgs, [PING], bad, settings=plain)


def test_optional_arguments_offered_when_the_request_mentions_them():
    from gorilla.toolcalls import offered_parameters

    f = FunctionSpec.from_tool({"name": "route", "parameters": {"type": "dict", "required": ["start"], "properties": {
        "start": {"type": "string"}, "avoid_tolls": {"type": "boolean"}, "unit": {"type": "string"},
        "maxStops": {"type": "integer"}, "mode": {"type": "string", "enum": ["driving", "walking"]}}}})
    assert offered_parameters("From Paris without toll roads, in units", [f]) == {"route": {"avoid_tolls", "unit"}}
    assert offered_parameters("From Paris, walking", [f]) == {"route": {"mode"}}
    assert offered_parameters("From Paris with two stops at most", [f]) == {"route": {"maxStops"}}


def test_openai_backend_without_tool_support_says_so():
    from gorilla.models.base import Backend, ToolRequest

    class Echo(Backend):
        name = "echo"

        def _generate(self, prompts, decoding):
            return prompts

    with pytest.raises(GorillaError, match="cannot call tools"):
        Echo().call_tools(ToolRequest((), (PING,)))


# --- the BFCL runner --------------------------------------------------------------------------------

def test_bfcl_runner_resumes_and_scores(tmp_path, tiny_dir):
    cases = tmp_path / "BFCL_v4_simple_python.json"
    rows = [{"id": f"simple_python_{i}", "question": [[{"role": "user", "content": f"ping host{i}.org"}]],
             "function": [{"name": "ping", "description": "Ping a host.", "parameters": {
                 "type": "dict", "properties": {"host": {"type": "string"}}, "required": ["host"]}}]} for i in range(3)]
    cases.write_text("".join(json.dumps(r) + "\n" for r in rows))
    answers = tmp_path / "possible_answer"
    answers.mkdir()
    (answers / cases.name).write_text("".join(json.dumps({"id": r["id"], "ground_truth": [{"ping": {"host": ["x"]}}]})
                                              + "\n" for r in rows))
    out = tmp_path / "results.jsonl"
    out.write_text(json.dumps({"id": "simple_python_0", "calls": [], "text": "[]", "seconds": 0}) + "\n{\"id\": \"simp")
    result = run_cli("eval", "bfcl", str(cases), "--out", str(out), "--model", tiny_dir, "--format", "json",
                     "--setting", "decline=false")  # a random tiny model: never let it decline
    assert result.returncode == 0, result.stderr
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [x["id"] for x in lines] == ["simple_python_0", "simple_python_1", "simple_python_2"]  # cut line dropped
    assert all(x["calls"] and x["calls"][0]["name"] == "ping" and x["seconds"] >= 0 for x in lines[1:])
    assert json.loads(result.stdout)["n"] == 3 and "2 answered, 1 already" in result.stderr
    both = run_cli("eval", "bfcl", str(cases))
    assert both.returncode == 2 and "--out" in both.stderr


# --- the decoder's policies (no model needed: the embedded tokenizer and the grammar) ----------------

FACT = FunctionSpec.from_tool({"name": "fact", "parameters": {"type": "dict", "required": ["n"], "properties": {
    "n": {"type": "integer"}}}})
GCD = FunctionSpec.from_tool({"name": "gcd", "parameters": {"type": "dict", "required": ["a", "b"], "properties": {
    "a": {"type": "integer"}, "b": {"type": "integer"}}}})


def biases(request: str, functions, prefix: str, pieces: list[str], **kw) -> dict[str, float]:
    """The policy's bias for each candidate text after `prefix` (each piece one token of the embedded vocabulary)."""
    import torch

    from gorilla.models.constrained import CallPolicy, texts_for
    from gorilla.models.embedded import embedded_tokenizer
    from gorilla.toolcalls import request_spans

    tok = embedded_tokenizer()
    texts = texts_for(tok)
    grammar = CallGrammar(functions, parallel=True)
    ids = []
    for piece in pieces:
        (i,) = tok.encode(piece, add_special_tokens=False)
        ids.append(i)
    policy = CallPolicy(request=request, spans=request_spans(request), **{"more_bias": 8.0, "copy_bias": 4.0, **kw})
    out = policy(grammar, feed(grammar, prefix), torch.tensor(ids), texts)
    return dict(zip(pieces, out.tolist(), strict=True))


def test_request_spans_are_the_values_a_request_names():
    from gorilla.toolcalls import request_spans

    assert request_spans("Find concerts by Adele in New York City and by Drake in Toronto.") == (
        "Adele", "New York City", "Drake", "Toronto")
    assert request_spans("Check whether 97, 221 and -3.5 are prime; say 'hello world'.") == ("97", "221", "-3.5",
                                                                                              "hello world")


def test_another_call_while_the_request_values_wait_and_not_after():
    request = "What is the factorial of 5, 10 and 15?"
    after_one = biases(request, [FACT], "[fact(n=5", ["),", ")]"])
    assert after_one["),"] > 0 > after_one[")]"]  # 10 and 15 wait: go on (tokens that close the call count too)
    after_all = biases(request, [FACT], "[fact(n=5), fact(n=10), fact(n=15", ["),", ")]"])
    assert after_all[")]"] > 0 > after_all["),"]
    # a name in capitals that no argument takes is no reason for another call when the call took numbers
    gcd = biases("Find the GCD of 36 and 48.", [GCD], "[gcd(a=36, b=48", ["),", ")]"])
    assert gcd[")]"] > 0 > gcd["),"]
    # a waiting value goes into an offered optional argument before it makes another call
    power = FunctionSpec.from_tool({"name": "power", "parameters": {"type": "dict", "required": ["base"], "properties": {
        "base": {"type": "integer"}, "exponent": {"type": "integer"}}}})
    optional = biases("2 to the power of 8", [power], "[power(base=2", [",", "),", ")]"])
    assert optional[","] > optional["),"] and optional[","] > optional[")]"]


def test_copy_bias_prefers_the_request_and_its_unused_values():
    city = FunctionSpec.from_tool({"name": "weather", "parameters": {"type": "dict", "required": ["city"],
                                                                     "properties": {"city": {"type": "string"}}}})
    first = biases("Weather in Paris and in Lyon?", [city], '[weather(city="', ["Paris", "Ly", "London"])
    assert first["Paris"] == first["Ly"] == 8.0 and first["London"] == 0.0  # twice 4: on the way to unused values
    second = biases("Weather in Paris and in Lyon?", [city], '[weather(city="Paris"), weather(city="', ["Paris", "Ly"])
    assert second["Ly"] > second["Paris"] > 0


def test_name_scores_steer_the_first_call_only():
    scores = {"fact": 0.0, "gcd": -5.0}
    first = biases("gcd of 4 and 6", [FACT, GCD], "[", ["f", "g"], name_bias=scores)
    assert first == {"f": 0.0, "g": -5.0}
    later = biases("gcd of 4 and 6", [FACT, GCD], "[fact(n=4), ", ["f", "g"], name_bias=scores)
    assert later["f"] == later["g"]


@pytest.mark.parametrize("seed", range(4))
def test_random_walks_never_reach_a_state_without_a_completion(seed):
    """Whatever characters a model picks among the allowed ones, the answer can always be finished (a number with
    MAX_DIGITS digits used to accept a point that no digit could follow)."""
    import random

    rnd = random.Random(seed)
    grammar = CallGrammar([AREA, USER, PING], parallel=True)
    for _ in range(60):
        state = grammar.start
        for _ in range(400):
            if grammar.done(state):
                break
            rest = grammar.completion(state)
            assert grammar.done(grammar.feed(state, rest))
            chars = grammar.next_chars(state)
            pool = sorted(chars) if chars is not None else list('ab "1')
            state = grammar.step(state, rnd.choice(pool)) or state
    long_number = feed(grammar, "[geo.area(base=1, height=" + "9" * 16)
    assert "." not in grammar.next_chars(long_number)


def test_settings_override_by_name_with_typed_values():
    from gorilla.toolcalls import ToolSettings

    s = ToolSettings().override(["more_bias=8", "copy_bias=4", "decline=true", "max_new_tokens=64"])
    assert (s.more_bias, s.copy_bias, s.decline, s.max_new_tokens) == (8.0, 4.0, True, 64)
    assert isinstance(s.more_bias, float) and ToolSettings().override([]) == ToolSettings()
    for bad in ("bias=1", "more_bias=true", "decline=1", "more_bias", "max_new_tokens=1.5", "none_below=abc"):
        with pytest.raises(GorillaError, match=r"--setting .*expected NAME=VALUE"):
            ToolSettings().override([bad])
