"""gorilla.calls: the one module that parses calls and says when two are the same."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from gorilla.calls import (
    BoundCall,
    SourceCall,
    call_key,
    find_calls,
    normalize_call,
    parse_bound_call,
    parse_source_call,
    string_assignments,
)


def test_normalize_call_ignores_whitespace_and_quote_style_only():
    assert normalize_call('pipeline( "fill-mask",\n model = "bert" )') == "pipeline('fill-mask',model='bert')"
    assert normalize_call("f(a, b)") != normalize_call("f(b, a)")  # text identity: order still counts


def test_call_key_is_the_api_per_hub():
    a = "torch.hub.load(repo_or_dir='PyTorch/vision:v0.10.0', model='resnet18', pretrained=True)"
    b = "torch.hub.load('pytorch/vision', 'resnet18')"
    assert call_key(a) == call_key(b) == "pytorch/vision:resnet18"
    assert call_key("torch.hub.load('szq0214/MEAL-V2', 'meal_v2', 'mealv2_resnest50')") == \
        "szq0214/meal-v2:mealv2_resnest50"
    url = "https://tfhub.dev/google/imagenet/mobilenet_v2_100_224/classification/4"
    assert call_key(f"hub.KerasLayer('{url}', trainable=True)") == \
        call_key(f'hub.load("{url}")') == "google/imagenet/mobilenet_v2_100_224/classification/4"
    # elsewhere: the parsed call, keyword order and layout ignored
    assert call_key("pipeline('ner', model='x', aggregation='simple')") == \
        call_key("x = pipeline( 'ner', aggregation='simple', model='x')")
    assert call_key("not a call") is None


def test_source_call_keeps_arguments_as_written():
    call = parse_source_call("model = torch.hub.load('a/b', \"m\", **{'topN': 6}, pretrained = True)")
    assert call == SourceCall("torch.hub.load", ("'a/b'", "'m'"), (("topN", "6"), ("pretrained", "True")))
    assert call.kw("pretrained") == "True" and call.kw("missing") is None
    assert call.text() == "torch.hub.load('a/b', 'm', topN=6, pretrained=True)"
    assert parse_source_call("model(x), tokenizer(x)").name == "model"  # upstream's two-call entries: the first
    assert parse_source_call("f(x) g(y)") is None


def test_bound_call_binds_parameters_and_compares_values():
    a = parse_bound_call("torch.hub.load('pytorch/vision:v0.10.0', model=\"resnet18\")")
    b = parse_bound_call("torch.hub.load(repo_or_dir='pytorch/vision', model='resnet18')")
    assert a == b == BoundCall("torch.hub.load", {"repo_or_dir": (True, "pytorch/vision"), "model": (True, "resnet18")})
    nested = parse_bound_call("pipeline('qa', model=AutoModel.from_pretrained( 'x' ))")
    assert nested.args["model"] == (True, "AutoModel.from_pretrained('x')")
    assert parse_bound_call("f(1, *rest, **kw)").args == {"#0": (False, "1")}
    for not_one_call in ("x = f()", "model(x), tokenizer(x)", "f(", "f(x) # note"):
        assert parse_bound_call(not_one_call) is None


def test_find_calls_and_string_assignments_read_doc_code():
    code = "name = 'resnet18'\nimport torch\nm = torch.hub.load('pytorch/vision', name)\n# torch.hub.load('x', 'y')\n"
    (call,) = find_calls(code, ("torch.hub.load",))
    assert call.args == ("'pytorch/vision'", "name") and call.line == 3
    assert string_assignments(code) == {"name": "resnet18"}


def test_importing_calls_loads_neither_tree_sitter_nor_torch():
    code = "import sys, gorilla.calls; print(sorted(m for m in ('tree_sitter', 'torch') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[1]).stdout
    assert out.strip() == "[]"
