"""BFCL's AST check of Python function calls, written from its published rules (bfcl_eval's ast_checker).

A case is right or wrong as a whole. The rules, in the order they are applied:

1. Irrelevance (any category named `*irrelevance*`): right iff the answer holds no call: no readable
   call, and no unreadable one (below) that names one of the case's functions, since
   `determine_bmi(70, 1.8)` is an attempted call while prose such as "no function(s) fit" is not.
2. Otherwise every call must be readable: `parse_function_calls` reports a positional argument, a
   value that is not a literal, or text that is not one valid call as a call with `"arguments": None`
   and an `error`; such a call makes the case wrong (BFCL drops positional arguments and reads names
   as strings; we never guess).
3. The number of calls must equal the ground truth's (simple and multiple: exactly one).
4. Several ground-truth calls (parallel, parallel_multiple) match the calls in any order, one to one:
   each ground-truth call needs a call of its own that passes rule 5. We search all assignments
   (augmenting paths), where BFCL takes the first passing call greedily and can miss a matching that
   exists; the same call written twice cannot stand for two different ground-truth calls.
5. One call against one ground-truth call `{name: {param: [allowed values]}}` and the function's doc:
   a. the name must be the same, exactly (`math.factorial`, dots included);
   b. every parameter in the doc's `required` must be given;
   c. every given parameter must be in the doc's `properties` and in the ground truth;
   d. its type must be the doc's type: string, integer, float, boolean, array and tuple (a list:
      tuples parse as lists), dict, any (anything). Types are exact (True is no integer), except that
      an int is accepted for a float (and read as one). A value of the same type as the ground
      truth's allowed values is accepted too: BFCL writes a few allowed values in another type than
      the doc declares (`None` for a float, an expression as a string for an array);
   e. its value must be one of the allowed values, compared as follows. Strings after BFCL's
      normalisation: lower-cased, without spaces and the characters `,./-_*^`, `'` read as `"`
      ("April 1, 2024" = "april 1 2024"). Lists element by element, in order, each element by these
      same rules against the doc's `items` (so a list of strings is normalised element-wise, and an
      int stands for a float element). Dicts key by key: every key given must be allowed, every
      allowed key not given must allow "", and each value is checked by rules 5b-e against the doc's
      nested `properties` (when the doc has none, values are only compared). Anything else by `==`,
      a bool never equal to a number;
   f. a ground-truth parameter the call leaves out must have "" among its allowed values (BFCL's
      mark for "may be omitted").

Where we differ from BFCL's code: rule 4's full matching, rules 1 and 2 (unreadable calls; BFCL's
irrelevance check passes any answer its decoder cannot read as calls, so calls inside prose pass), `any` meaning
any type (BFCL's code reads it as a string), and nested values (dict values are type-checked
against nested `properties`; list elements of every depth are normalised; an int is accepted for a
float element even when the ground truth writes floats). Names are compared as written: a backend
that cannot put dots in tool names must map them back before scoring.
No torch, no model: pure functions over parsed calls and the loaded files.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gorilla.data.bfcl import BfclCase, answers_path, category_of, load_answers, load_cases
from gorilla.errors import GorillaError

log = logging.getLogger("gorilla.scoring")

_TYPES: dict[str, type] = {"string": str, "integer": int, "float": float, "boolean": bool, "array": list,
                           "tuple": list, "dict": dict}
_TYPE_NAMES = {str: "string", int: "integer", float: "float", bool: "boolean", list: "array", dict: "dict",
               type(None): "None"}
_IGNORED = re.compile(r"[ ,./\-_*^]")


@dataclass(frozen=True)
class Verdict:
    """A case's verdict; `reason` says in a few words why it is wrong (empty when right)."""

    ok: bool
    reason: str = ""


def no_call_expected(category: str) -> bool:
    """Whether the category's right answer is no call at all (irrelevance, live_irrelevance)."""
    return "irrelevance" in category


def normalize_string(text: str) -> str:
    """BFCL's string normalisation: lower case, no spaces nor `,./-_*^`, single quotes read as double."""
    return _IGNORED.sub("", text).lower().replace("'", '"')


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _same(value: Any, allowed: Any) -> bool:
    """Rule 5e for values with no doc to go by: strings normalised, lists and dicts element by element."""
    if isinstance(value, str) and isinstance(allowed, str):
        return normalize_string(value) == normalize_string(allowed)
    if isinstance(value, list) and isinstance(allowed, list):
        return len(value) == len(allowed) and all(_same(v, a) for v, a in zip(value, allowed, strict=True))
    if isinstance(value, dict) and isinstance(allowed, dict):
        return _arguments_reason(value, None, [], allowed) is None
    return (type(value) is bool) == (type(allowed) is bool) and value == allowed


def _mismatch(value: Any, doc: dict[str, Any], allowed: Any) -> str | None:
    """Why `value` is not the allowed value `allowed` (rule 5e), or None when it is."""
    if isinstance(value, list) and isinstance(allowed, list) and doc.get("type") in ("array", "tuple"):
        if len(value) != len(allowed):
            return f"{len(value)} items, expected {len(allowed)}"
        items = doc.get("items") if isinstance(doc.get("items"), dict) else {}
        return next((f"item {i}: {r}" for i, (v, a) in enumerate(zip(value, allowed, strict=True))
                     if (r := _value_reason(v, items, [a])) is not None), None)
    if isinstance(value, dict) and isinstance(allowed, dict):
        props = doc.get("properties") if isinstance(doc.get("properties"), dict) else None
        return _arguments_reason(value, props, doc.get("required", []) if props else [], allowed)
    return None if _same(value, allowed) else f"{_short(value)} is not allowed"


def _value_reason(value: Any, doc: dict[str, Any], allowed: list[Any]) -> str | None:
    """Rules 5d and 5e for one value against its doc and its allowed values; None when it passes."""
    declared = doc.get("type")
    if declared == "float" and type(value) is int and abs(value) < 2**53:
        value = float(value)
    given = [a for a in allowed if a != ""]
    wanted = _TYPES.get(declared) if isinstance(declared, str) else None
    if wanted is not None and type(value) is not wanted and not (given and type(value) is type(given[0])):
        return f"expected {declared}, got {_TYPE_NAMES.get(type(value), type(value).__name__)}"
    reasons = [_mismatch(value, doc, a) for a in allowed]
    if None in reasons:
        return None
    told = [r for a, r in zip(allowed, reasons, strict=True) if a != ""]  # "" only means "may be left out"
    return told[0] if len(told) == 1 else f"{_short(value)} is not allowed"


def _arguments_reason(args: dict[str, Any], props: dict[str, Any] | None, required: Sequence[str],
                      allowed: dict[str, list[Any]]) -> str | None:
    """Rules 5b-5f for a call's arguments (or a dict value's keys, `props` None when the doc has no nested
    properties); None when they pass."""
    for name in required:
        if name not in args:
            return f"missing required parameter {name!r}"
    for name, value in args.items():
        if props is not None and name not in props:
            return f"unexpected parameter {name!r}"
        if name not in allowed:
            return f"parameter {name!r} is not in the ground truth"
        doc = props.get(name) if props is not None else None
        if (reason := _value_reason(value, doc if isinstance(doc, dict) else {}, allowed[name])) is not None:
            return f"parameter {name!r}: {reason}"
    for name, options in allowed.items():
        if name not in args and "" not in options:
            return f"missing parameter {name!r}"
    return None


def _call_reason(call: dict[str, Any], truth: dict[str, dict[str, list[Any]]], docs: dict[str, dict]) -> str | None:
    """Rule 5 for one call against one ground-truth call; None when it passes."""
    (name, allowed), = truth.items()
    if call["name"] != name:
        return f"wrong function {call['name']!r}, expected {name!r}"
    if name not in docs:
        return f"the case has no function doc for {name!r}"
    params = docs[name].get("parameters", {})
    return _arguments_reason(call["arguments"], params.get("properties", {}), params.get("required", []), allowed)


def _unmatched(table: list[list[str | None]]) -> int | None:
    """Rule 4: the first ground-truth row left without a passing call of its own in a maximum one-to-one
    matching (Kuhn's augmenting paths; table[i][j] is None when call j passes for ground truth i)."""
    owner = [-1] * (len(table[0]) if table else 0)

    def place(i: int, seen: set[int]) -> bool:
        for j, reason in enumerate(table[i]):
            if reason is None and j not in seen:
                seen.add(j)
                if owner[j] < 0 or place(owner[j], seen):
                    owner[j] = i
                    return True
        return False

    return next((i for i in range(len(table)) if not place(i, set())), None)


def check_case(calls: list[dict[str, Any]], ground_truth: list[dict[str, Any]], functions: list[dict[str, Any]],
               category: str) -> Verdict:
    """One case's verdict under the rules above: `calls` as parse_function_calls gives them."""
    if no_call_expected(category):
        names = {doc["name"] for doc in functions}
        made = [c for c in calls if c.get("arguments") is not None or c.get("name") in names]
        return Verdict(True) if not made else Verdict(False, f"expected no call, got {len(made)}")
    for call in calls:
        if call.get("arguments") is None:
            return Verdict(False, f"unreadable call {call.get('name')!r}: {call.get('error') or 'no arguments'}")
    if len(calls) != len(ground_truth):
        return Verdict(False, f"{len(calls)} calls, expected {len(ground_truth)}")
    docs = {doc["name"]: doc for doc in functions}
    table = [[_call_reason(call, truth, docs) for call in calls] for truth in ground_truth]
    i = _unmatched(table)
    if i is None:
        return Verdict(True)
    name = next(iter(ground_truth[i]))
    if None in table[i]:
        return Verdict(False, f"{name!r} call {i + 1}: its only passing call already stands for another")
    # the likeliest meant call: one of the same name that no ground-truth call accepts
    free = {j for j in range(len(calls)) if all(row[j] is not None for row in table)}
    j = min(range(len(calls)), key=lambda j: (calls[j]["name"] != name, j not in free, j))
    reason = table[i][j]
    return Verdict(False, reason if len(ground_truth) == 1 else f"{name!r} call {i + 1}: {reason}")


def _first_allowed(value: Any) -> Any:
    """A ground-truth value as a call writes it: each dict key's first allowed value other than "" (a key that
    may only be left out is left out), lists element by element."""
    if isinstance(value, dict):
        return {key: _first_allowed(next(a for a in allowed if a != "")) for key, allowed in value.items()
                if any(a != "" for a in allowed)}
    return [_first_allowed(v) for v in value] if isinstance(value, list) else value


def truth_calls(ground_truth: list[dict[str, Any]], functions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The answer a perfect model gives: each ground-truth call with the first allowed value of every parameter,
    leaving out those that may be left out and that the function doc does not know (BFCL's data has two).
    Scoring these must give accuracy 1.0: the check of this scorer on the real files."""
    docs = {doc["name"]: doc.get("parameters", {}).get("properties", {}) for doc in functions}
    calls = []
    for call in ground_truth:
        (name, allowed), = call.items()
        args = _first_allowed(allowed)
        calls.append({"name": name, "arguments": {k: v for k, v in args.items()
                                                   if k in docs.get(name, {}) or "" not in allowed[k]}})
    return calls


def score_results(results: list[dict[str, Any]], cases: list[BfclCase], answers: dict[str, list[dict[str, Any]]],
                  category: str, *, file: str = "") -> dict[str, Any]:
    """Figures of one test file: `file, category, n, correct, accuracy` and `verdicts` (`id, ok, reason` per
    case, in file order). `results` are `{"id", "calls", ...}` rows (load_results); a case without one is wrong."""
    by_id = {row["id"]: row for row in results}
    verdicts = []
    for case in cases:
        if not no_call_expected(category) and case.id not in answers:
            raise GorillaError(f"{file or category}: case {case.id} has no ground truth in the possible answers")
        row = by_id.get(case.id)
        verdict = (Verdict(False, "no result") if row is None else
                   check_case(row["calls"], answers.get(case.id, []), case.functions, category))
        verdicts.append({"id": case.id, "ok": verdict.ok, "reason": verdict.reason})
    correct = sum(v["ok"] for v in verdicts)
    return {"file": file, "category": category, "n": len(cases), "correct": correct,
            "accuracy": correct / len(cases) if cases else 0.0, "verdicts": verdicts}


def score_files(paths: Sequence[str | Path], results: list[dict[str, Any]],
                answers_dir: str | Path | None = None) -> list[dict[str, Any]]:
    """score_results for each BFCL test file (category from its name; possible answers beside it or in
    `answers_dir`; irrelevance files need none). One results list may cover several files."""
    reports, ids = [], set()
    for path in paths:
        category, cases = category_of(Path(path)), load_cases(path)
        answers = {} if no_call_expected(category) else load_answers(answers_path(path, answers_dir))
        reports.append(score_results(results, cases, answers, category, file=str(path)))
        ids |= {case.id for case in cases}
    if stray := sum(row["id"] not in ids for row in results):
        log.info("%d result lines match no case of the files scored", stray)
    return reports
