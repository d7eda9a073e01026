"""BFCL (Berkeley Function Calling Leaderboard) v4 files: test cases, possible answers, and results to score.

Upstream writes JSON Lines under a `.json` name: one object per line. A test case is `id`, `question`
(a list of turns, each a list of chat messages) and `function` (the function docs: `name`,
`description`, `parameters` with `properties` and `required`). Its possible answer, in
`possible_answer/<same file name>`, is `ground_truth`: a list of calls `{name: {param: [allowed...]}}`.
Results are ours: one line per case, `id`, `calls` (`[{"name", "arguments"}]`) and `text` (the model's
answer; when `calls` is absent they are read from it with `gorilla.calls.parse_function_calls`).
Every file is read whole, so each is bounded (`MAX_FILE_BYTES`); a bad line is one InputError naming
file, line and field. These are evaluation data: nothing here may feed training or example memories.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gorilla.calls import parse_function_calls
from gorilla.data.jsonl import MAX_FILE_BYTES, read_jsonl
from gorilla.data.records import _get
from gorilla.errors import GorillaError, InputError

_FILE_NAME = re.compile(r"BFCL_v\d+_(\w+)\.jsonl?")
_CASE_ID = re.compile(r"(\w+?)_\d+(?:-\d+)*")  # simple_python_12, live_simple_3-2-0


@dataclass(frozen=True)
class BfclCase:
    """One test case: the first turn's chat messages (the Python categories have one turn) and the function docs."""

    id: str
    messages: list[dict[str, Any]]
    functions: list[dict[str, Any]]
    turns: list[list[dict[str, Any]]]


def category_of(path_or_id: str | Path) -> str:
    """BFCL's category from a file name (`BFCL_v4_parallel_multiple.json`) or a case id (`parallel_multiple_7`)."""
    text = str(path_or_id)
    if isinstance(path_or_id, Path) or "/" in text or text.endswith((".json", ".jsonl")):
        if m := _FILE_NAME.fullmatch(Path(text).name):
            return m.group(1)
        raise GorillaError(f"{text}: not a BFCL file name (expected BFCL_v4_<category>.json)")
    if m := _CASE_ID.fullmatch(text):
        return m.group(1)
    raise GorillaError(f"{text!r}: not a BFCL case id (expected <category>_<number>)")


def answers_path(cases_path: str | Path, answers_dir: str | Path | None = None) -> Path:
    """Where a test file's possible answers are: `answers_dir/<name>`, by default `possible_answer/<name>` beside it."""
    cases_path = Path(cases_path)
    folder = Path(answers_dir) if answers_dir is not None else cases_path.parent / "possible_answer"
    return folder / cases_path.name


def _lines(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """read_jsonl behind a size bound (checked before anything is read)."""
    path = Path(path)
    if path.is_file() and path.stat().st_size > MAX_FILE_BYTES:
        raise InputError(path, f"larger than {MAX_FILE_BYTES // 2**20} MiB; not a BFCL file")
    return read_jsonl(path)


def _unique_id(obj: dict[str, Any], seen: set[str], path: Path, line: int) -> str:
    """The line's `id`, which must be a non-empty string not seen before in the file."""
    case_id = _get(obj, "id", str, path, line)
    if not case_id or case_id in seen:
        raise InputError(path, "empty id" if not case_id else f"duplicate id {case_id!r}", line, "id")
    seen.add(case_id)
    return case_id


def _turns(obj: dict[str, Any], path: Path, line: int) -> list[list[dict[str, Any]]]:
    """`question`: a non-empty list of turns; each a list of messages with string `role` and `content`."""
    turns = _get(obj, "question", list, path, line)
    if not turns or not isinstance(turns[0], list) or not turns[0]:
        raise InputError(path, "expected a list of turns, the first one a non-empty list of messages", line, "question")
    for t, turn in enumerate(turns):
        if not isinstance(turn, list):
            raise InputError(path, f"expected a list of messages, got {type(turn).__name__}", line, f"question[{t}]")
        for m, message in enumerate(turn):
            where = f"question[{t}][{m}]"
            if not isinstance(message, dict):
                raise InputError(path, f"expected a message object, got {type(message).__name__}", line, where)
            for key in ("role", "content"):
                if not isinstance(message.get(key), str):
                    raise InputError(path, "missing or not a string", line, f"{where}.{key}")
    return turns


def _functions(obj: dict[str, Any], path: Path, line: int) -> list[dict[str, Any]]:
    """`function`: a list of docs, each with a string `name` and `parameters.properties` an object."""
    functions = _get(obj, "function", list, path, line)
    for i, doc in enumerate(functions):
        where = f"function[{i}]"
        if not isinstance(doc, dict) or not isinstance(doc.get("name"), str):
            raise InputError(path, "expected an object with a string name", line, where)
        params = doc.get("parameters")
        if not isinstance(params, dict) or not isinstance(params.get("properties"), dict):
            raise InputError(path, "expected an object with properties", line, f"{where}.parameters")
        if not isinstance(params.get("required", []), list):
            raise InputError(path, "expected a list", line, f"{where}.parameters.required")
        for name, prop in params["properties"].items():
            if not isinstance(prop, dict):
                raise InputError(path, f"expected an object, got {type(prop).__name__}", line,
                                 f"{where}.parameters.properties.{name}")
    return functions


def load_cases(path: str | Path) -> list[BfclCase]:
    """A BFCL test file's cases, in file order."""
    path, seen, cases = Path(path), set(), []
    for line, obj in _lines(path):
        case_id = _unique_id(obj, seen, path, line)
        turns = _turns(obj, path, line)
        cases.append(BfclCase(case_id, turns[0], _functions(obj, path, line), turns))
    return cases


def _ground_truth(obj: dict[str, Any], path: Path, line: int) -> list[dict[str, Any]]:
    """`ground_truth`: a list of one-key objects `{function name: {param: [allowed values]}}`."""
    calls = _get(obj, "ground_truth", list, path, line)
    for i, call in enumerate(calls):
        where = f"ground_truth[{i}]"
        if not isinstance(call, dict) or len(call) != 1 or not isinstance(next(iter(call.values())), dict):
            raise InputError(path, "expected {function name: {parameter: [allowed values]}}", line, where)
        for param, allowed in next(iter(call.values())).items():
            if not isinstance(allowed, list):
                raise InputError(path, "expected a list of allowed values", line, f"{where}.{param}")
    return calls


def load_answers(path: str | Path) -> dict[str, list[dict[str, Any]]]:
    """A possible-answer file: case id -> its ground truth."""
    path, seen = Path(path), set()
    return {_unique_id(obj, seen, path, line): _ground_truth(obj, path, line) for line, obj in _lines(path)}


def _result_calls(obj: dict[str, Any], path: Path, line: int) -> list[dict[str, Any]]:
    """`calls` as given (each `name` a string, `arguments` an object or null, `error` a string if there),
    else the calls read from `text`."""
    if "calls" not in obj:
        return parse_function_calls(_get(obj, "text", str, path, line))
    calls = _get(obj, "calls", list, path, line)
    for i, call in enumerate(calls):
        where = f"calls[{i}]"
        if not isinstance(call, dict):
            raise InputError(path, f"expected an object, got {type(call).__name__}", line, where)
        if not isinstance(call.get("name"), str):
            raise InputError(path, "missing or not a string", line, f"{where}.name")
        if "arguments" not in call or not isinstance(call["arguments"], dict | None):
            raise InputError(path, "missing, or neither an object nor null", line, f"{where}.arguments")
        if not isinstance(call.get("error", ""), str):
            raise InputError(path, "not a string", line, f"{where}.error")
    return calls


def load_results(path: str | Path) -> list[dict[str, Any]]:
    """A results file: one `{"id", "calls", "text"}` per line (ids unique), `calls` always filled in."""
    path, seen, rows = Path(path), set(), []
    for line, obj in _lines(path):
        rows.append({**obj, "id": _unique_id(obj, seen, path, line), "calls": _result_calls(obj, path, line)})
    return rows
