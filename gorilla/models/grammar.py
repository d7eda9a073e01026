"""The call grammar: which characters may come next in an answer made of calls of given functions.

An answer is a Python list of calls, the format BFCL asks prompt-based models for:

    [get_weather(city="Paris", days=3), convert(amount=1.5, to="EUR")]      []  (no call)

The function name is one of the candidates; argument names come from its schema (in the schema's
order, every required one, no unknown one, the optional ones a caller offers); values follow their
declared types (integers, numbers, booleans, None, strings, enums, arrays, nested objects written as
dicts with their schema's keys); free text appears only inside string values. Spacing is canonical
(`, ` between items, `=` and `: ` without slack), so a model never spends a choice on layout.

The machine is a stack of frames, one per open construct; `step` feeds one character and returns
the new state or None when the character breaks the grammar. States are immutable tuples, so the
decoder can try a token's characters on a copy and keep or drop the result. Finished values are
built on the way (the machine's result is the list of `ToolCall`s, no parsing of the text after).
Pure Python, no torch: the token side lives in gorilla.models.constrained.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from gorilla.data.functions import FunctionSpec, ToolCall
from gorilla.prompting import literal

MAX_STRING = 160  # characters in one string value
MAX_ITEMS = 12  # items in one array, keys in one free dict
MAX_DIGITS = 16
_DIGITS = frozenset("0123456789")
_KINDS = ("string", "integer", "number", "boolean", "null", "array", "object")
_FIRST = {"string": '"', "integer": "-0123456789", "number": "-0123456789", "boolean": "TF", "null": "N",
          "array": "[", "object": "{"}
_CLOSERS = ')]}, 0"'  # what `completion` prefers: close a bracket, end a number, a minimal number, a string


@dataclass(frozen=True)
class Finish:
    """A frame's value is complete: the frame is popped and its parent receives `value`;
    `refeed`: the character that ended it (after a number) belongs to the parent."""

    value: Any
    refeed: bool = False


@dataclass(frozen=True)
class Again:
    """Replace the frame by `frames` and give the same character to the new top (a value that starts on it)."""

    frames: tuple[Any, ...]


def narrow(options: Sequence[str], typed: str, c: str) -> tuple[str, str | None] | None:
    """One character typed into a choice of literal `options`: ("more", typed) while undecided,
    ("done", option) when `typed + c` is one whole option, ("over", option) when `typed` was whole and `c`
    lies beyond it, None when `c` fits no option."""
    nt = typed + c
    live = [o for o in options if o.startswith(nt)]
    if live:
        return ("done", nt) if live == [nt] else ("more", nt)
    return ("over", typed) if typed in options else None


def kinds_of(schema: dict[str, Any]) -> tuple[str, ...]:
    """The JSON types a schema allows (all of them when it names none)."""
    kind = schema.get("type")
    if kind is None:
        return ("object",) if "properties" in schema else _KINDS
    kinds = kind if isinstance(kind, list) else [kind]
    out = tuple(k for k in _KINDS if k in kinds)
    return out or _KINDS


# --- value frames -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Value:
    """A value of `schema` not begun yet: its first character decides which frame writes it."""

    schema: dict[str, Any]

    def next_chars(self) -> frozenset[str]:
        if "enum" in self.schema or "const" in self.schema:
            return frozenset(o[0] for o in _enum_options(self.schema))
        return frozenset("".join(_FIRST[k] for k in kinds_of(self.schema)))

    def start(self, c: str) -> Any:
        """The frame that writes a value opening with `c`, or None."""
        if "enum" in self.schema or "const" in self.schema:
            return Lit(_enum_options(self.schema))
        kinds = kinds_of(self.schema)
        if c == '"' and "string" in kinds:
            return Str(quote=False)
        if c in _FIRST["integer"]:
            return Num(integer="number" not in kinds) if {"integer", "number"} & set(kinds) else None
        if c in "TF" and "boolean" in kinds:
            return Lit(("True", "False"))
        if c == "N" and "null" in kinds:
            return Lit(("None",))
        if c == "[" and "array" in kinds:
            return Array(self.schema.get("items") or {}, opened=False)
        if c == "{" and "object" in kinds:
            props = self.schema.get("properties")
            if props:
                return Keyed.of_object(self.schema)
            return FreeDict(self.schema.get("additionalProperties") if isinstance(
                self.schema.get("additionalProperties"), dict) else {})
        return None

    def feed(self, c: str) -> Any:
        frame = self.start(c)
        return None if frame is None else frame.feed(c)


def _enum_options(schema: dict[str, Any]) -> tuple[str, ...]:
    values = schema["enum"] if "enum" in schema else [schema["const"]]
    return tuple(dict.fromkeys(literal(v) for v in values)) or ("None",)


@dataclass(frozen=True)
class Lit:
    """One of a few literal spellings (True/False, None, an enum's values); its value is the literal's."""

    options: tuple[str, ...]
    typed: str = ""

    def next_chars(self) -> frozenset[str]:
        return frozenset(o[len(self.typed)] for o in self.options if o.startswith(self.typed) and o != self.typed)

    def ending(self) -> tuple[Any] | None:
        """(value,) when the frame may end here (a whole option that a longer one extends), else None."""
        return (_parse_literal(self.typed),) if self.typed in self.options else None

    def feed(self, c: str) -> Any:
        res = narrow(self.options, self.typed, c)
        if res is None:
            return None
        kind, text = res
        if kind == "more":
            return (replace(self, typed=text),)
        return Finish(_parse_literal(text), refeed=kind == "over")


def _parse_literal(text: str) -> Any:
    """The value of a literal this module wrote (json reads all but Python's three names)."""
    names = {"True": True, "False": False, "None": None}
    if text in names:
        return names[text]
    return json.loads(text)


@dataclass(frozen=True)
class Str:
    """A double-quoted string, no backslashes or line breaks, at most MAX_STRING characters."""

    text: str = ""
    quote: bool = True  # the opening quote was written

    def next_chars(self) -> frozenset[str] | None:
        if not self.quote:
            return frozenset('"')
        return frozenset('"') if len(self.text) >= MAX_STRING else None

    def feed(self, c: str) -> Any:
        if not self.quote:
            return (replace(self, quote=True),) if c == '"' else None
        if c == '"':
            return Finish(self.text)
        if c in "\\\n\r" or ord(c) < 32 or len(self.text) >= MAX_STRING:
            return None
        return (replace(self, text=self.text + c),)


@dataclass(frozen=True)
class Num:
    """An integer (`-?digits`) or a number (`-?digits(.digits)?`), no leading zeros; it ends at the first
    other character, which then belongs to the parent."""

    integer: bool
    text: str = ""

    def next_chars(self) -> frozenset[str]:
        t = self.text
        full = sum(ch in _DIGITS for ch in t) >= MAX_DIGITS
        digits: frozenset[str] = frozenset() if t.lstrip("-") == "0" or full else _DIGITS
        if not t:
            return digits | {"-"}
        if not self.integer and t[-1] in _DIGITS and "." not in t and not full:  # room for a digit after the point
            return digits | {"."}
        return digits

    def ending(self) -> tuple[Any] | None:
        """(value,) once the text is a whole number, else None."""
        t = self.text
        return ((float(t) if "." in t else int(t)),) if t and t[-1] in _DIGITS else None

    def feed(self, c: str) -> Any:
        if c in self.next_chars():
            return (replace(self, text=self.text + c),)
        end = self.ending()
        return None if end is None else Finish(end[0], refeed=True)


@dataclass(frozen=True)
class Array:
    """`[item, item]`: items of the `items` schema, at most MAX_ITEMS."""

    items: dict[str, Any]
    opened: bool = True
    values: tuple[Any, ...] = ()
    typed: str | None = None  # text typed of ", " / "]" after an item; None: an item or "]" may start

    def _options(self) -> tuple[str, ...]:
        return (", ", "]") if len(self.values) < MAX_ITEMS else ("]",)

    def next_chars(self) -> frozenset[str] | None:
        if not self.opened:
            return frozenset("[")
        if self.typed is None:
            first = Value(self.items).next_chars() or frozenset()
            return first | {"]"} if len(self.values) < MAX_ITEMS else frozenset("]")
        if self.typed == ", ":
            return Value(self.items).next_chars()
        return frozenset(o[len(self.typed)] for o in self._options() if o.startswith(self.typed))

    def feed(self, c: str) -> Any:
        if not self.opened:
            return (replace(self, opened=True),) if c == "[" else None
        if self.typed == ", " or (self.typed is None and c != "]"):
            if len(self.values) >= MAX_ITEMS:
                return None
            return Again((replace(self, typed=None), Value(self.items)))
        if self.typed is None:  # c == "]"
            return Finish(list(self.values))
        res = narrow(self._options(), self.typed, c)
        if res is None:
            return None
        kind, text = res
        if text == "]" and kind == "done":
            return Finish(list(self.values))
        return (replace(self, typed=text),) if kind == "more" or text == ", " else None

    def receive(self, value: Any) -> Array:
        return replace(self, values=(*self.values, value), typed="")


@dataclass(frozen=True)
class Keyed:
    """Named arguments of a call (`a=1, b="x")`) or the keys of an object of known properties
    (`{"a": 1, "b": "x"}`): names in schema order, every required one, optional ones only if offered."""

    names: tuple[str, ...]
    schemas: tuple[dict[str, Any], ...]
    required: tuple[bool, ...]
    offered: tuple[bool, ...]
    dict_style: bool
    next_index: int = 0
    values: tuple[tuple[str, Any], ...] = ()
    typed: str = ""
    opened: bool = True

    @classmethod
    def of_call(cls, spec: FunctionSpec, offered: frozenset[str] | None) -> Keyed:
        """The arguments of `spec`'s call, opened after `name(`; `offered` None offers every optional one."""
        names = tuple(spec.properties)
        req = set(spec.required)
        return cls(names, tuple(spec.properties[n] for n in names), tuple(n in req for n in names),
                   tuple(n in req or offered is None or n in offered for n in names), dict_style=False)

    @classmethod
    def of_object(cls, schema: dict[str, Any]) -> Keyed:
        """A dict of `schema`'s properties, before its `{`."""
        props = schema.get("properties") or {}
        req = set(schema.get("required") or [])
        names = tuple(props)
        return cls(names, tuple(props[n] if isinstance(props[n], dict) else {} for n in names),
                   tuple(n in req for n in names), tuple(True for _ in names), dict_style=True, opened=False)

    def options(self) -> tuple[tuple[str, int], ...]:
        """(text, index) of what may come next: a key (index) or the closer (index -1)."""
        sep = ", " if self.values else ""
        out = []
        for j in range(self.next_index, len(self.names)):
            if self.offered[j]:
                key = json.dumps(self.names[j], ensure_ascii=False) + ": " if self.dict_style else self.names[j] + "="
                out.append((sep + key, j))
            if self.required[j]:
                return tuple(out)
        return (*out, ("}" if self.dict_style else ")", -1))

    @property
    def closed_by(self) -> str:
        return "}" if self.dict_style else ")"

    def next_chars(self) -> frozenset[str] | None:
        if not self.opened:
            return frozenset("{")
        return frozenset(t[len(self.typed)] for t, _ in self.options() if t.startswith(self.typed))

    def feed(self, c: str) -> Any:
        if not self.opened:
            return (replace(self, opened=True),) if c == "{" else None
        options = self.options()
        res = narrow([t for t, _ in options], self.typed, c)
        if res is None or res[0] == "over":
            return None
        kind, text = res
        if kind == "more":
            return (replace(self, typed=text),)
        j = dict(options)[text]
        if j < 0:
            return Finish(dict(self.values))
        return replace(self, typed="", next_index=j + 1), Value(self.schemas[j])

    def receive(self, value: Any) -> Keyed:
        return replace(self, values=(*self.values, (self.names[self.next_index - 1], value)))

    @property
    def current(self) -> str | None:
        """The name whose value is being written (for the decoder's policies)."""
        return self.names[self.next_index - 1] if self.next_index else None


@dataclass(frozen=True)
class FreeDict:
    """`{"key": value, ...}` with free string keys (an object whose schema names no properties)."""

    values_schema: dict[str, Any]
    opened: bool = False
    items: tuple[tuple[str, Any], ...] = ()
    stage: str = "key-or-close"  # key-or-close, colon, value, more-or-close
    typed: str = ""
    key: str = ""

    def next_chars(self) -> frozenset[str] | None:
        if not self.opened:
            return frozenset("{")
        options = self._options()
        if options is None:
            return Value(self.values_schema).next_chars()
        return frozenset(o[len(self.typed)] for o in options if o.startswith(self.typed))

    def _options(self) -> tuple[str, ...] | None:
        full = len(self.items) >= MAX_ITEMS
        return {"key-or-close": ("}",) if full else ('"', "}"), "colon": (": ",),
                "more-or-close": ("}",) if full else (", ", "}"), "value": None}[self.stage]

    def feed(self, c: str) -> Any:
        if not self.opened:
            return (replace(self, opened=True),) if c == "{" else None
        if self.stage == "value":
            return Again((replace(self, stage="more-or-close"), Value(self.values_schema)))
        res = narrow(self._options() or (), self.typed, c)
        if res is None or res[0] == "over":
            return None
        kind, text = res
        if kind == "more":
            return (replace(self, typed=text),)
        if text == "}":
            return Finish(dict(self.items))
        if text == '"':
            return replace(self, typed="", stage="colon"), Str()
        if text == ", ":
            return (replace(self, typed="", stage="key-or-close", key=""),)
        return (replace(self, typed="", stage="value"),)  # ": "

    def receive(self, value: Any) -> FreeDict:
        if self.stage == "colon":
            return replace(self, key=value)
        return replace(self, items=(*self.items, (self.key, value)))


# --- the answer -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Root:
    """`[` call (`, ` call)* `]`, or `[]` when no call is a valid answer."""

    functions: tuple[FunctionSpec, ...]
    offered: tuple[frozenset[str] | None, ...]  # per function: the optional parameters a call may pass (None: all)
    allow_none: bool
    max_calls: int
    calls: tuple[ToolCall, ...] = ()
    typed: str = ""
    opened: bool = False
    done: bool = False
    pending: str = ""  # the function whose arguments are being written

    def options(self) -> tuple[str, ...]:
        if self.done:
            return ()
        names = [f.name for f in self.functions]
        if not self.calls:
            return tuple(n + "(" for n in names) + (("]",) if self.allow_none else ())
        more = tuple(", " + n + "(" for n in names) if len(self.calls) < self.max_calls else ()
        return (*more, "]")

    def next_chars(self) -> frozenset[str]:
        if not self.opened:
            return frozenset("[")
        return frozenset(o[len(self.typed)] for o in self.options() if o.startswith(self.typed))

    def feed(self, c: str) -> Any:
        if not self.opened:
            return (replace(self, opened=True),) if c == "[" else None
        res = narrow(self.options(), self.typed, c)
        if res is None or res[0] == "over":
            return None
        kind, text = res
        if kind == "more":
            return (replace(self, typed=text),)
        if text == "]":
            return (replace(self, typed="", done=True),)
        name = text.removeprefix(", ")[:-1]
        i = [f.name for f in self.functions].index(name)
        return replace(self, typed="", pending=name), Keyed.of_call(self.functions[i], self.offered[i])

    def receive(self, value: Any) -> Root:
        return replace(self, calls=(*self.calls, ToolCall(self.pending, value)), pending="")


State = tuple[Any, ...]


class CallGrammar:
    """The grammar of one answer over `functions`.

    `allow_none`: `[]` (no call) is allowed; `parallel`: up to `max_calls` calls, else exactly one;
    `offered[name]`: the optional parameters of that function a call may pass (absent: all of them).
    """

    def __init__(self, functions: Sequence[FunctionSpec], *, allow_none: bool = False, parallel: bool = False,
                 max_calls: int = 8, offered: dict[str, frozenset[str]] | None = None):
        if not functions and not allow_none:
            raise ValueError("a grammar without functions must allow no call")
        specs = tuple({f.name: f for f in functions}.values())
        offered = offered or {}
        self.start: State = (Root(specs, tuple(offered.get(f.name) for f in specs), allow_none,
                                  max_calls if parallel else 1),)

    def step(self, state: State, c: str) -> State | None:
        """The state after character `c`, or None when `c` is not allowed."""
        out = state[-1].feed(c)
        if out is None:
            return None
        if isinstance(out, Finish):
            state = (*state[:-2], state[-2].receive(out.value))
            return self.step(state, c) if out.refeed else state
        if isinstance(out, Again):
            return self.step((*state[:-1], *out.frames), c)
        return (*state[:-1], *out)

    def feed(self, state: State, text: str) -> State | None:
        """The state after `text`, or None when some character of it is not allowed."""
        for c in text:
            state = self.step(state, c)
            if state is None:
                return None
        return state

    def next_chars(self, state: State) -> frozenset[str] | None:
        """The characters allowed next (None: many, inside a string); empty once the answer is whole. A value that
        may end here (a number) adds what its parent allows after it."""
        top = state[-1]
        own = top.next_chars()
        end = top.ending() if hasattr(top, "ending") else None
        if end is None:
            return own
        after = self.next_chars((*state[:-2], state[-2].receive(end[0])))
        return None if after is None else own | after

    def done(self, state: State) -> bool:
        """The answer is whole (the list is closed): only the end of text may follow."""
        return len(state) == 1 and state[0].done

    def forced(self, state: State) -> str:
        """The text that must come next whatever the model prefers (a lone function's name, a required argument's
        name, the closer after the last one)."""
        out = []
        while len(chars := self.next_chars(state) or ()) == 1:
            c = next(iter(chars))
            state = self.step(state, c)
            out.append(c)
        return "".join(out)

    def completion(self, state: State, limit: int = 4000) -> str:
        """A short text that makes the answer whole (for a decoder out of room): close strings and brackets,
        give missing required values their smallest form."""
        out = []
        while not self.done(state):
            chars = self.next_chars(state)
            ordered = ['"'] if chars is None else [c for c in _CLOSERS if c in chars] + sorted(chars)  # None: in a string
            nxt = next(((c, s) for c in ordered if (s := self.step(state, c)) is not None), None)
            if nxt is None or len(out) >= limit:
                raise AssertionError(f"no completion after {''.join(out)!r}")
            out.append(nxt[0])
            state = nxt[1]
        return "".join(out)

    @staticmethod
    def calls(state: State) -> list[ToolCall]:
        """The calls whole so far (all of them once `done`)."""
        return list(state[0].calls)
