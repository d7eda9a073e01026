"""Function-calling train files -> examples whose target is the call text the grammar decoder writes.

A line of a tool-call train file (JSON Lines, ours: BFCL's files are evaluation data and are refused):

    {"request": "Book a table for 4 at 7pm", "functions": [<function doc>, ...],
     "calls": [{"name": "restaurant.book", "arguments": {"party_size": 4, "time": "19:00"}}]}

(`messages`, an OpenAI chat, may stand in for `request`; `calls: []` means no call.) Each line is checked by the
call grammar itself: its target text, `prompting.answer_text`, must be an answer the grammar accepts and
must read back as the same calls, so a model never trains on a call the decoder could not write.

`with_distractors` gives a share of the examples extra functions taken from other lines (placed at random),
so that picking the function, not only filling it, is learned: the shape of a request that comes with a
catalogue of tools.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gorilla.data import read_jsonl
from gorilla.data.functions import FunctionSpec, ToolCall
from gorilla.errors import GorillaError, InputError
from gorilla.models.grammar import CallGrammar
from gorilla.prompting import answer_text, tool_messages

MAX_FUNCTIONS = 16  # per line: a prompt must fit the training length


@dataclass(frozen=True)
class ToolPair:
    """One solved function-calling turn: the chat, the functions offered, the right calls (empty: none)."""

    messages: tuple[dict[str, str], ...]
    functions: tuple[FunctionSpec, ...]
    calls: tuple[ToolCall, ...]

    @property
    def answer(self) -> str:
        return answer_text([(c.name, c.arguments) for c in self.calls], self.functions)

    def chat(self) -> list[dict[str, str]]:
        """The chat as inference renders it (prompting.tool_messages)."""
        return tool_messages(self.messages, self.functions)


def read_tool_pairs(path: str | Path) -> list[ToolPair]:
    """Every line of a tool-call train file, checked (one InputError naming file, line and field)."""
    path = Path(path)
    out = []
    for line, obj in read_jsonl(path):
        if "question" in obj and "function" in obj:
            raise InputError(path, "a BFCL test file (question/function) is evaluation data, never training data",
                             line)
        try:
            out.append(parse_pair(obj))
        except GorillaError as e:
            raise InputError(path, str(e), line) from None
    return out


def parse_pair(obj: Mapping[str, Any]) -> ToolPair:
    """One line as a checked ToolPair (a GorillaError naming the field otherwise)."""
    messages = obj.get("messages")
    if messages is None:
        request = obj.get("request")
        if not isinstance(request, str) or not request.strip():
            raise GorillaError("request: expected a non-empty string (or messages: a chat)")
        messages = [{"role": "user", "content": request.strip()}]
    if not isinstance(messages, list) or not all(isinstance(m, Mapping) for m in messages):
        raise GorillaError("messages: expected a list of {role, content} objects")
    docs = obj.get("functions")
    if not isinstance(docs, list) or not 1 <= len(docs) <= MAX_FUNCTIONS:
        raise GorillaError(f"functions: expected a list of 1 to {MAX_FUNCTIONS} function docs")
    functions = tuple(FunctionSpec.from_tool(d) for d in docs)
    calls = tuple(_call(c) for c in obj.get("calls") or [])
    pair = ToolPair(tuple({"role": str(m.get("role")), "content": str(m.get("content") or "")} for m in messages),
                    functions, calls)
    _check(pair)
    return pair


def _call(obj: Any) -> ToolCall:
    if not isinstance(obj, Mapping) or not isinstance(obj.get("name"), str) or \
            not isinstance(obj.get("arguments", {}), Mapping):
        raise GorillaError("calls: expected {\"name\": str, \"arguments\": {...}} objects")
    return ToolCall(obj["name"], dict(obj.get("arguments") or {}))


def _check(pair: ToolPair) -> None:
    """The grammar must accept the target text and read the same calls back."""
    grammar = CallGrammar(pair.functions, allow_none=True, parallel=True, max_calls=max(8, len(pair.calls)))
    state = grammar.feed(grammar.start, pair.answer)
    if state is None or not grammar.done(state):
        names = {f.name for f in pair.functions}
        unknown = [c.name for c in pair.calls if c.name not in names]
        why = f"{unknown[0]!r} is not among the functions" if unknown else \
            "a call breaks its function's schema (argument names, required ones, types or enums)"
        raise GorillaError(f"calls: {why}: {pair.answer[:200]}")
    if list(grammar.calls(state)) != list(pair.calls):
        raise GorillaError(f"calls: do not read back the same from {pair.answer[:200]}")


def with_distractors(pairs: Sequence[ToolPair], share: float, most: int, seed: int) -> list[ToolPair]:
    """`share` of the pairs get 1 to `most` functions of other pairs (none sharing a name with theirs), inserted at
    random places; the rest stay as written. Deterministic for a seed."""
    rng = random.Random(seed)
    pool = list({f.name: f for p in pairs for f in p.functions}.values())
    out = []
    for p in pairs:
        if rng.random() >= share or len(pool) <= len(p.functions):
            out.append(p)
            continue
        names = {f.name for f in p.functions}
        extra = [f for f in rng.sample(pool, min(len(pool), most + len(names))) if f.name not in names]
        functions = list(p.functions)
        for f in extra[: rng.randint(1, most)]:
            functions.insert(rng.randint(0, len(functions)), f)
        out.append(ToolPair(p.messages, tuple(functions), p.calls))
    return out
