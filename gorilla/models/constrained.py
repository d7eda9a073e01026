"""Constrained decoding: the api_call a model writes is, token for token, one of the allowed calls.

Each answer is walked through the skeleton of Gorilla's answer format:

    <<<domain>>>: (free, short) <<<api_call>>>: (trie of allowed calls) <<<api_provider>>>: (free to the end)

Markers are forced when the model is about to leave a field anyway (a fine-tuned model writes
them itself, token for token; an untrained one gets them written for it), and inside the
api_call field only tokens that keep the text on a prefix trie of the allowed calls survive, so
hallucinating a call is impossible by construction. Calls are tokenised as they appear after the
marker, with their leading space (`: torch.hub...` -> " torch" ...), which is how byte-level BPE
splits them in context too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gorilla.prompting import FIELDS

DOMAIN_MARK, CALL_MARK, PROVIDER_MARK = (f" <<<{k}>>>:" for k in FIELDS[:3])
MAX_DOMAIN_TOKENS = 8  # APIBench domains are 2-6 tokens ("Video Classification")


@dataclass
class Trie:
    """A token prefix trie; `terminal` marks the end of a complete call."""

    children: dict[int, Trie] = field(default_factory=dict)
    terminal: bool = False

    @property
    def depth(self) -> int:
        """Tokens in the longest call: the room the domain field must leave for it."""
        return 1 + max((c.depth for c in self.children.values()), default=0) if self.children else 0


def build_trie(tokenizer: Any, calls: Sequence[str]) -> Trie:
    """The calls tokenised as the model writes them after `<<<api_call>>>:` (leading space included)."""
    root = Trie()
    for ids in tokenizer([" " + c.strip() for c in dict.fromkeys(calls)], add_special_tokens=False)["input_ids"]:
        node = root
        for t in ids:
            node = node.children.setdefault(t, Trie())
        node.terminal = True
    return root


class Vocab:
    """Per-tokenizer lookups: the tokens that end a free field."""

    def __init__(self, tokenizer: Any):
        n = len(tokenizer)
        texts = tokenizer.batch_decode([[i] for i in range(n)], skip_special_tokens=False)
        # a free field ends when the model wants to open the next marker, break the line, or stop
        self.enders = {i for i, t in enumerate(texts) if "<" in t or "\n" in t} | {tokenizer.eos_token_id}


_VOCABS: dict[int, tuple[Any, Vocab]] = {}
_TRIES: dict[tuple[int, tuple[str, ...]], Trie] = {}


def vocab_for(tokenizer: Any) -> Vocab:
    """Cached: decoding the whole vocabulary once per tokenizer, not once per batch."""
    if id(tokenizer) not in _VOCABS:
        _VOCABS[id(tokenizer)] = (tokenizer, Vocab(tokenizer))  # keep the tokenizer alive so its id stays unique
    return _VOCABS[id(tokenizer)][1]


def trie_for(tokenizer: Any, calls: Sequence[str]) -> Trie:
    """Cached: the API database's trie is built once per process, not once per batch."""
    key = (id(vocab_for(tokenizer)), tuple(calls))
    if key not in _TRIES:
        _TRIES[key] = build_trie(tokenizer, calls)
    return _TRIES[key]


# The skeleton every constrained answer walks through, in order.
STEPS = (("mark", DOMAIN_MARK), ("domain", ""), ("mark", CALL_MARK), ("call", ""), ("mark", PROVIDER_MARK), ("tail", ""))


@dataclass
class Row:
    """Where one answer is in STEPS; for a marker, the tokens still to write; in the call, the trie node."""

    step: int = 0
    pending: list[list[int]] = field(default_factory=list)  # the marker's spellings still possible
    node: Trie | None = None
    count: int = 0  # tokens written in the free domain field

    @property
    def stage(self) -> str:
        """The kind of step the row is in ("mark", "domain", "call" or "tail")."""
        return STEPS[self.step][0]


class CallConstraint:
    """A transformers LogitsProcessor enforcing STEPS, one Row per batch row (rows without calls run free).

    Markers are written in the tokenizer's own spelling, with or without their leading space;
    the domain field closes early when only room for the marker and the row's longest call is left,
    so within its budget (`budgets[r]`: `max_new_tokens`, raised to room for a whole call) every
    constrained row ends with a whole call. Budgets are per row, from the row's own calls, so an
    answer does not depend on what else is in the batch; `max_new_tokens` is the batch's longest.
    """

    def __init__(self, tokenizer: Any, allowed_calls: Sequence[Sequence[str]], prompt_len: int, max_new_tokens: int):
        self.vocab = vocab_for(tokenizer)
        self.tries = [trie_for(tokenizer, calls) if calls else None for calls in allowed_calls]
        self.marks = {m: [tokenizer.encode(v, add_special_tokens=False) for v in (m, m.lstrip())]
                      for m in (DOMAIN_MARK, CALL_MARK, PROVIDER_MARK)}
        self.prompt_len = prompt_len
        call_mark, domain_mark = max(map(len, self.marks[CALL_MARK])), max(map(len, self.marks[DOMAIN_MARK]))
        self.reserves = [call_mark + (t.depth if t is not None else 0) + 1 for t in self.tries]
        self.budgets = [max(max_new_tokens, domain_mark + reserve) if t is not None else max_new_tokens
                        for t, reserve in zip(self.tries, self.reserves, strict=True)]
        self.max_new_tokens = max(self.budgets)
        self.rows = [Row(pending=[list(v) for v in self.marks[DOMAIN_MARK]]) if t is not None else Row(step=len(STEPS) - 1)
                     for t in self.tries]

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        """transformers' hook: read the token each row just wrote, then mask what each row may not write."""
        import torch

        written = input_ids.shape[1] - self.prompt_len
        if written > 0:
            for r, token in enumerate(input_ids[:, -1].tolist()):
                self.consume(r, token)
        mask = torch.zeros_like(scores)
        for r, row in enumerate(self.rows):
            allowed = self._allowed(r, row, scores[r], written)
            if allowed is not None:
                mask[r].fill_(float("-inf"))
                mask[r, allowed] = 0
        return scores + mask

    def choose(self, r: int, logits: Any, written: int) -> int:
        """Greedy choice for row r (the same token `__call__` + argmax would give)."""
        allowed = self._allowed(r, self.rows[r], logits, written)
        if allowed is None:
            return int(logits.argmax())
        return allowed[int(logits[allowed].argmax())]

    def forced(self, r: int) -> int | None:
        """The next token when only one is allowed whatever the model says (a marker, the rest of a call)."""
        row = self.rows[r]
        if row.stage == "mark":
            firsts = {p[0] for p in row.pending}
            return firsts.pop() if len(firsts) == 1 else None
        if row.stage == "call" and len(row.node.children) == 1 and not row.node.terminal:
            return next(iter(row.node.children))
        return None

    def _advance(self, r: int) -> None:
        """Row r moves to the next step of STEPS, with that step's marker spellings or trie root."""
        row = self.rows[r]
        row.step += 1
        kind, text = STEPS[row.step]
        row.pending = [list(v) for v in self.marks[text]] if kind == "mark" else []
        row.node = self.tries[r] if kind == "call" else None

    def _allowed(self, r: int, row: Row, logits: Any, written: int) -> list[int] | None:
        """The tokens row r may write next, or None when it runs free (closing the domain field first
        if the model wants to leave it or its room is used up)."""
        if row.stage == "domain" and (int(logits.argmax()) in self.vocab.enders or row.count >= MAX_DOMAIN_TOKENS
                                      or written >= self.budgets[r] - self.reserves[r]):
            self._advance(r)  # the model wants to end the field (or has used its room): the marker comes next
        if row.stage == "mark":
            return sorted({p[0] for p in row.pending})
        if row.stage == "call":
            ids = list(row.node.children)
            if row.node.terminal:  # a complete call that is also a prefix of another: it may end here
                ids += sorted({p[0] for p in self.marks[PROVIDER_MARK]})
            return ids
        return None

    def consume(self, r: int, token: int) -> None:
        """Row r wrote `token`: walk its trie, its pending marker, or count its domain field."""
        row = self.rows[r]
        if row.stage == "domain":
            row.count += 1
        elif row.stage == "call":
            if token in row.node.children:
                row.node = row.node.children[token]
                if not row.node.children:
                    self._advance(r)
                return
            self._advance(r)  # the call ended at a terminal node; this token starts the marker
        if row.stage == "mark":
            row.pending = [p[1:] for p in row.pending if p and p[0] == token]
            if not row.pending:  # not a marker token: the stopping criteria already finished this row
                row.step = len(STEPS) - 1
            elif any(not p for p in row.pending):
                self._advance(r)


class StopOnStrings:
    """A transformers StoppingCriteria: a row is done once its new text contains a stop string."""

    def __init__(self, tokenizer: Any, stop: Sequence[str], prompt_len: int):
        self.tokenizer, self.stop, self.prompt_len = tokenizer, list(stop), prompt_len
        self.tail = max(len(tokenizer.encode(s, add_special_tokens=False)) for s in stop) + 2

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        """Per row: True once a stop string is in its last few tokens (decoding only the tail is cheap)."""
        import torch

        new = input_ids[:, self.prompt_len:][:, -self.tail:]
        texts = self.tokenizer.batch_decode(new, skip_special_tokens=True)
        return torch.tensor([any(s in t for s in self.stop) for t in texts], device=input_ids.device)


class RowBudgets:
    """A transformers StoppingCriteria: row r is done after `budgets[r]` new tokens (a batch runs to its longest
    budget; the others stop at their own, exactly where they would alone)."""

    def __init__(self, budgets: Sequence[int], prompt_len: int):
        self.budgets, self.prompt_len = list(budgets), prompt_len

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        """Per row: True once it has written its budget."""
        import torch

        written = input_ids.shape[1] - self.prompt_len
        return torch.tensor([written >= b for b in self.budgets], device=input_ids.device)


class Withdrawn:
    """A transformers StoppingCriteria that ends every row once `cancel()` is True (the caller then raises
    `Cancelled`): transformers' own loop has no other way out between tokens."""

    def __init__(self, cancel: Any):
        self.cancel = cancel

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        """All rows done when the request was withdrawn, none otherwise."""
        import torch

        return torch.full((input_ids.shape[0],), bool(self.cancel()), device=input_ids.device)


# --- grammar-constrained decoding (function calls with arguments: gorilla.models.grammar) ----------------

class TokenTexts:
    """Each token's text alone (None for special tokens and partial UTF-8 bytes, which no grammar step can
    check) and the tokens grouped by first character, so a state that allows few characters looks at few tokens."""

    def __init__(self, tokenizer: Any):
        import torch

        n = len(tokenizer)
        texts = tokenizer.batch_decode([[i] for i in range(n)], skip_special_tokens=True)
        self.texts: list[str | None] = [t if t and "\ufffd" not in t else None for t in texts]
        groups: dict[str, list[int]] = {}
        for i, t in enumerate(self.texts):
            if t is not None:
                groups.setdefault(t[0], []).append(i)
        self.by_first = {c: torch.tensor(ids, dtype=torch.long) for c, ids in groups.items()}


_TEXTS: dict[int, tuple[Any, TokenTexts]] = {}


def texts_for(tokenizer: Any) -> TokenTexts:
    """Cached per tokenizer: decoding the vocabulary one token at a time takes ~0.5 s."""
    if id(tokenizer) not in _TEXTS:
        _TEXTS[id(tokenizer)] = (tokenizer, TokenTexts(tokenizer))
    return _TEXTS[id(tokenizer)][1]


class GrammarConstraint:
    """Greedy decoding under a `CallGrammar`, one state per batch row; the answer is always whole and valid.

    The choice at each step is the highest-scoring token whose characters the grammar accepts: where the
    grammar allows a few characters (digits, a quote, a name's next letter), only tokens opening with one of
    them are ranked; where it allows almost anything (inside a string), the best tokens are tried in order.
    Text the grammar fixes (`[fn(arg=`, closers) is forced without asking the model. When what is left of a
    row's budget would not hold the shortest completion, the completion is forced, so a row never ends
    mid-call. `policy` (a `CallPolicy`, optional) adds to the scores of the candidate tokens: it steers the
    choices the grammar leaves open without touching the grammar.
    """

    def __init__(self, tokenizer: Any, grammars: Sequence[Any], prompt_len: int, max_new_tokens: int,
                 policy: CallPolicy | None = None):
        self.tokenizer, self.grammars, self.prompt_len = tokenizer, list(grammars), prompt_len
        self.texts = texts_for(tokenizer)
        self.states = [g.start for g in self.grammars]
        self.max_new_tokens = max_new_tokens
        self.policy = policy
        self.copy_ids = self._copy_ids(tokenizer, policy)
        self.queue: list[list[int]] = [[] for _ in self.grammars]  # forced tokens not yet written
        self.count = [0] * len(self.grammars)  # tokens written per row

    def done(self, r: int) -> bool:
        """Row r's answer is whole."""
        return self.grammars[r].done(self.states[r])

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        """transformers' hook: read the token each row just wrote, then allow only the row's choice."""
        import torch

        written = input_ids.shape[1] - self.prompt_len
        if written > 0:
            for r, token in enumerate(input_ids[:, -1].tolist()):
                if not self.done(r):
                    self.consume(r, token)
        mask = torch.full_like(scores, float("-inf"))
        for r in range(len(self.grammars)):
            mask[r, self.choose(r, scores[r], written)] = 0
        return scores + mask

    def choose(self, r: int, logits: Any, written: int) -> int:
        """Row r's next token: a forced one if the grammar or the budget fixes it, else the best allowed one."""
        if self.done(r):
            return self.tokenizer.eos_token_id
        if not self.queue[r]:
            self.queue[r] = self._forced_run(r, written)
        if self.queue[r]:
            return self.queue[r][0]
        return self._best(r, logits)

    def forced(self, r: int) -> int | None:
        """The next token when the grammar (or the budget) fixes it, else None."""
        if self.done(r):
            return None
        if not self.queue[r]:
            self.queue[r] = self._forced_run(r, self.count[r])
        return self.queue[r][0] if self.queue[r] else None

    def _forced_run(self, r: int, written: int) -> list[int]:
        grammar, state = self.grammars[r], self.states[r]
        rest = self.tokenizer.encode(grammar.completion(state), add_special_tokens=False)
        if written + len(rest) + 1 >= self.max_new_tokens:
            return rest
        text = grammar.forced(state)
        return self.tokenizer.encode(text, add_special_tokens=False) if text else []

    @staticmethod
    def _copy_ids(tokenizer: Any, policy: CallPolicy | None) -> Any:
        """The tokens of the request, of each of its words and of each of its spans, spelled alone: inside a string
        they are candidates whatever their rank, so the copy bias can reach them."""
        import torch

        if policy is None or not policy.copy_bias or not policy.request:
            return None
        pieces = [policy.request, *policy.request.split(), *policy.spans]
        ids = {i for e in tokenizer(pieces, add_special_tokens=False)["input_ids"] for i in e}
        return torch.tensor(sorted(ids), dtype=torch.long)

    def _best(self, r: int, logits: Any) -> int:
        import torch

        grammar, state = self.grammars[r], self.states[r]
        chars = grammar.next_chars(state)
        if chars is None:
            ids = torch.topk(logits, 64).indices
            if self.copy_ids is not None:
                ids = torch.unique(torch.cat([ids, self.copy_ids]))
        else:
            groups = [self.texts.by_first[c] for c in chars if c in self.texts.by_first]
            ids = torch.cat(groups) if groups else torch.empty(0, dtype=torch.long)
            if len(ids) > 256:  # the policy weighs the model's best few hundred, not every token with that letter
                ids = ids[torch.topk(logits[ids], 256).indices]
        for attempt in range(2):
            scores = logits[ids]
            if self.policy is not None and attempt == 0:  # the whole-vocabulary fallback goes unsteered
                scores = scores + self.policy(grammar, state, ids, self.texts)
            for i in ids[torch.argsort(scores, descending=True)].tolist():
                text = self.texts.texts[i]
                if text is not None and grammar.feed(state, text) is not None:
                    return i
            ids = torch.arange(logits.shape[0])  # none of the best 64 fits: rank the whole vocabulary
        raise AssertionError("no token fits the grammar")  # cannot happen: single characters are tokens

    def consume(self, r: int, token: int) -> None:
        """Row r wrote `token`: feed its characters to the grammar (a forced token leaves the queue)."""
        if self.queue[r] and self.queue[r][0] == token:
            self.queue[r].pop(0)
        else:
            self.queue[r] = []
        text = self.tokenizer.decode([token], skip_special_tokens=True)
        state = self.grammars[r].feed(self.states[r], text)
        if state is None:
            raise AssertionError(f"token {token} ({text!r}) breaks the grammar")
        self.states[r] = state
        self.count[r] += 1


@dataclass(frozen=True)
class CallPolicy:
    """Score adjustments for the choices a grammar leaves to a small model (gorilla.toolcalls sets them,
    with values chosen on our own data).

    `name_bias[name]` is added to tokens that spell (a prefix of) that function's name in the first call (later
    calls may need another function: the model picks those alone). `spans` are the values the request names (numbers, quoted text, names
    in capitals: gorilla.toolcalls.request_spans): after a call, another one is made while some span is in
    no call yet and the last call used a new one (`more_bias` added to `, `, or taken from it), and
    `copy_bias` goes to tokens that keep a string or number value a copy of the request's text, twice to
    those on the way to a span no call has used.
    """

    more_bias: float = 0.0
    copy_bias: float = 0.0
    request: str = ""
    name_bias: Mapping[str, float] = field(default_factory=dict)
    spans: tuple[str, ...] = ()

    def __call__(self, grammar: Any, state: Any, ids: Any, texts: TokenTexts) -> Any:
        """The bias of each token in `ids` in `state` (zeros where no policy speaks)."""
        import torch

        from gorilla.models.grammar import Array, Keyed, Num, Str

        out = torch.zeros(len(ids))
        unused = [s.lower() for s in self.unused(state[0].calls, _open_values(state))] if self.copy_bias else []
        items, args = self._more_items(state), self._more_args(state)
        for k, i in enumerate(ids.tolist()):
            text = texts.texts[i]
            after = grammar.feed(state, text) if text is not None else None
            if after is None:
                continue
            bias = self._list_bias(state[0], after[0], len(state) == 1)
            if items is not None:
                j, more = items
                if len(after) <= j or not isinstance(after[j], Array):
                    bias -= more  # the token closes the array
                elif len(after[j].values) > len(state[j].values) and after[j].typed and after[j].typed[0] == ",":
                    bias += more  # the token ends the item and opens another
            if args is not None:
                j, more = args
                if len(after) <= j or not isinstance(after[j], Keyed):
                    bias -= more  # the token closes the call
                elif after[j].typed[:1] == "," or (len(after) > j + 1 and after[j].next_index > state[j].next_index):
                    bias += more  # the token goes on to another argument
            value = after[-1]
            if self.copy_bias and isinstance(value, Str | Num) and value.text and (v := value.text.lower()) in \
                    self.request.lower():
                bias += self.copy_bias * (2 if any(u.startswith(v) for u in unused) else 1)
            out[k] = bias
        return out

    def _list_bias(self, before: Any, after: Any, at_list: bool) -> float:
        """A token's bias at the list's level (the token may also close the call before it, as `)]` or `"),` do):
        no call, one more call or the end, and the function names it may still spell."""
        if after.done:
            return 0.0 if not after.calls else -self._more(after.calls) if not before.done else 0.0
        bias = 0.0
        if after.calls and after.typed.startswith(",") and not (at_list and before.typed):
            bias += self._more(after.calls)
        if (at_list or after.typed) and not after.calls:  # the first call's name (later ones: the model's choice)
            typed = after.typed.removeprefix(",").removeprefix(" ")
            names = [after.pending] if after.pending and at_list else [f.name for f in after.functions
                                                                      if typed and (f.name + "(").startswith(typed)]
            bias += max((self.name_bias.get(n, 0.0) for n in names), default=0.0)
        return bias

    def unused(self, calls: Sequence[Any], values: Sequence[Any] = ()) -> list[str]:
        """The request's spans that no argument of `calls` and none of `values` holds (equal, or inside a string)."""
        texts = [v.lower() for c in calls for v in _flat_values(c.arguments)] + [v.lower() for v in _flat_values(list(values))]
        return [s for s in self.spans if not any(s.lower() == v or (len(s) > 1 and s.lower() in v) for v in texts)]

    def _more_items(self, state: Any) -> tuple[int, float] | None:
        """(depth of the innermost array, bias for another item) when the item being finished belongs to an array:
        +more_bias while spans wait and that item was one, else -more_bias (a small model stops a list early, or
        repeats an item until the bound); None elsewhere."""
        from gorilla.models.grammar import Array, Str

        top = state[-1]
        if isinstance(top, Array) and top.opened and top.typed == "" and top.values:
            j, item, prior = len(state) - 1, top.values[-1], list(top.values[:-1])
        elif len(state) > 2 and isinstance(state[-2], Array) and (
                (end := top.ending() if hasattr(top, "ending") else None) or isinstance(top, Str)):
            j, item, prior = len(state) - 2, end[0] if end else top.text, list(state[-2].values)
        else:
            return None
        if not self.spans:
            return None
        calls, before = state[0].calls, _open_values(state[:j]) + prior
        waiting = self.unused(calls, [*before, item])
        progressed = len(self.unused(calls, before)) > len(waiting)
        return j, (self.more_bias if waiting and progressed else -self.more_bias)

    def _more(self, calls: Sequence[Any]) -> float:
        """The bias for another call: +more_bias while spans of a kind the last call took (numbers, text) wait,
        else -more_bias."""
        if not calls or not self.spans:
            return 0.0
        waiting = self.unused(calls)
        before = self.unused(calls[:-1])
        taken = {_kind(s) for s in before if s not in waiting}
        return self.more_bias if taken & {_kind(s) for s in waiting} else -self.more_bias

    def _more_args(self, state: Any) -> tuple[int, float] | None:
        """(depth of the open call's arguments, bias for one more of its offered optional arguments) when the value
        being finished is an argument and spans wait: the request's values go into this call before another call
        is made. None elsewhere."""
        from gorilla.models.grammar import Keyed, Str

        top = state[-1]
        if isinstance(top, Keyed) and not top.dict_style and top.typed == "" and top.values:
            j, item = len(state) - 1, None
        elif len(state) > 2 and isinstance(state[-2], Keyed) and not state[-2].dict_style and (
                (end := top.ending() if hasattr(top, "ending") else None) or isinstance(top, Str)):
            j, item = len(state) - 2, end[0] if end else top.text
        else:
            return None
        if not self.spans or not any(k >= 0 for _, k in state[j].options()):
            return None
        waiting = self.unused(state[0].calls, _open_values(state[: j + 1]) + ([] if item is None else [item]))
        return (j, self.more_bias) if waiting else None


def _kind(span: str) -> str:
    """A span is a number or text."""
    try:
        float(span.replace(",", ""))
    except ValueError:
        return "text"
    return "number"


def _open_values(state: Any) -> list[Any]:
    """The values already written in the call still open (its arguments, items, keys so far)."""
    from gorilla.models.grammar import Array, FreeDict, Keyed

    out: list[Any] = []
    for frame in state[1:]:
        if isinstance(frame, Keyed):
            out += [v for _, v in frame.values]
        elif isinstance(frame, Array):
            out += list(frame.values)
        elif isinstance(frame, FreeDict):
            out += [v for _, v in frame.items]
    return out


def _flat_values(value: Any) -> list[str]:
    """Every scalar inside an argument value, as text (numbers as written: 5.0 -> "5")."""
    if isinstance(value, dict):
        return [v for item in value.values() for v in _flat_values(item)]
    if isinstance(value, list):
        return [v for item in value for v in _flat_values(item)]
    if isinstance(value, float) and value.is_integer():
        return [str(int(value))]
    return [] if value is None or isinstance(value, bool) else [str(value)]
