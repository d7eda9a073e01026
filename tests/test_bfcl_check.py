"""BFCL v4: loading its files, reading calls from model text, and BFCL's AST rules for Python, rule by rule."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import run_cli

from gorilla.calls import format_call, parse_function_calls
from gorilla.data.bfcl import answers_path, category_of, load_answers, load_cases, load_results
from gorilla.errors import GorillaError, InputError
from gorilla.scoring.bfcl import Verdict, check_case, normalize_string, score_results, truth_calls

BFCL = Path(__file__).resolve().parents[2] / "shared" / "bfcl"


def doc(name: str, props: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"name": name, "description": "", "parameters": {"type": "dict", "properties": props, "required": required}}


TRIANGLE = doc("calculate_triangle_area", {"base": {"type": "integer"}, "height": {"type": "integer"},
                                           "unit": {"type": "string"}, "precision": {"type": "integer"}},
               ["base", "height"])
TRIANGLE_GT = [{"calculate_triangle_area": {"base": [10], "height": [5], "unit": ["units", ""]}}]


def check(text: str, truth: list[dict] = TRIANGLE_GT, functions: list[dict] | None = None,
          category: str = "simple_python") -> Verdict:
    """The verdict on a model's text: parsed by parse_function_calls, then checked (what a run does)."""
    return check_case(parse_function_calls(text), truth, functions or [TRIANGLE], category)


# --- reading calls from text -----------------------------------------------------------------------------------

def test_parse_reads_keyword_literals_of_every_kind():
    text = ("f(i=5, n=-3, x=2.5, e=-1e-3, s='it\\'s', d=\"two\\nlines\", t=True, no=False, z=None, "
            "l=[1, 'a', [2.0]], tu=(1, 2), one=(3,), m={'k': {'deep': [None]}}, cat='a' 'b', hexa=0x1F)")
    assert parse_function_calls(text) == [{"name": "f", "arguments": {
        "i": 5, "n": -3, "x": 2.5, "e": -0.001, "s": "it's", "d": "two\nlines", "t": True, "no": False, "z": None,
        "l": [1, "a", [2.0]], "tu": [1, 2], "one": [3], "m": {"k": {"deep": [None]}}, "cat": "ab", "hexa": 31}}]


@pytest.mark.parametrize("text", [
    "[math.factorial(number=5), math.gcd(a=4, b=6)]",
    "math.factorial(number=5)\nmath.gcd(a=4, b=6)",
    "math.factorial(number=5); math.gcd(a=4, b=6)",
    "math.factorial(number=5), math.gcd(a=4, b=6)",
    "Sure! Here you go:\n```python\nmath.factorial(number=5)\nmath.gcd(a=4, b=6)\n```\nLet me know (if needed).",
])
def test_parse_finds_every_call_however_they_are_laid_out(text):
    assert parse_function_calls(text) == [{"name": "math.factorial", "arguments": {"number": 5}},
                                          {"name": "math.gcd", "arguments": {"a": 4, "b": 6}}]


def test_parse_tracks_strings_and_nesting():
    # a ")" inside a string closes nothing; a call cut off at the end keeps the complete calls before it
    assert parse_function_calls("f(a='x)', b=\"(y\")") == [{"name": "f", "arguments": {"a": "x)", "b": "(y"}}]
    assert parse_function_calls("[f(a=1), g(b=") == [{"name": "f", "arguments": {"a": 1}}]
    assert parse_function_calls("I'd say f(a=1).") == [{"name": "f", "arguments": {"a": 1}}]
    assert parse_function_calls("No function fits (sorry).") == []


@pytest.mark.parametrize("text,error", [
    ("f(5)", "a positional argument: 5"),
    ("f(a=x)", "argument a: not a literal: x"),
    ("f(a=1+2)", "argument a: not a literal: 1+2"),
    ("f(a=g(b=1))", "argument a: not a literal: g(b=1)"),
    ("f(a=__import__('os').getcwd())", "argument a: not a literal"),
    ("f(a=f'{x}')", "argument a: bytes or an f-string with fields"),
    ("f(a={1, 2})", "argument a: not a literal: {1,2}"),
    ("f(a=1, a=2)", "argument a given twice"),
    ("f(**{'a': 1})", "a ** argument"),
    ("f(a=)", "not one valid call"),
    ("f(a=1).g(b=2)", "not one valid call"),
])
def test_parse_reports_a_call_it_cannot_read_instead_of_guessing(text, error):
    (call,) = parse_function_calls(text)
    assert call["name"] == "f" and call["arguments"] is None and call["error"].startswith(error)


# --- BFCL's rules, one by one ----------------------------------------------------------------------------------

def test_right_call_passes_and_wrong_name_fails():
    assert check("calculate_triangle_area(base=10, height=5)") == Verdict(True, "")
    assert check("calculate_triangle_area(height=5, base=10, unit='units')").ok
    v = check("triangle_area(base=10, height=5)")
    assert not v.ok and v.reason == "wrong function 'triangle_area', expected 'calculate_triangle_area'"


def test_missing_required_and_unexpected_parameters_fail():
    assert check("calculate_triangle_area(base=10)").reason == "missing required parameter 'height'"
    assert check("calculate_triangle_area(base=10, height=5, color='red')").reason == "unexpected parameter 'color'"
    # known to the doc but not to the ground truth: BFCL refuses it too
    assert check("calculate_triangle_area(base=10, height=5, precision=2)").reason == \
        "parameter 'precision' is not in the ground truth"


def test_optional_only_when_the_ground_truth_allows_empty():
    truth = [{"calculate_triangle_area": {"base": [10], "height": [5], "unit": ["units"]}}]
    assert check("calculate_triangle_area(base=10, height=5)", truth).reason == "missing parameter 'unit'"
    assert check("calculate_triangle_area(base=10, height=5)").ok  # "" among unit's allowed values
    assert check("calculate_triangle_area(base=10, height=5, unit='cm')").reason == "parameter 'unit': 'cm' is not allowed"


def test_int_for_float_accepted_float_for_int_refused_bool_exact():
    fns = [doc("area", {"radius": {"type": "float"}, "exact": {"type": "boolean"}, "n": {"type": "integer"}}, ["radius"])]
    truth = [{"area": {"radius": [5.0], "exact": [True, ""], "n": [2, ""]}}]
    assert check("area(radius=5)", truth, fns).ok
    assert check("area(radius=5.0, exact=True, n=2)", truth, fns).ok
    assert check("area(radius=5, n=2.0)", truth, fns).reason == "parameter 'n': expected integer, got float"
    assert check("area(radius=5, exact=1)", truth, fns).reason == "parameter 'exact': expected boolean, got integer"
    assert check("area(radius=5, n=True)", truth, fns).reason == "parameter 'n': expected integer, got boolean"
    assert check("area(radius=5, exact=False)", truth, fns).reason == "parameter 'exact': False is not allowed"
    assert check("area(radius='5')", truth, fns).reason == "parameter 'radius': expected float, got string"


def test_strings_compare_after_bfcl_normalisation():
    fns = [doc("weather", {"city": {"type": "string"}, "date": {"type": "string"}}, ["city", "date"])]
    truth = [{"weather": {"city": ["San Diego, CA"], "date": ["2024-04-01"]}}]
    assert check("weather(city='san diego ca', date='2024/04/01')", truth, fns).ok
    assert check("weather(city='SAN_DIEGO.CA', date='20240401')", truth, fns).ok
    assert not check("weather(city='San Diego', date='2024-04-01')", truth, fns).ok
    assert normalize_string("It's A-B_c.d/e*f^g, h") == 'it"sabcdefgh'


def test_lists_compare_element_wise_in_order_with_item_types():
    fns = [doc("game", {"teams": {"type": "array", "items": {"type": "string"}},
                        "scores": {"type": "array", "items": {"type": "float"}}}, ["teams"])]
    truth = [{"game": {"teams": [["Lakers", "Clippers"]], "scores": [[1.5, 2.0], ""]}}]
    assert check("game(teams=['lakers', 'CLIPPERS'])", truth, fns).ok
    assert check("game(teams=('Lakers', 'Clippers'), scores=[1.5, 2])", truth, fns).ok  # tuple as list, int as float
    assert check("game(teams=['Clippers', 'Lakers'])", truth, fns).reason == \
        "parameter 'teams': item 0: 'Clippers' is not allowed"  # order matters
    assert check("game(teams=['Lakers'])", truth, fns).reason == "parameter 'teams': 1 items, expected 2"
    assert check("game(teams=['Lakers', 'Clippers'], scores=['1.5', '2'])", truth, fns).reason == \
        "parameter 'scores': item 0: expected float, got string"
    both_orders = [{"game": {"teams": [["Lakers", "Clippers"], ["Clippers", "Lakers"]]}}]
    assert check("game(teams=['Clippers', 'Lakers'])", both_orders, fns).ok


def test_nested_dict_checked_against_nested_properties():
    fns = [doc("update_user_info", {"user_id": {"type": "integer"}, "update_info": {
        "type": "dict", "properties": {"name": {"type": "string"}, "email": {"type": "string"},
                                       "age": {"type": "integer"}}}}, ["user_id", "update_info"])]
    truth = [{"update_user_info": {"user_id": [43523], "update_info": [
        {"name": ["John Doe"], "email": ["johndoe@email.com"], "age": ["", 40]}]}}]
    call = "update_user_info(user_id=43523, update_info={{{}}})".format
    assert check(call("'name': 'john doe', 'email': 'johndoe@email.com'"), truth, fns).ok
    assert check(call("'name': 'John Doe', 'email': 'johndoe@email.com', 'age': 40"), truth, fns).ok
    assert check(call("'name': 'John Doe'"), truth, fns).reason == "parameter 'update_info': missing parameter 'email'"
    assert check(call("'name': 'John Doe', 'email': 'johndoe@email.com', 'x': 1"), truth, fns).reason == \
        "parameter 'update_info': unexpected parameter 'x'"
    assert check(call("'name': 5, 'email': 'johndoe@email.com'"), truth, fns).reason == \
        "parameter 'update_info': parameter 'name': expected string, got integer"
    assert check("update_user_info(user_id=43523, update_info='John Doe')", truth, fns).reason == \
        "parameter 'update_info': expected dict, got string"


SPOTIFY = [doc("spotify.play", {"artist": {"type": "string"}, "duration": {"type": "integer"}}, ["artist"])]
SPOTIFY_GT = [{"spotify.play": {"artist": ["Taylor Swift"], "duration": [20]}},
              {"spotify.play": {"artist": ["Maroon 5"], "duration": [15]}}]


def test_parallel_calls_match_in_any_order_one_to_one():
    both = ["spotify.play(artist='Taylor Swift', duration=20)", "spotify.play(artist='Maroon 5', duration=15)"]
    assert check("\n".join(both), SPOTIFY_GT, SPOTIFY, "parallel").ok
    assert check(f"[{both[1]}, {both[0]}]", SPOTIFY_GT, SPOTIFY, "parallel").ok
    assert check(both[0], SPOTIFY_GT, SPOTIFY, "parallel").reason == "1 calls, expected 2"
    dup = check(f"[{both[0]}, {both[0]}]", SPOTIFY_GT, SPOTIFY, "parallel")
    assert not dup.ok and dup.reason.startswith("'spotify.play' call 2: parameter 'artist'")
    wrong = check(f"[{both[0]}, spotify.play(artist='Maroon 5', duration=16)]", SPOTIFY_GT, SPOTIFY, "parallel")
    assert wrong.reason == "'spotify.play' call 2: parameter 'duration': 16 is not allowed"


def test_parallel_matching_finds_the_assignment_a_greedy_pass_misses():
    # the first ground-truth call accepts both calls; taking the first one greedily would leave the second
    # ground-truth call without its own call
    truth = [{"spotify.play": {"artist": ["X"], "duration": [20, ""]}}, {"spotify.play": {"artist": ["X"], "duration": [20]}}]
    assert check("[spotify.play(artist='X'), spotify.play(artist='X', duration=20)]", truth, SPOTIFY, "parallel").ok
    twice = check("[spotify.play(artist='X', duration=20), spotify.play(artist='X', duration=20)]", truth, SPOTIFY, "parallel")
    assert twice.ok  # each ground-truth call accepts duration=20, so two such calls do cover both
    one_fits_both = [{"spotify.play": {"artist": ["X"], "duration": [20]}}] * 2
    assert check("[spotify.play(artist='X', duration=20), spotify.play(artist='X')]", one_fits_both, SPOTIFY,
                 "parallel").reason == "'spotify.play' call 2: its only passing call already stands for another"


def test_multiple_picks_the_one_right_function():
    fns = [TRIANGLE, doc("circle_area", {"radius": {"type": "float"}}, ["radius"])]
    assert check("calculate_triangle_area(base=10, height=5)", TRIANGLE_GT, fns, "multiple").ok
    assert check("circle_area(radius=5)", TRIANGLE_GT, fns, "multiple").reason.startswith("wrong function 'circle_area'")
    assert check("[calculate_triangle_area(base=10, height=5), circle_area(radius=1)]", TRIANGLE_GT, fns,
                 "multiple").reason == "2 calls, expected 1"


def test_irrelevance_is_right_only_without_any_call():
    assert check("None of the given functions can compute this.", [], category="irrelevance").ok
    assert check("", [], category="irrelevance").ok
    assert check("calculate_triangle_area(base=10, height=5)", [], category="irrelevance").reason == \
        "expected no call, got 1"
    # an unreadable call of a given function is an attempted call; prose that only looks like one is not
    assert check("calculate_triangle_area(10, 5)", [], category="irrelevance").reason == "expected no call, got 1"
    assert check("None of the given function(s) fits.", [], category="irrelevance").ok
    assert not check("It's not possible. area(r=5)", [], category="irrelevance").ok  # readable: a call


def test_unreadable_calls_count_wrong_without_crashing():
    v = check("calculate_triangle_area(10, 5)")
    assert v == Verdict(False, "unreadable call 'calculate_triangle_area': a positional argument: 10")
    assert check("calculate_triangle_area(base=b, height=5)").reason.startswith("unreadable call")
    both = "[spotify.play(artist='Taylor Swift', duration=20), spotify.play('Maroon 5', 15)]"
    assert check(both, SPOTIFY_GT, SPOTIFY, "parallel").reason.startswith("unreadable call 'spotify.play'")


def test_score_results_counts_a_missing_result_wrong():
    cases = [_case("simple_python_0"), _case("simple_python_1")]
    answers = {"simple_python_0": TRIANGLE_GT, "simple_python_1": TRIANGLE_GT}
    results = [{"id": "simple_python_0", "calls": parse_function_calls("calculate_triangle_area(base=10, height=5)")},
               {"id": "elsewhere_3", "calls": []}]
    report = score_results(results, cases, answers, "simple_python", file="x.json")
    assert {k: report[k] for k in ("file", "category", "n", "correct", "accuracy")} == \
        {"file": "x.json", "category": "simple_python", "n": 2, "correct": 1, "accuracy": 0.5}
    assert report["verdicts"] == [{"id": "simple_python_0", "ok": True, "reason": ""},
                                  {"id": "simple_python_1", "ok": False, "reason": "no result"}]
    with pytest.raises(GorillaError, match="simple_python_1 has no ground truth"):
        score_results(results, cases, {"simple_python_0": TRIANGLE_GT}, "simple_python", file="x.json")


def _case(case_id: str):
    from gorilla.data.bfcl import BfclCase

    messages = [{"role": "user", "content": "area of a triangle, base 10 and height 5"}]
    return BfclCase(case_id, messages, [TRIANGLE], [messages])


# --- files -----------------------------------------------------------------------------------------------------

def _write(path: Path, rows: list[Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


def _bfcl_dir(root: Path) -> Path:
    """A two-case simple_python file with its possible answers, laid out as upstream does."""
    question = [[{"role": "user", "content": "Find the area of a triangle with base 10 and height 5."}]]
    cases = [{"id": f"simple_python_{i}", "question": question, "function": [TRIANGLE]} for i in range(2)]
    _write(root / "possible_answer" / "BFCL_v4_simple_python.json",
           [{"id": c["id"], "ground_truth": TRIANGLE_GT} for c in cases])
    return _write(root / "BFCL_v4_simple_python.json", cases)


def test_category_and_answers_path():
    assert category_of("BFCL_v4_parallel_multiple.json") == "parallel_multiple"
    assert category_of(Path("/x/BFCL_v4_simple_python.json")) == "simple_python"
    assert category_of("parallel_multiple_12") == category_of("parallel_multiple_7") == "parallel_multiple"
    assert category_of("live_simple_3-2-0") == "live_simple" and category_of("irrelevance_0") == "irrelevance"
    with pytest.raises(GorillaError):
        category_of("data/answers.json")
    assert answers_path("/d/BFCL_v4_parallel.json") == Path("/d/possible_answer/BFCL_v4_parallel.json")
    assert answers_path("/d/BFCL_v4_parallel.json", "/a") == Path("/a/BFCL_v4_parallel.json")


def test_load_cases_answers_and_results(tmp_path):
    path = _bfcl_dir(tmp_path)
    cases = load_cases(path)
    assert [c.id for c in cases] == ["simple_python_0", "simple_python_1"]
    assert cases[0].messages[0]["role"] == "user" and cases[0].turns == [cases[0].messages]
    assert cases[0].functions == [TRIANGLE]
    assert load_answers(answers_path(path)) == {"simple_python_0": TRIANGLE_GT, "simple_python_1": TRIANGLE_GT}
    results = load_results(_write(tmp_path / "r.jsonl", [
        {"id": "simple_python_0", "text": "calculate_triangle_area(base=10, height=5)"},
        {"id": "simple_python_1", "calls": [{"name": "f", "arguments": None, "error": "a positional argument: 1"}],
         "text": "f(1)"}]))
    assert results[0]["calls"] == [{"name": "calculate_triangle_area", "arguments": {"base": 10, "height": 5}}]
    assert results[1]["calls"][0]["arguments"] is None


@pytest.mark.parametrize("row,message", [
    ({"question": [[{"role": "user", "content": "q"}]], "function": []}, ":1: id: missing field"),
    ({"id": "simple_python_0", "function": []}, ":1: question: missing field"),
    ({"id": "simple_python_0", "question": [[]], "function": []}, ":1: question: expected a list of turns"),
    ({"id": "simple_python_0", "question": [[{"role": "user"}]], "function": []}, ":1: question[0][0].content:"),
    ({"id": "simple_python_0", "question": [[{"role": "user", "content": "q"}]]}, ":1: function: missing field"),
    ({"id": "simple_python_0", "question": [[{"role": "user", "content": "q"}]], "function": [{"name": "f"}]},
     ":1: function[0].parameters: expected an object with properties"),
])
def test_bad_case_lines_name_file_line_and_field(tmp_path, row, message):
    with pytest.raises(InputError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_cases(_write(tmp_path / "BFCL_v4_simple_python.json", [row]))


def test_bad_answer_and_result_lines_and_size_bound(tmp_path, monkeypatch):
    bad_truth = _write(tmp_path / "a.json", [{"id": "simple_python_0", "ground_truth": [{"f": {"x": 1}}]}])
    with pytest.raises(InputError, match=r"a.json:1: ground_truth\[0\].x: expected a list of allowed values"):
        load_answers(bad_truth)
    twice = _write(tmp_path / "r.jsonl", [{"id": "a", "calls": []}, {"id": "a", "calls": []}])
    with pytest.raises(InputError, match="r.jsonl:2: id: duplicate id 'a'"):
        load_results(twice)
    with pytest.raises(InputError, match=r"r.jsonl:1: calls\[0\].arguments"):
        load_results(_write(tmp_path / "r.jsonl", [{"id": "a", "calls": [{"name": "f", "arguments": [1]}]}]))
    with pytest.raises(InputError, match="r.jsonl:1: text: missing field"):
        load_results(_write(tmp_path / "r.jsonl", [{"id": "a"}]))
    import gorilla.data.bfcl as bfcl

    monkeypatch.setattr(bfcl, "MAX_FILE_BYTES", 10)
    with pytest.raises(InputError, match="larger than"):
        load_results(twice)


# --- the command -----------------------------------------------------------------------------------------------

def test_cli_json_figures_and_a_bad_results_line(tmp_path):
    path = _bfcl_dir(tmp_path / "bfcl")
    results = _write(tmp_path / "results.jsonl", [
        {"id": "simple_python_0", "calls": [{"name": "calculate_triangle_area", "arguments": {"base": 10, "height": 5}}],
         "text": "calculate_triangle_area(base=10, height=5)"},
        {"id": "simple_python_1", "calls": [], "text": "I cannot."}])
    r = run_cli("eval", "bfcl", str(path), "--responses", str(results), "--format", "json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"file": str(path), "category": "simple_python", "n": 2, "correct": 1, "accuracy": 0.5}
    _write(results, ['{"id": "simple_python_0", "calls": {"name": "f"}}'])
    bad = run_cli("eval", "bfcl", str(path), "--responses", str(results))
    assert bad.returncode == 2 and bad.stderr.strip().splitlines() == \
        [f"gorilla: error: {results}:1: calls: expected list, got dict"]


def test_cli_scores_without_importing_torch(tmp_path):
    path = _bfcl_dir(tmp_path / "bfcl")
    results = _write(tmp_path / "results.jsonl", [{"id": "simple_python_0", "text": "f(a=1)"}])
    argv = ["eval", "bfcl", str(path), "--responses", str(results), "--format", "json"]
    code = (f"import sys\nfrom gorilla.cli.main import main\ntry:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('torch', 'transformers', 'faiss', 'sentence_transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.splitlines()
    assert json.loads(out[0])["n"] == 2 and out[-1] == "[]"


# --- the real BFCL v4 files ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def real() -> dict[str, tuple[list, dict]]:
    if not (BFCL / "BFCL_v4_simple_python.json").is_file():
        pytest.skip("BFCL v4 data (../shared/bfcl) is not beside this checkout")
    out = {}
    for path in sorted(BFCL.glob("BFCL_v4_*.json")):
        category = category_of(path)
        out[category] = (load_cases(path), {} if category == "irrelevance" else load_answers(answers_path(path)))
    return out


def test_real_files_load(real):
    assert {c: len(cases) for c, (cases, _) in real.items()} == {
        "irrelevance": 240, "multiple": 200, "parallel": 200, "parallel_multiple": 200, "simple_python": 400}
    assert all(set(answers) == {c.id for c in cases} for cat, (cases, answers) in real.items() if cat != "irrelevance")


@pytest.mark.parametrize("category", ["simple_python", "multiple", "parallel", "parallel_multiple"])
def test_the_ground_truth_scores_one_through_the_parser(real, category):
    # the ground truth written as a model would answer, `[f(a=1), g(b='x')]`, read back and scored
    cases, answers = real[category]
    texts = {c.id: "[" + ", ".join(format_call(**call) for call in truth_calls(answers[c.id], c.functions)) + "]"
             for c in cases}
    report = score_results([{"id": i, "calls": parse_function_calls(t)} for i, t in texts.items()], cases, answers,
                           category)
    assert report["accuracy"] == 1.0, [v for v in report["verdicts"] if not v["ok"]][:3]


def test_ground_truth_parameters_unknown_to_the_doc_are_refused(real):
    # BFCL's data names two parameters its function docs lack (both may be left out); passing them is wrong
    unknown = []
    for category in ("simple_python", "multiple", "parallel", "parallel_multiple"):
        cases, answers = real[category]
        for case in cases:
            calls = truth_calls(answers[case.id], case.functions)
            for call, truth in zip(calls, answers[case.id], strict=True):
                extra = {k: v for k, v in truth[call["name"]].items() if k not in call["arguments"] and v != [""]}
                if extra:
                    call["arguments"].update({k: next(a for a in v if a != "") for k, v in extra.items()})
                    verdict = check_case(calls, answers[case.id], case.functions, category)
                    unknown.append(case.id)
                    assert verdict.reason.endswith(f"unexpected parameter {next(iter(extra))!r}"), verdict
    assert len(unknown) == 2


def test_no_call_is_right_on_irrelevance_and_wrong_elsewhere(real):
    for category, (cases, answers) in real.items():
        report = score_results([{"id": c.id, "calls": []} for c in cases], cases, answers, category)
        assert report["accuracy"] == (1.0 if category == "irrelevance" else 0.0)
