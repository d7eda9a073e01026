"""API calls: parsing them and saying when two are the same. Every other module asks this one.

Two identities, for two questions:
- `normalize_call(text)`: the same text, modulo whitespace and quote style. No parsing, so it is
  cheap and total (shell commands too): retrieval groups database entries by it, the pipeline
  grounds answers by it, strict scoring's verbatim rule and training's held-out APIs use it.
- `call_key(text)`: the same API, read from the call alone (no hub name: one's own hubs get the same
  rules). A call naming a tfhub.dev model is that handle, a `torch.hub.load` call its `repo:model`,
  anything else the parsed call with keyword order ignored. The builder merges records by it,
  `apibench diff` compares databases by it, self-instruct keys its teacher text by it.

Two parsed forms, for two jobs (both with the installed tree-sitter-python grammar):
- `SourceCall` (`find_calls`, `parse_source_call`): the call as written, each argument's source
  text, so the builder can read doc code, rewrite a call and write it back.
- `BoundCall` (`parse_bound_call`): positional arguments bound to parameter names and values
  normalised (string literals by value), so strict scoring can compare argument by argument.

And one reader of function-calling answers (BFCL): `parse_function_calls(text)` finds every call
in a model's text and reads its keyword arguments as JSON-like values.

Imports nothing from gorilla and never torch; tree-sitter loads on the first parse.
"""

from __future__ import annotations

import ast
import re
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tree_sitter import Node, Parser

ARG_SEP = ", "
_SPACE = re.compile(r"\s+")
_STRING = re.compile(r"""[rRuU]?(['"])(.*)\1""", re.S)
_TFHUB = re.compile(r"https?://tfhub\.dev/([^'\"\s?)]+)")
# torch.hub's `owner/repo:ref` selects a git ref of the same repository: the same API.
_HUB_REF = re.compile(r"^([\w.-]+/[\w.-]+):[\w./-]+$")
# Parameter names of positional arguments, so that `load('a/b', 'm')` binds like `load(repo_or_dir='a/b', model='m')`.
SIGNATURES: dict[str, tuple[str, ...]] = {
    "torch.hub.load": ("repo_or_dir", "model"),
    "hub.KerasLayer": ("handle",),
    "hub.load": ("handle",),
    "pipeline": ("task", "model"),
    ".from_pretrained": ("pretrained_model_name_or_path",),
}


def normalize_call(call: str) -> str:
    """The call's text without any whitespace (inside strings too) and with `"` read as `'`.

    Upstream writes one API with varying spacing and quotes (TF Hub: 80 spellings of 77 calls);
    this is the cheapest identity that sees through both, and it needs no parse.
    """
    return _SPACE.sub("", call).replace('"', "'")


_local = threading.local()


def _parser() -> Parser:
    """One parser per thread (a tree-sitter parser is not meant to be shared between threads)."""
    parser = getattr(_local, "parser", None)
    if parser is None:
        import tree_sitter_python
        from tree_sitter import Language, Parser

        parser = _local.parser = Parser(Language(tree_sitter_python.language()))
    return parser


def _text(node: Node, src: bytes) -> str:
    """A node's source text (tree-sitter gives byte offsets into the UTF-8 source)."""
    return src[node.start_byte: node.end_byte].decode()


def string_value(value: str) -> str | None:
    """The content of a plain string literal (`'x'` or `"x"`), else None."""
    m = _STRING.fullmatch(value)
    return m.group(2) if m else None


def _squash(text: str) -> str:
    """Source text with whitespace outside strings removed, so formatting never changes a key.

    Double quotes become single ones when the text has no single quote to clash with.
    """
    out, quote = [], ""
    for i, c in enumerate(text):
        if quote:
            out.append(c)
            if c == quote and text[i - 1] != "\\":
                quote = ""
        elif c in "'\"":
            quote = c
            out.append(c)
        elif not c.isspace():
            out.append(c)
    return "".join(out).replace('"', "'") if '"' in text and "'" not in text else "".join(out)


def _statement_call(src: bytes, *, lenient: bool) -> Node | None:
    """The call node `src` consists of, or None when it is not one clean call statement.

    Strict (scoring): exactly one call expression. Lenient (builder, doc code): also the right side
    of `x = call(...)` and the first call of `a(...), b(...)` (upstream lists model and tokenizer so).
    """
    root = _parser().parse(src).root_node
    if root.has_error or root.named_child_count != 1 or root.named_children[0].type != "expression_statement":
        return None
    parts = root.named_children[0].named_children
    if not lenient and len(parts) != 1:
        return None
    node = parts[0] if parts else None
    if lenient and node is not None and node.type == "assignment":
        node = node.child_by_field_name("right")
    if node is None or node.type != "call":
        return None
    arguments = node.child_by_field_name("arguments")
    return node if arguments is not None and arguments.type == "argument_list" else None


@dataclass(frozen=True)
class SourceCall:
    """A call as written: dotted function name, positional and keyword arguments as source text.

    Whitespace outside strings is dropped from every text (`_squash`), so layout never matters.
    """

    name: str
    args: tuple[str, ...]
    kwargs: tuple[tuple[str, str], ...]
    line: int = 1  # 1-based line of the call inside the parsed text

    def kw(self, key: str) -> str | None:
        """The text of keyword argument `key`, or None when the call does not pass it."""
        return next((v for k, v in self.kwargs if k == key), None)

    def text(self) -> str:
        """The call written back in one canonical line."""
        parts = [*self.args, *(f"{k}={v}" for k, v in self.kwargs)]
        return f"{self.name}({ARG_SEP.join(parts)})"

    def sorted_text(self) -> str:
        """The call's text with its keyword arguments in name order: the same call however they are ordered."""
        return SourceCall(self.name, self.args, tuple(sorted(self.kwargs))).text()


def _splat_kwargs(splat: Node, src: bytes) -> list[tuple[str, str]]:
    """`**{'topN': 6}` as `[('topN', '6')]`; a splat that is not a literal dict of string keys stays `('**', text)`."""
    out = []
    for pair in splat.named_children[0].named_children:
        k, v = pair.child_by_field_name("key"), pair.child_by_field_name("value")
        key = string_value(_text(k, src)) if k else None
        if key is None or v is None:
            out.append(("**", _squash(_text(splat, src))))
            break
        out.append((key, _squash(_text(v, src))))
    return out


def _source_call(node: Node, src: bytes) -> SourceCall:
    """A call node as written; `**{'k': v}` counts as `k=v`, comments are skipped."""
    args: list[str] = []
    kwargs: list[tuple[str, str]] = []
    for a in node.child_by_field_name("arguments").named_children:
        if a.type == "keyword_argument":
            value = _squash(_text(a.child_by_field_name("value"), src))
            kwargs.append((_text(a.child_by_field_name("name"), src), value))
        elif a.type == "dictionary_splat" and a.named_children and a.named_children[0].type == "dictionary":
            kwargs += _splat_kwargs(a, src)
        elif a.type != "comment":
            args.append(_squash(_text(a, src)))
    name = _squash(_text(node.child_by_field_name("function"), src))
    return SourceCall(name, tuple(args), tuple(kwargs), node.start_point[0] + 1)


def _walk(root: Node) -> list[Node]:
    """Every node under `root`, in source order."""
    found, stack = [], [root]
    while stack:
        node = stack.pop()
        found.append(node)
        stack.extend(reversed(node.children))
    return found


def find_calls(code: str, names: tuple[str, ...]) -> list[SourceCall]:
    """Every call in `code` whose function's dotted name ends with one of `names` (parse errors tolerated)."""
    src = code.encode()
    found = []
    for node in _walk(_parser().parse(src).root_node):
        arguments = node.child_by_field_name("arguments") if node.type == "call" else None
        if arguments is None or arguments.type != "argument_list":
            continue
        fname = _squash(_text(node.child_by_field_name("function"), src))
        if any(fname == n or fname.endswith("." + n) for n in names):
            found.append(_source_call(node, src))
    return sorted(found, key=lambda c: c.line)


def string_assignments(code: str) -> dict[str, str]:
    """`name = 'literal'` assignments in `code` (first wins), to resolve variables passed to a load call."""
    src = code.encode()
    out: dict[str, str] = {}
    for node in _walk(_parser().parse(src).root_node):
        if node.type != "assignment":
            continue
        left, right = node.child_by_field_name("left"), node.child_by_field_name("right")
        if left is not None and right is not None and left.type == "identifier" and right.type == "string":
            value = string_value(_text(right, src))
            if value is not None:
                out.setdefault(_text(left, src), value)
    return out


def parse_source_call(text: str) -> SourceCall | None:
    """The call `text` consists of (`x = ` in front allowed), or None if it is not one clean call."""
    src = text.strip().encode()
    node = _statement_call(src, lenient=True)
    return None if node is None else _source_call(node, src)


@dataclass(frozen=True)
class BoundCall:
    """A call for matching: API name and its arguments keyed by parameter name (`#i` when unknown).

    Each value is (holds a string literal, normalised value): strings by value, anything else by its
    text under `normalize_call`. Splats and comments are left out.
    """

    name: str
    args: dict[str, tuple[bool, str]]


def _positional_names(api_name: str) -> tuple[str, ...]:
    """Parameter names of the API's positional arguments (`.from_pretrained` for any class), else ()."""
    if api_name in SIGNATURES:
        return SIGNATURES[api_name]
    return next((v for k, v in SIGNATURES.items() if k.startswith(".") and api_name.endswith(k)), ())


def _has_string(node: Node) -> bool:
    """Whether a string literal sits anywhere in the value (`f('x')` does): such values identify an API."""
    return node.type == "string" or any(_has_string(c) for c in node.named_children)


def _bound_value(node: Node, src: bytes) -> tuple[bool, str]:
    """(contains a string literal, normalised value): strings by value, anything else by its text."""
    text = _text(node, src)
    if node.type in ("string", "concatenated_string") and not any(c.type == "interpolation" for c in node.children):
        try:
            value = ast.literal_eval(text)  # a literal only: never evaluates code
            if isinstance(value, str):
                return True, value
        except (ValueError, SyntaxError):
            pass
    return _has_string(node), normalize_call(text)


def parse_bound_call(text: str) -> BoundCall | None:
    """The call in `text`, or None unless it is exactly one error-free call expression.

    A torch.hub repo's `:ref` is dropped: a tag or branch of the same repository is the same API.
    """
    src = text.strip().encode()
    node = _statement_call(src, lenient=False)
    if node is None:
        return None
    name = _SPACE.sub("", _text(node.child_by_field_name("function"), src))
    names = _positional_names(name)
    args: dict[str, tuple[bool, str]] = {}
    position = 0
    for arg in node.child_by_field_name("arguments").named_children:
        if arg.type == "keyword_argument":
            args[_text(arg.child_by_field_name("name"), src)] = _bound_value(arg.child_by_field_name("value"), src)
        elif arg.type not in ("list_splat", "dictionary_splat", "comment"):
            args[names[position] if position < len(names) else f"#{position}"] = _bound_value(arg, src)
            position += 1
    if name == "torch.hub.load" and (repo := args.get("repo_or_dir")) and repo[0]:
        args["repo_or_dir"] = (True, _HUB_REF.sub(r"\1", repo[1]))
    return BoundCall(name, args)


def torchhub_key(call: SourceCall) -> str | None:
    """`repo:model` of a torch.hub.load call, the repo lower-cased and without its `:tag`.

    The model is the `model=` keyword, else the second positional; an extra positional string
    after it (MEAL-V2's `'meal_v2', 'mealv2_resnest50'`) names the variant and wins.
    """
    repo = call.kw("repo_or_dir") or (call.args[0] if call.args else None)
    if repo is None or string_value(repo) is None:
        return None
    rest = call.args[1:] if call.kw("repo_or_dir") is None else call.args
    model = call.kw("model")
    strings = [s for s in (string_value(a) for a in rest) if s is not None]
    if model is not None and string_value(model) is not None:
        name = string_value(model)
    else:
        name = strings[1] if len(strings) > 1 else strings[0] if strings else ""
    return f"{string_value(repo).split(':')[0].lower()}:{name}"


def tfhub_handle(text: str) -> str | None:
    """`publisher/name/version` of the tfhub.dev URL inside a call, or None."""
    m = _TFHUB.search(text)
    return m.group(1).rstrip("/") if m else None


def call_key(api_call: str) -> str | None:
    """The identity of the API a call loads, for merging and for diffs (None when it cannot be parsed). Read from
    the call alone: on the three APIBench databases it gives the keys the per-hub rules it replaced gave."""
    if handle := tfhub_handle(api_call):
        return handle
    call = parse_source_call(api_call)
    if call is None:
        return None
    if call.name == "torch.hub.load":
        return torchhub_key(call)
    return call.sorted_text()


# A call starts at a dotted name written right before "(" (not after a dot or a word character: `x.y(` starts at x).
_CALL_START = re.compile(r"(?<![\w.])[^\W\d]\w*(?:\.[^\W\d]\w*)*\(")
# What the span scan looks at: an escaped character, a triple quote, a quote, a parenthesis.
_SCAN_TOKEN = re.compile(r"\\.|'''|\"\"\"|['\"()]", re.S)
# A call's text going on as a bigger expression: `.attr`, `(...)`, `[...]` right after its `)`.
_CONTINUED = re.compile(r"\.[^\W\d]|[(\[]")


class NotLiteral(ValueError):
    """A value that is not a plain literal (a name, an expression, an f-string with fields): never evaluated."""


def _call_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each outermost `name(...)` in `text`, in one linear pass.

    Outside a call, quotes and parentheses are prose and ignored; inside one, strings are tracked so
    a `)` in a string closes nothing. An unclosed call (a cut-off answer) yields the calls it contains.
    """
    starts = {m.end() - 1: m.start() for m in _CALL_START.finditer(text)}
    spans: list[tuple[int, int]] = []
    stack: list[int] = []  # open parentheses inside a call (the call's own first)
    quote = ""
    for m in _SCAN_TOKEN.finditer(text):
        token, at = m.group(), m.start()
        if quote:  # only the string's own quote ends it; `'a'''` is 'a' then ''
            quote = "" if token == quote or (len(quote) == 1 and token[0] == quote) else quote
        elif not stack and at not in starts:
            continue
        elif token == "(":
            stack.append(at)
        elif token == ")":
            opened = stack.pop()
            if opened in starts:
                spans.append((starts[opened], m.end()))
        elif token[0] in "'\"":
            quote = token
    spans.sort()
    outer: list[tuple[int, int]] = []
    for start, end in spans:
        if not outer or start >= outer[-1][1]:
            outer.append((start, end))
    return outer


def _string_value(node: Node, src: bytes) -> str:
    """A string literal's value from its tree-sitter parts: escapes decoded, raw strings as written."""
    prefix = _text(node.children[0], src).rstrip("'\"").lower()
    if "b" in prefix or any(c.type == "interpolation" for c in node.children):
        raise NotLiteral("bytes or an f-string with fields")
    out = []
    for content in (c for c in node.children if c.type == "string_content"):
        if "r" in prefix:
            out.append(_text(content, src))
            continue
        at = content.start_byte
        for part in content.children:
            out.append(src[at: part.start_byte].decode())
            out.append(_escape(_text(part, src), part.type))
            at = part.end_byte
        out.append(src[at: content.end_byte].decode())
    return "".join(out)


def _escape(text: str, kind: str) -> str:
    """One escape as its character(s); `\\d` and other unknown escapes stay as written, like Python's."""
    if kind == "escape_interpolation":  # `{{` in an f-string
        return text[0]
    if kind != "escape_sequence":
        return text
    try:
        return text.encode("ascii", "backslashreplace").decode("unicode_escape")
    except UnicodeDecodeError:
        raise NotLiteral(f"bad escape {text}") from None


_NUMBER_TYPES = ("integer", "float")


def literal_value(node: Node, src: bytes) -> Any:
    """A literal's value read from its tree-sitter node (nothing is evaluated): numbers (a sign in front
    too), strings, True/False/None, lists, tuples (as lists) and dicts with string keys, nested.
    Anything else (a name, an operation, a call, a set, bytes) raises NotLiteral."""
    kind = node.type
    if kind in _NUMBER_TYPES:
        return _number(_text(node, src), kind)
    if kind in ("true", "false", "none"):
        return {"true": True, "false": False, "none": None}[kind]
    if kind == "string":
        return _string_value(node, src)
    if kind == "concatenated_string":
        return "".join(_string_value(part, src) for part in node.named_children if part.type == "string")
    if kind in ("list", "tuple"):
        return [literal_value(item, src) for item in node.named_children if item.type != "comment"]
    if kind == "dictionary":
        return _dict_value(node, src)
    if kind == "parenthesized_expression" and node.named_child_count == 1:
        return literal_value(node.named_children[0], src)
    if kind == "unary_operator" and _text(node.child_by_field_name("operator"), src) in "+-":
        value = literal_value(node.child_by_field_name("argument"), src)
        if type(value) in (int, float):
            return -value if _text(node.child_by_field_name("operator"), src) == "-" else value
    raise NotLiteral(f"not a literal: {_squash(_text(node, src))[:60]}")


def _number(text: str, kind: str) -> int | float:
    """An integer or float token (`0x1F`, `1_000`, `1e-3`); complex numbers are not JSON values."""
    try:
        return int(text, 0) if kind == "integer" else float(text)
    except ValueError:
        raise NotLiteral(f"not a plain number: {text}") from None


def _dict_value(node: Node, src: bytes) -> dict[str, Any]:
    """A dict literal whose keys are strings (JSON objects have no other keys)."""
    out: dict[str, Any] = {}
    for pair in (c for c in node.named_children if c.type != "comment"):
        if pair.type != "pair":
            raise NotLiteral("a dict with ** inside")
        key = literal_value(pair.child_by_field_name("key"), src)
        if not isinstance(key, str):
            raise NotLiteral(f"a dict key that is not a string: {key!r}")
        out[key] = literal_value(pair.child_by_field_name("value"), src)
    return out


def _keyword_arguments(call: Node, src: bytes) -> dict[str, Any]:
    """A call's keyword arguments as values; a positional argument, a splat or a repeated name raises NotLiteral."""
    out: dict[str, Any] = {}
    for arg in call.child_by_field_name("arguments").named_children:
        if arg.type == "comment":
            continue
        if arg.type != "keyword_argument":
            what = "a ** argument" if arg.type == "dictionary_splat" else "a positional argument"
            raise NotLiteral(f"{what}: {_squash(_text(arg, src))[:60]}")
        name = _text(arg.child_by_field_name("name"), src)
        if name in out:
            raise NotLiteral(f"argument {name} given twice")
        try:
            out[name] = literal_value(arg.child_by_field_name("value"), src)
        except NotLiteral as e:
            raise NotLiteral(f"argument {name}: {e}") from None
    return out


def parse_function_calls(text: str) -> list[dict[str, Any]]:
    """Every call a model wrote in `text`, in order: `[{"name": "math.factorial", "arguments": {"number": 5}}]`.

    Calls may stand in a list (`[f(a=1), g(b='x')]`), on separate lines, or be separated by `;` or
    `,`; prose and code fences around them are skipped (a call is a dotted name followed by `(`).
    A call that cannot be read is still reported, as `{"name", "arguments": None, "error": reason}`:
    a positional argument, a value that is not a literal (`x=y`, `x=1+2`), or text that is not one
    valid call (`f(a=)`). A scorer must count such a call wrong, never guess its arguments.
    """
    calls = []
    for start, end in _call_spans(text):
        snippet = text[start:end]
        name = snippet[: snippet.index("(")]
        src = snippet.encode()
        node = _statement_call(src, lenient=False)
        if node is None or _CONTINUED.match(text, end):  # `f(a=1).g()` is not a call of f alone
            calls.append({"name": name, "arguments": None, "error": "not one valid call"})
            continue
        try:
            calls.append({"name": name, "arguments": _keyword_arguments(node, src)})
        except NotLiteral as e:
            calls.append({"name": name, "arguments": None, "error": str(e)})
    return calls


def format_call(name: str, arguments: dict[str, Any]) -> str:
    """A call as Python text, `f(a=1, b='x')`: what parse_function_calls reads back to the same call (values
    are JSON-like, so each one's repr is a literal)."""
    return f"{name}({ARG_SEP.join(f'{key}={value!r}' for key, value in arguments.items())})"
