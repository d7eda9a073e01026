"""Strict matching, our own definition: the api_call field must name a real call, argument for argument.

Rules (README, "Strict mode"):
- only the `api_call` field counts; a response without one is neither correct nor a hallucination;
- the field must parse (current tree-sitter grammar) as exactly one call, without errors;
- its API name must equal a database entry's, and every identifying argument of that entry
  must be present with an equal value: string literals compare by value (quote style and
  escapes normalised), other values by their text without whitespace; positional and keyword
  forms of the same parameter are the same argument; a torch.hub repo's `:ref` (git tag or
  branch of the same repository) is ignored;
- identifying arguments are the entry's arguments that hold a string literal (model ids, repos,
  handles, tasks, also inside nested calls such as `model=AutoModel.from_pretrained('x')`);
  flags and numbers are not; an entry with none is identified by all its arguments;
- a field that reproduces a database call verbatim (modulo whitespace, quote style and what the
  answer parser trims) matches that entry even where it does not parse: it names a real API (shell
  commands); database entries are read like answers (first call of `model(...), tokenizer(...)`,
  a stray trailing `.` dropped);
- the response is correct when any entry it matches has the question's gold domain. Entries that
  share a call are one API listed under several tasks; compat's "first entry in file order decides"
  scores even an eval record's own gold call wrong where an earlier entry with that call has another domain.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from tree_sitter import Node

from gorilla.data.records import ApiEntry, normalize_call
from gorilla.prompting import clean_call
from gorilla.scoring.grammar import parser

# Parameter names of positional arguments, so that `load('a/b', 'm')` equals `load(repo_or_dir='a/b', model='m')`.
SIGNATURES: dict[str, tuple[str, ...]] = {
    "torch.hub.load": ("repo_or_dir", "model"),
    "hub.KerasLayer": ("handle",),
    "hub.load": ("handle",),
    "pipeline": ("task", "model"),
    ".from_pretrained": ("pretrained_model_name_or_path",),
}
_SPACE = re.compile(r"\s+")
# torch.hub's `owner/repo:ref` selects a git ref of the same repository: the same API.
_HUB_REF = re.compile(r"^([\w.-]+/[\w.-]+):[\w./-]+$")


def _positional_names(api_name: str) -> tuple[str, ...]:
    if api_name in SIGNATURES:
        return SIGNATURES[api_name]
    return next((v for k, v in SIGNATURES.items() if k.startswith(".") and api_name.endswith(k)), ())


@dataclass(frozen=True)
class Call:
    """A parsed call: API name and its arguments keyed by parameter name (or `#i` when unknown)."""

    name: str
    args: dict[str, tuple[bool, str]]  # key -> (is a string literal, normalised value)


def _value(node: Node, src: bytes) -> tuple[bool, str]:
    """(contains a string literal, normalised value): strings by value, anything else by its text."""
    text = src[node.start_byte: node.end_byte].decode()
    if node.type in ("string", "concatenated_string") and not any(c.type == "interpolation" for c in node.children):
        try:
            value = ast.literal_eval(text)  # a literal only: never evaluates code
            if isinstance(value, str):
                return True, value
        except (ValueError, SyntaxError):
            pass
    return _has_string(node), normalize_call(text)


def _has_string(node: Node) -> bool:
    return node.type == "string" or any(_has_string(c) for c in node.named_children)


def parse_call(text: str) -> Call | None:
    """The call in `text`, or None unless it is exactly one error-free call expression."""
    src = text.strip().encode()
    root = parser("strict").parse(src).root_node
    if root.has_error or root.named_child_count != 1:
        return None
    stmt = root.named_children[0]
    if stmt.type != "expression_statement" or stmt.named_child_count != 1 or stmt.named_children[0].type != "call":
        return None
    call = stmt.named_children[0]
    fn, arglist = call.child_by_field_name("function"), call.child_by_field_name("arguments")
    if fn is None or arglist is None or arglist.type != "argument_list":
        return None
    name = _SPACE.sub("", src[fn.start_byte: fn.end_byte].decode())
    names = _positional_names(name)
    args: dict[str, tuple[bool, str]] = {}
    position = 0
    for arg in arglist.named_children:
        if arg.type == "keyword_argument":
            key = src[arg.child_by_field_name("name").start_byte: arg.child_by_field_name("name").end_byte].decode()
            args[key] = _value(arg.child_by_field_name("value"), src)
        elif arg.type in ("list_splat", "dictionary_splat", "comment"):
            continue
        else:
            args[names[position] if position < len(names) else f"#{position}"] = _value(arg, src)
            position += 1
    if name == "torch.hub.load" and (repo := args.get("repo_or_dir")) and repo[0]:
        args["repo_or_dir"] = (True, _HUB_REF.sub(r"\1", repo[1]))
    return Call(name, args)


def _verbatim_key(call: str) -> str:
    return normalize_call(clean_call(call))


class StrictMatcher:
    """All database entries whose call the candidate reproduces, by API name then arguments."""

    def __init__(self, entries: Sequence[ApiEntry]):
        self._by_name: dict[str, list[tuple[int, dict[str, tuple[bool, str]]]]] = defaultdict(list)
        self._verbatim: dict[str, list[int]] = defaultdict(list)
        for i, entry in enumerate(entries):
            self._verbatim[_verbatim_key(entry.api_call)].append(i)
            # an entry listing two calls (model, tokenizer) or ending in a stray `.` is read as answers are
            call = parse_call(entry.api_call) or parse_call(clean_call(entry.api_call))
            if call is None:
                continue
            ident = {k: v for k, v in call.args.items() if v[0]} or call.args
            self._by_name[call.name].append((i, ident))
        self._cache: dict[str, tuple[list[int], str]] = {}

    def match(self, api_call: str) -> tuple[list[int], str]:
        """(indices of matching entries in file order, reason when there are none)."""
        if api_call not in self._cache:
            hits, why = self._match(api_call)
            verbatim = self._verbatim.get(_verbatim_key(api_call), [])
            self._cache[api_call] = (sorted(set(hits) | set(verbatim)), "" if verbatim else why)
        return self._cache[api_call]

    def _match(self, api_call: str) -> tuple[list[int], str]:
        call = parse_call(api_call)
        if call is None:
            return [], "api_call does not parse as one call"
        candidates = self._by_name.get(call.name)
        if not candidates:
            return [], f"no database API is named {call.name}"
        hits = [i for i, ident in candidates if all(call.args.get(k) == v for k, v in ident.items())]
        return hits, "" if hits else f"no {call.name} entry has these arguments"
