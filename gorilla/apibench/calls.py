"""Parse API calls with tree-sitter: find them in doc code, check them, and key them for merging and diffs.

The builder needs each argument's source text (to write calls back and to key them for merges and
diffs); the strict scorer's `parse_call` normalises values for matching instead. Both parse with
the current tree-sitter-python grammar (`gorilla.scoring.grammar`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any

ARG_SEP = ", "


@dataclass(frozen=True)
class Call:
    """One call expression: dotted function name, positional values and keyword values (source text)."""

    name: str
    args: tuple[str, ...]
    kwargs: tuple[tuple[str, str], ...]
    line: int = 1  # 1-based line of the call inside the parsed text

    def kw(self, key: str) -> str | None:
        return next((v for k, v in self.kwargs if k == key), None)

    def text(self) -> str:
        """The call written back in one canonical line."""
        parts = [*self.args, *(f"{k}={v}" for k, v in self.kwargs)]
        return f"{self.name}({ARG_SEP.join(parts)})"


@cache
def _parser() -> Any:
    from gorilla.scoring.grammar import parser

    return parser("strict")


def _squash(text: str) -> str:
    """Source text with whitespace outside strings removed, so formatting never changes a key."""
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


def string_value(value: str) -> str | None:
    """The content of a plain string literal (`'x'` or `"x"`), else None."""
    m = re.fullmatch(r"""[rRuU]?(['"])(.*)\1""", value, re.S)
    return m.group(2) if m else None


def _call_of(node: Any, src: bytes) -> Call:
    name = _squash(src[node.child_by_field_name("function").start_byte: node.child_by_field_name("function").end_byte].decode())
    args: list[str] = []
    kwargs: list[tuple[str, str]] = []
    for a in node.child_by_field_name("arguments").named_children:
        text = src[a.start_byte: a.end_byte].decode()
        if a.type == "keyword_argument":
            key = a.child_by_field_name("name")
            val = a.child_by_field_name("value")
            kwargs.append((src[key.start_byte: key.end_byte].decode(), _squash(src[val.start_byte: val.end_byte].decode())))
        elif a.type == "dictionary_splat" and a.named_children and a.named_children[0].type == "dictionary":
            for pair in a.named_children[0].named_children:  # **{'topN': 6} is the same as topN=6
                k, v = pair.child_by_field_name("key"), pair.child_by_field_name("value")
                key = string_value(src[k.start_byte: k.end_byte].decode()) if k else None
                if key is None or v is None:
                    kwargs.append(("**", _squash(text)))
                    break
                kwargs.append((key, _squash(src[v.start_byte: v.end_byte].decode())))
        elif a.type != "comment":
            args.append(_squash(text))
    return Call(name, tuple(args), tuple(kwargs), node.start_point[0] + 1)


def find_calls(code: str, names: tuple[str, ...]) -> list[Call]:
    """Every call in `code` whose function's dotted name ends with one of `names` (parse errors tolerated)."""
    src = code.encode()
    tree = _parser().parse(src)
    found, stack = [], [tree.root_node]
    while stack:
        node = stack.pop()
        if node.type == "call" and node.child_by_field_name("arguments") is not None \
                and node.child_by_field_name("arguments").type == "argument_list":
            fn = node.child_by_field_name("function")
            fname = _squash(src[fn.start_byte: fn.end_byte].decode())
            if any(fname == n or fname.endswith("." + n) for n in names):
                found.append(_call_of(node, src))
        stack.extend(reversed(node.children))
    return sorted(found, key=lambda c: c.line)


def string_assignments(code: str) -> dict[str, str]:
    """`name = 'literal'` assignments in `code` (first wins), used to resolve variables passed to a load call."""
    src = code.encode()
    out: dict[str, str] = {}
    stack = [_parser().parse(src).root_node]
    while stack:
        node = stack.pop()
        if node.type == "assignment":
            left, right = node.child_by_field_name("left"), node.child_by_field_name("right")
            if left is not None and right is not None and left.type == "identifier" and right.type == "string":
                value = string_value(src[right.start_byte: right.end_byte].decode())
                if value is not None:
                    out.setdefault(src[left.start_byte: left.end_byte].decode(), value)
        stack.extend(reversed(node.children))
    return out


def parse_call(text: str) -> Call | None:
    """The call `text` consists of (an optional `x = ` in front allowed), or None if it is not one clean call."""
    src = text.strip().encode()
    tree = _parser().parse(src)
    root = tree.root_node
    if tree.root_node.has_error or len(root.named_children) != 1 or root.named_children[0].type != "expression_statement":
        return None
    node = root.named_children[0].named_children[0] if root.named_children[0].named_children else None
    if node is not None and node.type == "assignment":
        node = node.child_by_field_name("right")
    if node is None or node.type != "call" or node.child_by_field_name("arguments").type != "argument_list":
        return None
    return _call_of(node, src)


def normalized(text: str) -> str | None:
    """Canonical text of a call: whitespace and quote style ignored, keyword order ignored."""
    call = parse_call(text)
    if call is None:
        return None
    return Call(call.name, call.args, tuple(sorted(call.kwargs))).text()


def torchhub_key(call: Call) -> str | None:
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


_TFHUB = re.compile(r"https?://tfhub\.dev/([^'\"\s?)]+)")


def tfhub_handle(text: str) -> str | None:
    """`publisher/name/version` of the tfhub.dev URL inside a call, or None."""
    m = _TFHUB.search(text)
    return m.group(1).rstrip("/") if m else None


def call_key(hub: str, api_call: str) -> str | None:
    """The identity of an API call for merging and for diffs (None when it cannot be parsed)."""
    if hub == "tensorflowhub" and (handle := tfhub_handle(api_call)):
        return handle
    call = parse_call(api_call)
    if call is None:
        return None
    if hub == "torchhub" and call.name.endswith("hub.load"):
        return torchhub_key(call)
    return Call(call.name, call.args, tuple(sorted(call.kwargs))).text()
