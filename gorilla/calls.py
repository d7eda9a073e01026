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

Imports nothing from gorilla and never torch; tree-sitter loads on the first parse.
"""

from __future__ import annotations

import ast
import re
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

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
