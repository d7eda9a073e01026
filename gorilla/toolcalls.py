"""Function calling: a conversation and the functions it may call -> the calls (or none), OpenAI's tool_choice.

The library entry point behind `gorilla query --tools`, the server's `tools` and `gorilla eval bfcl`.
A local backend decodes the answer under the call grammar (gorilla.models.grammar), so every call names
a given function with arguments its schema allows; what the grammar leaves open is steered by settings
chosen on our own requests (eval/toolcalls/dev/, never BFCL's):

- whether to call at all (`tool_choice="auto"`): the request's similarity to the nearest function's doc
  (the embedded MiniLM) below `none_below` means no call; above it a call is made;
- which function: the model picks among the names, each name's score raised by its doc's similarity;
- which optional arguments: only those the request mentions (a word of the name, or an enum value);
- how many calls (`parallel`): the model's choice of `,` or `]` after each call, nudged by `more_bias`;
- values: tokens that keep a string or number a copy of the request's text get `copy_bias`.

An OpenAI-compatible backend gets the tools and tool_choice as they are (its server decides).
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gorilla.data.functions import FunctionSpec, ToolCall
from gorilla.data.tools import MAX_TOOLS, read_tool_choice
from gorilla.errors import GorillaError
from gorilla.models.base import Backend, ToolRequest


@dataclass(frozen=True)
class ToolSettings:
    """The decoder's settings for the open choices (see the module docstring); defaults chosen on our own
    eval/toolcalls/dev/ and eval/toolcalls/heldout.jsonl.gz (docs/toolcalls.md says how)."""

    none_below: float = 0.30  # cosine similarity of request and nearest function doc under which no call is made
    name_scale: float = 10.0  # score added to a function name per unit of its doc's similarity below the best's
    # the untrained base wanted more_bias 8 and copy_bias 4; the packaged function-calling adapter does best without
    more_bias: float = 0.0  # another call / array item while the request's values wait (its negative: stop)
    copy_bias: float = 0.0  # a token that keeps a value a copy of the request (twice that toward an unused value)
    max_new_tokens: int = 384
    relevance: bool = True  # False: no embedder; the model alone decides between a call and no call
    mentioned_only: bool = True  # optional arguments only where the request mentions them (False: any)
    # the packaged adapter was trained on no-call pairs: letting it decline above the floor lifted our held-out
    # no-call pairs from 21 to 37 of 41 and changed no other answer (docs/toolcalls.md); the untrained base wants False
    decline: bool = True  # above the floor the model may still answer no call
    grammar: bool = True  # False: free greedy decoding, calls parsed from the text (to measure what the grammar adds)

    def override(self, items: Sequence[str]) -> ToolSettings:
        """These settings with `name=value` items applied (`gorilla eval bfcl --setting more_bias=8`); a value is
        read as JSON (numbers, true/false); an unknown name or a value of another type is one GorillaError."""
        values = {}
        for item in items:
            name, sep, raw = item.partition("=")
            current = getattr(self, name) if name in self.__dataclass_fields__ else None
            try:
                value = json.loads(raw) if sep else None
            except ValueError:
                value = None
            if current is None or not (type(value) is type(current) or (type(current), type(value)) == (float, int)):
                known = ", ".join(self.__dataclass_fields__)
                raise GorillaError(f"--setting {item!r}: expected NAME=VALUE with NAME one of {known} and a value of "
                                   "its type")
            values[name] = type(current)(value)
        return dataclasses.replace(self, **values)


@dataclass(frozen=True)
class ToolAnswer:
    """The calls the model made (empty: none) and its raw text."""

    calls: list[ToolCall] = field(default_factory=list)
    text: str = ""


def call_tools(backend: Backend, messages: Sequence[Mapping[str, Any]], functions: Sequence[FunctionSpec],
               tool_choice: str | Mapping[str, Any] = "auto", *, parallel: bool = True,
               settings: ToolSettings | None = None, cancel: Any = None) -> ToolAnswer:
    """The model's calls for the last user turn of `messages`, as OpenAI's tool_choice allows: "auto" (a call or
    none), "none" (no call), "required" (at least one call), or {"name": ...} / {"function": {"name": ...}}
    (a call of that function)."""
    settings = settings or ToolSettings()
    if len(functions) > MAX_TOOLS:
        raise GorillaError(f"tools: at most {MAX_TOOLS} functions, got {len(functions)}")
    callable_, allow_none = _choice(tool_choice, functions)
    if not callable_:
        return ToolAnswer([], "[]")
    request = last_user_text(messages)
    if backend.steerable and not settings.grammar:
        return _free(backend, messages, callable_, settings)
    if backend.steerable and settings.relevance:  # a local model: steer it
        return _local(backend, messages, callable_, allow_none, parallel, settings, request, cancel)
    calls, text = backend.call_tools(ToolRequest(tuple(messages), tuple(callable_), allow_none, parallel,
                                                 max_new_tokens=settings.max_new_tokens, cancel=cancel))
    return ToolAnswer(calls, text)


def _local(backend: Backend, messages: Sequence[Mapping[str, Any]], functions: list[FunctionSpec], allow_none: bool,
           parallel: bool, settings: ToolSettings, request: str, cancel: Any) -> ToolAnswer:
    """A local model's answer: the no-call decision and the name scores from doc similarity, then the grammar."""
    from gorilla.models.constrained import CallPolicy

    sims = relevance(request, functions)
    if allow_none and max(sims) < settings.none_below:
        return ToolAnswer([], "[]")
    best = max(sims)
    policy = CallPolicy(more_bias=settings.more_bias, copy_bias=settings.copy_bias, request=request,
                        name_bias={f.name: settings.name_scale * (s - best) for f, s in zip(functions, sims, strict=True)},
                        spans=request_spans(request))
    offered = offered_parameters(request, functions) if settings.mentioned_only else {}
    calls, text = backend.call_tools(ToolRequest(tuple(messages), tuple(functions), allow_none and settings.decline,
                                                 parallel, offered=offered, max_new_tokens=settings.max_new_tokens,
                                                 cancel=cancel, policy=policy))
    return ToolAnswer(distinct(calls), text)


def distinct(calls: Sequence[ToolCall]) -> list[ToolCall]:
    """The calls without repeats of an identical call (a small model told to go on may say one thing twice;
    the same call twice never does more than once). `text` keeps what the model wrote."""
    out: list[ToolCall] = []
    for call in calls:
        if call not in out:
            out.append(call)
    return out


def _free(backend: Any, messages: Sequence[Mapping[str, Any]], functions: list[FunctionSpec],
          settings: ToolSettings) -> ToolAnswer:
    """Free greedy decoding of the same prompt, the calls read from the text (gorilla.calls: literals only; a
    call it cannot read keeps arguments None and counts wrong)."""
    from gorilla.calls import parse_function_calls
    from gorilla.prompting import tool_messages

    prompt = backend.chat_prompt(tool_messages(messages, functions))
    text = backend.generate([prompt], max_new_tokens=settings.max_new_tokens, stop=("<|im_end|>",))[0]
    calls = [ToolCall(c["name"], c["arguments"]) if c.get("arguments") is not None else ToolCall(c["name"], None)
             for c in parse_function_calls(text)]
    return ToolAnswer(calls, text)


def _choice(tool_choice: str | Mapping[str, Any], functions: Sequence[FunctionSpec]) -> tuple[list[FunctionSpec], bool]:
    """(the functions a call may name, whether no call is allowed) for an OpenAI tool_choice, checked by
    `data.tools.read_tool_choice` (the server's and the CLI's reading of it too)."""
    choice = read_tool_choice(tool_choice, functions)
    if isinstance(choice, dict):
        return [f for f in functions if f.name == choice["function"]["name"]], False
    if choice == "none":
        return [], True
    if not functions and choice == "required":
        raise GorillaError("tool_choice required: no tools given")
    return list(functions), choice == "auto"


def last_user_text(messages: Sequence[Mapping[str, Any]]) -> str:
    """The text of the last user message (what the policies read), "" when there is none."""
    for m in reversed(messages):
        if m.get("role") == "user":
            return str(m.get("content") or "")
    return ""


def relevance(request: str, functions: Sequence[FunctionSpec]) -> list[float]:
    """Cosine similarity of the request to each function's name and description (the embedded MiniLM)."""
    from gorilla.retrieval.embedder import load_embedder

    embedder = load_embedder(None)
    docs = [f"{f.name.replace('_', ' ').replace('.', ' ')}: {f.description}" for f in functions]
    vectors = embedder.encode([request, *docs])
    return [float(v @ vectors[0]) for v in vectors[1:]]


_WORD = re.compile(r"[a-z]+")
_SPAN = re.compile(r"""(?<![\w.])-?\d+(?:[.,:/]\d+)*(?![\w])|"[^"]{1,80}"|'[^']{1,80}'|(?<![\w'])(?:[A-Z][\w&'.-]*)(?:\s+(?:of\s+|de\s+|the\s+)?[A-Z][\w&'.-]*)*""")
_COMMON = frozenset("i a an the what how which who when where why is are can could would will please find get "
                    "calculate compute give tell show list check also and then".split())


def request_spans(request: str) -> tuple[str, ...]:
    """The values a request names, each once: numbers, quoted text, and runs of capitalised words (a name, a
    place, a title) other than an opening word or a common one. The decoder calls again while some of them is in
    no call yet, so a request that names three cities gets three calls."""
    spans = []
    for m in _SPAN.finditer(request):
        text = m.group(0).strip("'\"").rstrip(".,")
        first = m.start() == 0 or request[: m.start()].rstrip().endswith((".", "?", "!", ":"))
        if text[:1].isupper() and (first and " " not in text or text.lower() in _COMMON):
            continue
        if text and text not in spans:
            spans.append(text)
    return tuple(spans)


def offered_parameters(request: str, functions: Sequence[FunctionSpec]) -> dict[str, frozenset[str]]:
    """Per function, the optional parameters the request mentions: a word of the parameter's name (3 letters or
    more) shares its first letters with a word of the request (up to five, as many as the shorter word has:
    `unit` ~ `units`, `tolls` ~ `toll`), or one of its enum values appears in the request. A small model passes
    optional arguments it was not asked for; these are the ones it may pass."""
    words = _WORD.findall(request.lower())
    low = request.lower()
    out = {}
    for f in functions:
        keep = set()
        for name, schema in f.properties.items():
            if name in f.required:
                continue
            parts = [p for p in _WORD.findall(re.sub(r"([a-z])([A-Z])", r"\1 \2", name).lower()) if len(p) >= 3]
            enum = schema.get("enum") if isinstance(schema.get("enum"), list) else []
            if any(_same_stem(p, w) for p in parts for w in words) or any(
                    isinstance(v, str) and len(v) >= 3 and v.lower() in low for v in enum):
                keep.add(name)
        out[f.name] = frozenset(keep)
    return out


def _same_stem(a: str, b: str) -> bool:
    """Two words open alike: their first min(5, shorter length) letters agree, and that is 3 or more."""
    n = min(5, len(a), len(b))
    return n >= 3 and a[:n] == b[:n]


def run_bfcl(backend: Backend, cases: Sequence[Any], out: str | Path, *, settings: ToolSettings | None = None,
             progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Answer every BFCL case (`gorilla.data.bfcl.BfclCase`) not yet in `out`, appending one JSON line per case:
    `id`, `calls` ([{name, arguments}]), `text`, `seconds`. Resumable: ids already there are skipped (a line cut
    short by an interrupted run is dropped first). Every case gets tool_choice "auto" and parallel calls allowed:
    the category is BFCL's secret, not the model's."""
    from gorilla.pipeline import resume

    out = Path(out)
    if out.is_dir():
        raise GorillaError(f"--out {out}: is a directory; give the results file, e.g. {out / 'bfcl.jsonl'}")
    done = resume(out, key=lambda row: str(row["id"]))
    todo = [c for c in cases if c.id not in done]
    out.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with out.open("a", encoding="utf-8") as f:
        for n, case in enumerate(todo, start=1):
            t = time.perf_counter()
            answer = call_tools(backend, case.messages, [FunctionSpec.from_tool(d) for d in case.functions],
                                settings=settings)
            row = {"id": case.id, "calls": [c.as_dict() for c in answer.calls], "text": answer.text,
                   "seconds": round(time.perf_counter() - t, 3)}
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
            f.flush()
            if progress:
                progress(len(cases) - len(todo) + n, len(cases))
    seconds = time.perf_counter() - start
    return {"out": str(out), "cases": len(cases), "skipped": len(cases) - len(todo), "answered": len(todo),
            "seconds": round(seconds, 2), "seconds_per_case": round(seconds / len(todo), 3) if todo else None}
