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
- a call with calls chained onto it that match no entry (`X.from_pretrained('m').to(device)`) is read as its
  first call: the chain is what the caller does with the API, not another API;
- the response is correct when any entry it matches has the question's gold domain. Entries that
  share a call are one API listed under several tasks; compat's "first entry in file order decides"
  scores even an eval record's own gold call wrong where an earlier entry with that call has another domain.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from gorilla.calls import normalize_call, parse_bound_call
from gorilla.data.records import ApiEntry
from gorilla.prompting import clean_call, first_call


def _verbatim_key(call: str) -> str:
    """What "reproduces a database call verbatim" compares: the call as the answer parser trims it, as text."""
    return normalize_call(clean_call(call))


class StrictMatcher:
    """All database entries whose call the candidate reproduces, by API name then arguments."""

    def __init__(self, entries: Sequence[ApiEntry]) -> None:
        """Index the entries by API name (with their identifying arguments) and by verbatim text."""
        self._by_name: dict[str, list[tuple[int, dict[str, tuple[bool, str]]]]] = defaultdict(list)
        self._verbatim: dict[str, list[int]] = defaultdict(list)
        for i, entry in enumerate(entries):
            self._verbatim[_verbatim_key(entry.api_call)].append(i)
            # an entry listing two calls (model, tokenizer) or ending in a stray `.` is read as answers are
            call = parse_bound_call(entry.api_call) or parse_bound_call(clean_call(entry.api_call))
            if call is None:
                continue
            ident = {k: v for k, v in call.args.items() if v[0]} or call.args
            self._by_name[call.name].append((i, ident))
        self._cache: dict[str, tuple[list[int], str]] = {}

    def match(self, api_call: str) -> tuple[list[int], str]:
        """(indices of matching entries in file order, reason when there are none)."""
        if api_call not in self._cache:
            hits, why = self._match_text(api_call)
            if not hits and (head := first_call(api_call)) != api_call:
                hits = self._match_text(head)[0]
            self._cache[api_call] = (hits, "" if hits else why)
        return self._cache[api_call]

    def _match_text(self, api_call: str) -> tuple[list[int], str]:
        """Entries matched by name and arguments, or verbatim."""
        hits, why = self._match(api_call)
        verbatim = self._verbatim.get(_verbatim_key(api_call), [])
        return sorted(set(hits) | set(verbatim)), "" if verbatim else why

    def _match(self, api_call: str) -> tuple[list[int], str]:
        """Entries with the candidate's API name whose every identifying argument it passes, equal."""
        call = parse_bound_call(api_call)
        if call is None:
            return [], "api_call does not parse as one call"
        candidates = self._by_name.get(call.name)
        if not candidates:
            return [], f"no database API is named {call.name}"
        hits = [i for i, ident in candidates if all(call.args.get(k) == v for k, v in ident.items())]
        return hits, "" if hits else f"no {call.name} entry has these arguments"
