"""The one prompt format, shared by training and inference, and the answer parser.

A prompt is plain text, the same for every backend and for training:

    ###Instruction: <what the user wants>
    Use this API documentation for reference: <doc>      (retriever-aware only, once per doc)
    ###Output:

and the answer follows Gorilla's marker format:

    <<<domain>>>: ... <<<api_call>>>: ... <<<api_provider>>>: ... <<<explanation>>>: ... <<<code>>>: ...

Keeping both in this module is what stops training and inference from drifting apart. It also
holds the other texts a model reads or writes: the chat messages sent to OpenAI-compatible
endpoints, the `code` field of train/eval records (and reading the instruction back out of it),
the self-instruct teacher's prompt and the parser of its numbered list, and the regex of the answer
format that a vLLM endpoint enforces (`answer_regex`).
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

FIELDS = ("domain", "api_call", "api_provider", "explanation", "code")
INSTRUCTION_TAG = "###Instruction:"
OUTPUT_TAG = "###Output:"
DOC_LEAD = "Use this API documentation for reference:"
# The model's answer starts right after OUTPUT_TAG; generation stops at the next instruction.
STOP = (INSTRUCTION_TAG,)
SYSTEM = ("You are Gorilla, an assistant that answers with exactly one real API call. Answer in the format "
          "<<<domain>>>: ..., <<<api_call>>>: ..., <<<api_provider>>>: ..., <<<explanation>>>: ..., <<<code>>>: ...")

# API-entry fields worth showing the model, in order; the rest (long example code, requirements) costs tokens.
DOC_FIELDS = ("domain", "framework", "functionality", "api_name", "api_call", "description")


def render_doc(entry: Mapping[str, Any], max_chars: int = 400) -> str:
    """A compact JSON document for one API entry (or a solved example's text, passed as a string)."""
    doc = {k: entry[k] for k in DOC_FIELDS if entry.get(k) not in (None, "", [], {})}
    text = json.dumps(doc, ensure_ascii=False)
    return text if len(text) <= max_chars else text[: max_chars - 3] + "..."


def build_prompt(instruction: str, docs: Sequence[str] = ()) -> str:
    """0-shot when `docs` is empty, retriever-aware otherwise (docs are already rendered)."""
    parts = [f"{INSTRUCTION_TAG} {' '.join(instruction.split())}"]
    parts += [f"{DOC_LEAD} {d}" for d in docs]
    parts.append(OUTPUT_TAG)
    return "\n".join(parts)


def chat_messages(prompt: str) -> list[dict[str, str]]:
    """A built prompt as chat messages, so a chat endpoint reads the very text a local model would."""
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": prompt}]


def record_code(instruction: str, answer: str) -> str:
    """The `code` field of a train/eval record (upstream's format); `instruction_of` reads it back."""
    return f"{INSTRUCTION_TAG} {instruction}\n{OUTPUT_TAG} {answer}"


# Tolerant of the spacing upstream's files use around the tags (`### Instruction:`, `###Output:`).
_EVAL_INSTRUCTION = re.compile(r"###\s*Instruction:\s*(.*?)\s*###\s*Output:", re.S)
_TRAIN_INSTRUCTION = re.compile(r"""^\{\s*['"]Instruction['"]\s*:\s*(.*?),\s*['"]Output['"]\s*:""", re.S)


def instruction_of(code: str) -> str:
    """The user's instruction inside a train/eval record's `code` (or a prompt from `build_prompt`).

    Eval files write `###Instruction: ... ###Output: ...`; torchhub_train.json writes
    `{'Instruction': ..., 'Output': {...}}` (not valid Python or JSON, hence the regexes).
    """
    for pattern in (_EVAL_INSTRUCTION, _TRAIN_INSTRUCTION):
        if m := pattern.search(code):
            return m.group(1).strip().strip("'\"").strip()
    return code.strip()


def format_answer(domain: str, api_call: str, api_provider: str, explanation: str = "", code: str = "") -> str:
    """The training target; `parse_answer(format_answer(...))` gives the fields back."""
    values = {"domain": domain, "api_call": api_call, "api_provider": api_provider, "explanation": explanation, "code": code}
    return " ".join(f"<<<{k}>>>: {values[k].strip()}" for k in FIELDS if values[k].strip() or k in FIELDS[:3])


@dataclass
class ParsedAnswer:
    """Fields recovered from model text; `problems` says what could not be parsed, for reports."""

    fields: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    api_call_from_field: bool = False  # False when the call was guessed from free text

    def __getitem__(self, key: str) -> str:
        """A field's text, "" when the model did not write it."""
        return self.fields.get(key, "")

    @property
    def api_call(self) -> str:
        """The call, "" when none was found (callers score or ground it without a KeyError)."""
        return self.fields.get("api_call", "")


_MARKER = re.compile(r"<<<\s*(" + "|".join(FIELDS) + r")\s*>>>\s*:?", re.I)
_FENCE = re.compile(r"```[a-zA-Z]*\n|```")
_CALL = re.compile(r"[A-Za-z_][\w.]*\(")


def parse_answer(text: str) -> ParsedAnswer:
    """Recover the five fields from what a model wrote.

    Accepts the marker format, the dict format of torchhub's files (`{'domain': ..., 'api_call': ...}`),
    code fences, and truncated text. When no api_call marker exists, the first call expression
    in the text is taken as the call and the fact is recorded in `problems`.
    """
    out = ParsedAnswer()
    text = text.split(INSTRUCTION_TAG)[0]
    marks = list(_MARKER.finditer(text))
    if marks:
        for m, nxt in zip(marks, [*marks[1:], None], strict=True):
            key = m.group(1).lower()
            value = text[m.end(): nxt.start() if nxt else len(text)].strip().rstrip(",").strip()
            if key != "code":
                value = _FENCE.sub("", value).strip()
            out.fields.setdefault(key, value)
    elif (d := _as_dict(text)) is not None:
        out.fields.update({k: str(d[k]).strip() for k in FIELDS if k in d})
    if "code" in out.fields:
        out.fields["code"] = _FENCE.sub("", out.fields["code"]).strip()
    if out.fields.get("api_call"):
        out.fields["api_call"] = clean_call(out.fields["api_call"])
        out.api_call_from_field = True
    else:
        if m := _CALL.search(_FENCE.sub("", text)):
            out.fields["api_call"] = clean_call(_balanced_from(_FENCE.sub("", text), m.start()))
            out.problems.append("no api_call field: took the first call expression in the text")
        else:
            out.problems.append("no api_call found")
    out.problems += [f"missing {k}" for k in FIELDS if k not in out.fields and k != "api_call"]
    return out


def _as_dict(text: str) -> dict | None:
    """The `{...}` in the text as a dict (torchhub's answer format), parsed without running anything."""
    s = text.strip()
    start, end = s.find("{"), s.rfind("}")
    if start < 0 or end <= start:
        return None
    try:
        d = ast.literal_eval(s[start: end + 1])  # literal_eval never executes code
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return _loose_dict(s[start: end + 1])
    return d if isinstance(d, dict) else None


_LOOSE_KEY = re.compile(r"""['"](domain|api_call|api_provider|explanation|code)['"]\s*:\s*""")


def _loose_dict(s: str) -> dict | None:
    """Dict-looking text with unbalanced quotes (common in upstream and small-model output)."""
    keys = list(_LOOSE_KEY.finditer(s))
    if not keys:
        return None
    out = {}
    for m, nxt in zip(keys, [*keys[1:], None], strict=True):
        value = s[m.end(): nxt.start() if nxt else len(s)].strip().rstrip("},").strip().rstrip(",").strip()
        out[m.group(1)] = value.strip("'\"")
    return out


_CHAINED = re.compile(r"[ \t]*\.[ \t]*[A-Za-z_][\w.]*[ \t]*\(")  # `.execute(` after a call's closing parenthesis


def _balanced_from(text: str, start: int, chained: bool = True) -> str:
    """The call expression starting at `start`, up to its matching parenthesis (or the line end), with the calls
    chained onto it (`service.users().messages().list(userId='me').execute()`: API Zoo's Google APIs) unless
    `chained` is False."""
    depth, quote, i = 0, "", start
    while i < len(text):
        c = text[i]
        if quote:
            if c == quote and text[i - 1] != "\\":
                quote = ""
        elif c in "'\"":
            quote = c
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                if chained and (more := _CHAINED.match(text, i + 1)):
                    i = more.end() - 1  # on to the chained call's "("
                    continue
                return text[start: i + 1]
        elif c == "\n" and depth == 0:
            break
        i += 1
    return text[start:].split("\n")[0]


def first_call(call: str) -> str:
    """A cleaned call without the calls chained onto it: `X.from_pretrained('m').to(device)` -> its first call."""
    m = _CALL.search(call)
    return _balanced_from(call, m.start(), chained=False).strip() if m else call


def clean_call(call: str) -> str:
    """Drop an assignment (`model = ...`), surrounding quotes, fences, escaped quotes and trailing junk."""
    call = _FENCE.sub("", call).replace('\\"', '"').replace("\\'", "'")
    call = call.strip().strip("'\"` ").strip()
    if m := re.match(r"^[A-Za-z_][\w.]*\s*=\s*(?=[A-Za-z_])", call):
        call = call[m.end():]
    if m := _CALL.search(call):
        call = _balanced_from(call, m.start())
    return call.strip()


# --- self-instruct: the teacher's prompt and the list it writes -------------------------------

TEACHER_HEADER = (
    "Below, each API is followed by requests that real users typed when they needed it. A request describes "
    "the user's own task and data in plain words. It never names the API, the model, its architecture or "
    "its repository. Write {n} new, varied requests for the last API.\n"
)
# The teacher has finished its list when it starts another API or leaves a gap.
TEACHER_STOP = ("\nAPI:", "\n\n\n")
TEACHER_DOC_FIELDS = ("domain", "functionality", "api_call", "description")


class TeacherSeed(Protocol):
    """A hand-written example shown to the teacher (`gorilla.apibench.selfinstruct.Seed` is one)."""

    @property
    def api(self) -> Mapping[str, Any]: ...

    @property
    def instructions(self) -> Sequence[str]: ...


def teacher_doc(api: Mapping[str, Any], max_description: int = 300) -> str:
    """The API as the teacher sees it: what it does, not how it is installed (long text costs tokens)."""
    doc = {k: api[k] for k in TEACHER_DOC_FIELDS if api.get(k)}
    if len(doc.get("description", "")) > max_description:
        doc["description"] = doc["description"][:max_description].rsplit(" ", 1)[0] + "..."
    return json.dumps(doc, ensure_ascii=False)


def teacher_prompt(api: Mapping[str, Any], seeds: Sequence[TeacherSeed], n: int) -> str:
    """Few-shot: each seed API with its requests, then `api` and `1.`, so the teacher continues the list."""
    parts = [TEACHER_HEADER.format(n=n)]
    for s in seeds:
        numbered = "\n".join(f"{i}. {t}" for i, t in enumerate(s.instructions, 1))
        parts.append(f"API: {teacher_doc(s.api)}\nRequests:\n{numbered}\n")
    parts.append(f"API: {teacher_doc(api)}\nRequests:\n1.")
    return "\n".join(parts)


_NUMBERED = re.compile(r"(?:^|\n)\s*\d{1,2}[.)]\s*")


def parse_requests(text: str) -> list[str]:
    """The numbered list the teacher continued (its output starts right after `1.`), one line per request."""
    out = []
    for item in _NUMBERED.split("1. " + text.strip()):
        line = " ".join(item.split("\n\n")[0].split()).strip().strip('"').strip()
        if line:
            out.append(line)
    return out


def answer_regex(calls: Sequence[str]) -> str:
    """Gorilla's marker format with api_call exactly one of `calls` (for vLLM's regex-guided decoding).

    The other fields are free text without `<` so a marker cannot be forged inside them; the
    call is followed directly by the provider marker, so nothing can extend it.
    """
    if not calls:
        raise ValueError("answer_regex needs at least one call")
    alternatives = "|".join(_escape(c) for c in sorted(set(calls)))
    free = "[^<]*"
    domain, call, provider, explanation, code = FIELDS
    return (f" ?<<<{domain}>>>:{free}<<<{call}>>>: ?(?:{alternatives}),? ?<<<{provider}>>>:{free}"
            f"(<<<{explanation}>>>:{free}(<<<{code}>>>:{free})?)?")


_SPECIAL = set("\\.^$*+?()[]{}|/-")


def _escape(text: str) -> str:
    """Backslash only the regex metacharacters (portable across Python, xgrammar and outlines)."""
    return "".join("\\" + c if c in _SPECIAL else c for c in text)


# --- function calling: the prompt a local model reads before its list of calls -------------------

TOOL_SYSTEM = ("You are an expert in calling functions. Given the functions below and the user's request, answer "
               "with the calls that do what the user asks, as a Python list: [func_name(arg=value, ...)]. Take the "
               "argument values from the request. A request that asks for several things gets several calls: "
               "\"Weather in Oslo and in Rome?\" is answered [get_weather(city=\"Oslo\"), get_weather(city=\"Rome\")]. "
               "If none of the functions fits the request, answer [].")
_PY_TYPES = {"integer": "int", "number": "float", "string": "str", "boolean": "bool", "object": "dict", "null": "None"}


def type_hint(schema: Mapping[str, Any]) -> str:
    """A parameter's type as a Python hint (`int`, `list[str]`, `"cm" | "m"` for an enum), short on purpose."""
    if "enum" in schema and isinstance(schema["enum"], list):
        return " | ".join(json.dumps(v, ensure_ascii=False) for v in schema["enum"][:12])
    kind = schema.get("type")
    if isinstance(kind, list):
        return " | ".join(_PY_TYPES.get(k, k) for k in kind)
    if kind == "array":
        items = schema.get("items")
        return f"list[{type_hint(items)}]" if isinstance(items, Mapping) and items else "list"
    return _PY_TYPES.get(kind, "Any") if isinstance(kind, str) else "Any"


def function_doc(name: str, description: str, parameters: Mapping[str, Any], max_chars: int = 240) -> str:
    """One function as a Python stub: the signature (required arguments first, optional ones `= None`) and a
    docstring with the description and each argument's own line (descriptions cut to `max_chars`)."""
    props = parameters.get("properties") or {}
    required = [p for p in parameters.get("required") or [] if p in props]
    args = [f"{p}: {type_hint(props[p])}" for p in required]
    args += [f"{p}: {type_hint(s)} = None" for p, s in props.items() if p not in required]
    lines = [f"def {name}({', '.join(args)}):", f'    """{_cut_text(description, max_chars)}']
    for p, s in props.items():
        text = _cut_text(str(s.get("description") or ""), max_chars)
        if isinstance(s.get("items"), Mapping) and s["items"].get("properties"):
            text += f" Items: dict with keys {', '.join(s['items']['properties'])}."
        if s.get("properties"):
            text += f" Keys: {', '.join(s['properties'])}."
        if text:
            lines.append(f"    {p}: {text.strip()}")
    lines[-1] += '"""'
    return "\n".join(lines)


def _cut_text(text: str, max_chars: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= max_chars else text[: max_chars - 3].rsplit(" ", 1)[0] + "..."


class FunctionLike(Protocol):
    """A function doc (`gorilla.data.functions.FunctionSpec` is one)."""

    @property
    def name(self) -> str: ...

    @property
    def description(self) -> str: ...

    @property
    def parameters(self) -> Mapping[str, Any]: ...


# what a tool turn says when no offered function fits (or tool_choice is "none"): the grammar's own "no call"
# text is "[]", which the BFCL runner keeps; an OpenAI client shows content, so it gets a sentence
NO_CALL_REPLY = "None of the offered functions fits this request, so no function was called."


def literal(value: Any) -> str:
    """A value as the answer writes it (Python literal syntax: True, None, double-quoted strings)."""
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, float) and "e" in repr(value):  # the grammar's numbers have no exponent: 1.8e-05 -> 0.000018
        return format(Decimal(repr(value)), "f")
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(str(k), ensure_ascii=False)}: {literal(v)}" for k, v in value.items()) + "}"
    return json.dumps(str(value), ensure_ascii=False)


def answer_text(calls: Sequence[tuple[str, Mapping[str, Any]]], functions: Sequence[FunctionLike] = ()) -> str:
    """Calls, as (name, arguments), written as the call grammar writes them (`[f(a=1, b="x")]`, arguments in the
    order of their function's schema when it is among `functions`): the target a model is trained on is the text
    the decoder would produce, and an earlier turn's calls read the same in a prompt."""
    specs = {f.name: f for f in functions}
    out = []
    for name, arguments in calls:
        order = list(specs[name].parameters.get("properties") or {}) if name in specs else []
        keys = sorted(arguments, key=lambda k: order.index(k) if k in order else len(order))
        out.append(f"{name}({', '.join(f'{k}={literal(arguments[k])}' for k in keys)})")
    return "[" + ", ".join(out) + "]"


def tool_messages(messages: Sequence[Mapping[str, Any]], functions: Sequence[FunctionLike]) -> list[dict[str, str]]:
    """The chat a local model answers with calls: a system message with TOOL_SYSTEM and the functions as Python
    stubs (the caller's own system text after them), then the conversation's other turns, an assistant's earlier
    OpenAI `tool_calls` written as the calls it would have written (`answer_text`), so a later turn sees them."""
    docs = "\n\n".join(function_doc(f.name, f.description, f.parameters) for f in functions)
    system = [str(m.get("content") or "") for m in messages if m.get("role") == "system"]
    head = "\n\n".join([TOOL_SYSTEM, "Functions:\n" + docs if functions else "There are no functions.", *system])
    rest = [{"role": str(m.get("role")), "content": _turn_text(m, functions)} for m in messages
            if m.get("role") != "system"]
    return [{"role": "system", "content": head}, *rest]


def _turn_text(message: Mapping[str, Any], functions: Sequence[FunctionLike]) -> str:
    """A turn's text; an assistant turn's tool_calls (OpenAI's shape, arguments a JSON string) after its text."""
    text = str(message.get("content") or "")
    calls = message.get("tool_calls") if message.get("role") == "assistant" else None
    if not calls:
        return text
    read = []
    for c in calls:
        try:
            args = json.loads(c["function"]["arguments"])
        except (KeyError, TypeError, ValueError):
            args = None
        read.append((str(c.get("function", {}).get("name", "")), args if isinstance(args, dict) else {}))
    return "\n".join(t for t in (text, answer_text(read, functions)) if t)


def render_chat(tokenizer: Any, messages: Sequence[Mapping[str, Any]]) -> str:
    """Chat messages as a model's prompt, ready for the assistant's answer: the tokenizer's own chat template when
    it has one, else ChatML (the embedded SmolLM2's template, and Qwen's). Training and inference both call this."""
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True)
    return chatml(messages)


def chatml(messages: Sequence[Mapping[str, Any]]) -> str:
    """Chat messages in ChatML (`<|im_start|>role ... <|im_end|>`), then the assistant's turn opened."""
    turns = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
    return turns + "<|im_start|>assistant\n"
