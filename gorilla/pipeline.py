"""query -> retrieve -> prompt -> generate (optionally constrained) -> parse -> Answer; and batch generation.

    from gorilla.pipeline import Gorilla, PipelineConfig
    print(Gorilla(PipelineConfig(hub="all")).ask("transcribe my podcast").api_call)

The retriever and the model never see each other; this module joins them (DESIGN.md).
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from gorilla.data import (
    Hub,
    Question,
    adhoc_hub,
    all_hubs,
    get_hub,
    load_api_db,
    load_eval,
    load_questions,
    normalize_call,
)
from gorilla.data.hubs import HUBS, resolve_alias
from gorilla.errors import GorillaError, InputError
from gorilla.models.base import Backend
from gorilla.prompting import STOP, build_prompt, parse_answer, render_doc

CONSTRAIN = ("auto", "retrieved", "db", "off")
# Measured on torchhub's eval set (eval/results/generation.md), embedded model: constraining to the retrieved
# calls ties with the whole DB (0.892 both, same 93 questions) and keeps every answer on a document shown;
# one document beats three (0.914 vs 0.909 accuracy) at half the generation time.
DEFAULT_CONSTRAIN = "retrieved"
DEFAULT_K = 1
DEFAULT_MAX_NEW_TOKENS = 64
NO_RETRIEVER = ("none", "off", "0-shot", "")
# The one bound on what a user may put in a prompt, in UTF-8 bytes: every tokenizer we load (byte-level BPE,
# SentencePiece with byte fallback) spends at least one byte per token, so this caps the query at 2000 tokens
# whatever the script (2000 characters of ASCII, ~666 of CJK). Without it a 108 KB query ran 299 s and took 8 GB.
MAX_QUERY_BYTES = 2000


@dataclass
class PipelineConfig:
    """Everything that decides an answer. `hub`: a hub's name (gorilla.data.get_hub), or "all" (the APIBench hubs
    and every registered one, merged by relevance); `api_db`: a database file instead (an ad-hoc hub)."""

    hub: str = "all"
    model: str = "embedded"
    backend: str = "local"
    base_url: str | None = None
    api_key: str | None = None
    guided: str = "off"  # openai backend: how a vLLM endpoint enforces the constraint (models/openai.py)
    api_mode: str = "chat"  # openai backend: chat (/chat/completions) or completions (/completions, the raw prompt)
    retriever: str | None = "best"  # None or "none": 0-shot
    k: int = DEFAULT_K
    constrain: str = "auto"  # auto: DEFAULT_CONSTRAIN where the backend can enforce it, else off
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS
    data_dir: str | None = None
    api_db: str | None = None

    def __post_init__(self) -> None:
        """Check and normalise every field once, here, so each caller (CLI, server, tests) gets the same one-line
        errors and `auto` is settled before any model loads."""
        if self.constrain not in CONSTRAIN:
            raise GorillaError(f"--constrain: expected one of {', '.join(CONSTRAIN)}, got {self.constrain!r}")
        if self.constrain == "auto":  # a generic OpenAI-compatible endpoint cannot restrict tokens; vLLM can
            self.constrain = "off" if self.backend == "openai" and self.guided == "off" else DEFAULT_CONSTRAIN
        elif self.constrain != "off" and self.backend == "openai" and self.guided == "off":
            raise GorillaError(f"--constrain {self.constrain} with --backend openai needs --guided vllm (or vllm-legacy); "
                               "a generic endpoint cannot restrict api_call: else pass --constrain off")
        if self.k < 1:
            raise GorillaError(f"-k must be at least 1, got {self.k}")
        if self.max_new_tokens < 1:
            raise GorillaError(f"--max-new-tokens must be at least 1, got {self.max_new_tokens}")
        self.hub = self._checked_hub()
        if self.retriever is not None and self.retriever.strip().lower() in NO_RETRIEVER:
            self.retriever = None

    def _checked_hub(self) -> str:
        """The hub's canonical name, or "all"; an unknown name, a registered hub without its database, a missing
        --api-db file or --hub beside --api-db fail here, before any model loads. (An APIBench hub's files are
        found when first read: a 0-shot query needs none.)"""
        hub = resolve_alias(self.hub)
        if self.api_db is not None:
            if hub != "all":
                raise GorillaError("give --hub or --api-db, not both")
            adhoc_hub(self.api_db)
        elif hub not in (*HUBS, "all"):
            get_hub(hub)
        return hub

    def resolve_hubs(self) -> list[Hub]:
        """The hubs searched, with their files."""
        if self.api_db is not None:
            return [adhoc_hub(self.api_db)]
        return all_hubs(self.data_dir) if self.hub == "all" else [get_hub(self.hub, self.data_dir)]


@dataclass
class Answer:
    """One answer: the parsed fields (grounded in the source document, see `grounded`), where they came from,
    and what could not be parsed from the model's text."""

    domain: str
    api_call: str
    api_provider: str
    explanation: str
    code: str
    hub: str
    retrieved: list[str]  # ids ("<hub>:<line index in the API database>") of the documents in the prompt
    source: str | None  # the retrieved document whose call the answer uses, if any
    text: str  # the model's raw answer
    problems: list[str] = field(default_factory=list)
    api_name: str = ""  # the source document's api_name ("" when the call is no retrieved document's)
    parameters: dict[str, Any] = field(default_factory=dict)  # the source document's JSON schema ({}: fixed call)

    PUBLIC = ("domain", "api_call", "api_name", "api_provider", "explanation", "code", "hub", "retrieved", "parameters")

    def to_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.PUBLIC}


@dataclass(frozen=True)
class Doc:
    """A retrieved database entry, with the hub it belongs to."""

    hub: str
    index: int
    score: float
    api_call: str
    raw: dict

    @property
    def id(self) -> str:
        return f"{self.hub}:{self.index}"


SPARE_DOCS = 4  # hits fetched beyond k, to stand in for documents whose call names nothing
_EMPTY_CALL = re.compile(r"\(\s*\)[\s.;]*$")


def names_something(call: str) -> bool:
    """False for a call with an empty argument list (`SentimentModel()`, `S2THubInterface()`): on APIBench's hubs,
    where every API loads a model, such entries do not say which one, so they make a poor answer, and neither
    scorer can match them (15 of Hugging Face's 936 entries; 13 of its 911 eval answers before they were
    skipped). Elsewhere a call may need no arguments (`service.spaces().list().execute()`, 53 of the API Zoo
    hub's 535), so `Gorilla.retrieve` asks this of the APIBench hubs alone (Hub.predefined)."""
    return not _EMPTY_CALL.search(call.strip())


def _doc_text(value: Any) -> str:
    if isinstance(value, list):
        value = "\n".join(map(str, value))
    value = str(value or "").strip()
    return "" if value in ("N/A", "None") else value


def grounded(fields: dict[str, Any], doc: dict[str, Any]) -> dict[str, Any]:
    """The answer's fields once its call is known to be `doc`'s: domain, provider, api_name and the parameter
    schema are the document's (facts of the API, where small models write noise); an explanation or code the
    model left empty comes from the document. The raw text, which the scorer reads, is untouched."""
    out = dict(fields)
    out["domain"] = _doc_text(doc.get("domain")) or out["domain"]
    out["api_name"] = _doc_text(doc.get("api_name"))
    out["parameters"] = doc["parameters"] if isinstance(doc.get("parameters"), dict) else {}
    out["api_provider"] = _doc_text(doc.get("framework")) or out["api_provider"]
    for key, doc_key in (("explanation", "description"), ("code", "example_code")):
        if not out[key].strip():
            out[key] = _doc_text(doc.get(doc_key))
    return out


class Gorilla:
    """The pipeline; the backend, retrievers and databases load on first use (tests pass their own)."""

    def __init__(self, config: PipelineConfig | None = None, *, backend: Backend | None = None,
                 retrievers: dict[str, Any] | None = None):
        self.config = config or PipelineConfig()
        self._backend = self._tool_backend = backend
        self._retrievers = retrievers
        self._hubs: dict[str, Hub] | None = None
        self._db: dict[str, list[str]] = {}

    @property
    def hubs(self) -> dict[str, Hub]:
        """The hubs searched, by name, resolved once."""
        if self._hubs is None:
            self._hubs = {h.name: h for h in self.config.resolve_hubs()}
        return self._hubs

    @property
    def backend(self) -> Backend:
        if self._backend is None:
            from gorilla.models import load_backend

            c = self.config
            self._backend = load_backend(c.backend, c.model, base_url=c.base_url, api_key=c.api_key, guided=c.guided,
                                         mode=c.api_mode)
        return self._backend

    @property
    def tool_backend(self) -> Backend:
        """The backend that answers function calls: the pipeline's own, except that the embedded default answers
        them with its function-calling adapter (models.embedded.for_tools), loaded beside it on first use."""
        if self._tool_backend is None:
            from gorilla.models import load_backend
            from gorilla.models.embedded import for_tools

            c = self.config
            tools = for_tools(c.model) if c.backend == "local" else c.model
            self._tool_backend = self.backend if tools == c.model else load_backend("local", tools)
        return self._tool_backend

    @property
    def retrievers(self) -> dict[str, Any]:
        if self._retrievers is None:
            if self.config.retriever is None:
                self._retrievers = {}
            else:
                from gorilla.retrieval import get_retriever

                self._retrievers = {name: get_retriever(self.config.retriever, h) for name, h in self.hubs.items()}
        return self._retrievers

    def db_calls(self, hub: str) -> list[str]:
        """The hub's distinct API calls in file order (the `--constrain db` candidates)."""
        if hub not in self._db:
            self._db[hub] = list(dict.fromkeys(e.api_call for e in load_api_db(self.hubs[hub].api_db)))
        return self._db[hub]

    def retrieve(self, query: str) -> list[Doc]:
        """Top k over the configured hubs. Fused scores are ranks inside one database, so with several hubs the
        hub whose documents come nearest the query (`Retriever.relevance`) goes first; on the three eval splits
        pooled that picks the query's own hub 0.70 of the time, fused scores 0.11 (eval/results/hub_merge.json)."""
        docs = []
        for hub, r in self.retrievers.items():
            hits = r.search(query, k=self.config.k + SPARE_DOCS)
            useful = hits
            if self.hubs[hub].predefined:  # model hubs: a call naming no model is no answer (names_something)
                useful = [h for h in hits if names_something(h.entry.api_call)] or hits
            docs += [Doc(hub, h.index, h.score, h.entry.api_call, h.entry.raw) for h in useful[: self.config.k]]
        if len(self.retrievers) > 1:
            rel = {hub: r.relevance(query) for hub, r in self.retrievers.items()}
            if None not in rel.values():
                return sorted(docs, key=lambda d: (-rel[d.hub], -d.score))[: self.config.k]
        return sorted(docs, key=lambda d: -d.score)[: self.config.k]

    def allowed(self, docs: Sequence[Doc]) -> list[str] | None:
        mode = self.config.constrain
        if mode == "retrieved" and docs:
            return [d.api_call for d in docs]
        if mode == "off":
            return None
        return [c for hub in self.hubs for c in self.db_calls(hub)]  # db, or retrieved with no retriever

    def ask(self, query: str, *, cancel: Callable[[], bool] | None = None) -> Answer:
        """One answer (see `ask_many`)."""
        return self.ask_many([query], cancel=cancel)[0]

    def ask_many(self, queries: Sequence[str], *, cancel: Callable[[], bool] | None = None) -> list[Answer]:
        """Answers for a batch of queries, in order; one generate call for the whole batch. Every query passes
        `check_query` first (the prompt's one size bound); `cancel() == True` stops generation (server: the
        client went away), raising `gorilla.errors.Cancelled`."""
        queries = [check_query(q) for q in queries]
        docs = [self.retrieve(q) for q in queries]
        prompts = [build_prompt(q, [render_doc(d.raw) for d in ds]) for q, ds in zip(queries, docs, strict=True)]
        allowed = [self.allowed(ds) for ds in docs]
        texts = self.backend.generate(prompts, max_new_tokens=self.config.max_new_tokens, stop=STOP,
                                      allowed_calls=None if self.config.constrain == "off" else allowed, cancel=cancel)
        return [self._answer(t, ds) for t, ds in zip(texts, docs, strict=True)]

    def _answer(self, text: str, docs: Sequence[Doc]) -> Answer:
        parsed = parse_answer(text)
        call = parsed.api_call
        source = next((d for d in docs if normalize_call(d.api_call).startswith(normalize_call(call)) and call), None)
        hub = source.hub if source else self._hub_of(call)
        fields = {k: parsed[k] for k in ("domain", "api_provider", "explanation", "code")} | {"api_name": ""}
        if source is not None and normalize_call(source.api_call) == normalize_call(call):
            fields = grounded(fields, source.raw)
        return Answer(api_call=call, hub=hub, retrieved=[d.id for d in docs], source=source.id if source else None,
                      text=text, problems=list(parsed.problems), **fields)

    def _hub_of(self, call: str) -> str:
        if self.config.api_db is not None or self.config.hub != "all":  # one hub: named without reading its files
            return adhoc_hub(self.config.api_db).name if self.config.api_db is not None else self.config.hub
        found = [h for h in self.hubs if call and any(normalize_call(c).startswith(normalize_call(call)) for c in self.db_calls(h))]
        return found[0] if found else ""


def check_query(query: Any) -> str:
    """The query with its whitespace collapsed (as the prompt writes it), or a one-line error: empty, not valid
    Unicode (a lone surrogate, which tokenizers reject with a TypeError), or over MAX_QUERY_BYTES. Refused, not
    truncated: a cut request may ask for something else, and the user can say it shorter."""
    if not isinstance(query, str) or not query.strip():
        raise GorillaError('empty query: say what you want, e.g. "classify bird species in photos"')
    text = " ".join(query.split())
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError as e:
        raise GorillaError(f"query is not valid Unicode text (a lone surrogate {text[e.start]!r} at character "
                           f"{e.start + 1})") from None
    if size > MAX_QUERY_BYTES:
        raise GorillaError(f"query is {size} bytes ({len(text)} characters); the most is {MAX_QUERY_BYTES} bytes "
                           "(about as many tokens): say what you need in a sentence or two")
    return text


# ---- batch generation -------------------------------------------------------------------------------------------


def eval_questions(hub: str | Hub, data_dir: str | None = None) -> list[Question]:
    """The hub's eval split as questions: line i is question_id i+1 (the scorer's convention)."""
    hub = get_hub(hub, data_dir)
    if hub.eval is None:
        raise GorillaError(f"hub {hub.name!r} has no eval split (make one: gorilla apibench build --hub {hub.name})")
    pairs = load_eval(hub.eval)
    return [Question(i + 1, p.instruction) for i, p in enumerate(pairs)]


def read_questions(path: str | Path) -> list[Question]:
    """An upstream questions file; its texts carry a literal "\\n" at the end, which is not part of the request."""
    qs = load_questions(path)
    return [Question(q.question_id, q.text.replace("\\n", " ").strip(), q.category) for q in qs]


def resume(out: Path, key: Callable[[dict[str, Any]], Hashable] = lambda row: int(row["question_id"])) -> set[Any]:
    """Ids (`key` of each row: question_id by default) already answered in `out`; a truncated last line (an
    interrupted run) is dropped in place."""
    if not out.exists():
        return set()
    raw = out.read_bytes()
    lines = [(n, line) for n, line in enumerate(raw.split(b"\n"), start=1) if line.strip()]
    done, keep = set(), []
    for j, (n, line) in enumerate(lines):
        try:
            done.add(key(json.loads(line)))
        except (ValueError, KeyError, TypeError):
            if j < len(lines) - 1:
                raise InputError(out, "not a response record (only a truncated last line is repaired)", n) from None
            continue  # the last line, cut short by an interrupted run
        keep.append(line)
    fixed = b"".join(x + b"\n" for x in keep)
    if fixed != raw:
        from gorilla.data import atomic_write

        with atomic_write(out, "wb") as f:
            f.write(fixed)
    return done


def check_questions(questions: Sequence[Question]) -> list[Question]:
    """The questions, refused in one line before any is answered if an id repeats (resuming keys on ids, so a
    repeat would be skipped, or scored twice) or a text breaks `check_query` (hours in, it would stop the run)."""
    seen: set[int] = set()
    for q in questions:
        if q.question_id in seen:
            raise GorillaError(f"question_id {q.question_id} appears more than once in the input: ids must be unique")
        seen.add(q.question_id)
        try:
            check_query(q.text)
        except GorillaError as e:
            raise GorillaError(f"question_id {q.question_id}: {e}") from None
    return list(questions)


def response_row(q: Question, answer: Answer, model_id: str, config: PipelineConfig) -> dict[str, Any]:
    """The upstream response schema; `text` is the raw answer, whose api_call marker the scorer reads."""
    answer_id = hashlib.sha1(f"{model_id}\0{q.question_id}\0{answer.text}".encode()).hexdigest()[:22]
    meta = {"hub": answer.hub, "retriever": config.retriever or "none", "k": config.k, "constrain": config.constrain,
            "retrieved": answer.retrieved, "problems": answer.problems}
    return {"question_id": q.question_id, "text": answer.text, "answer_id": answer_id, "model_id": model_id,
            "metadata": meta}


def generate_file(gorilla: Gorilla, questions: Sequence[Question], out: str | Path, *, batch_size: int = 8,
                  limit: int | None = None, progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Answer every question not yet in `out`, appending one JSON line per answer (flushed per batch).

    Re-running skips done ids; `progress(done, total)` is called after each batch. Returns run stats.
    """
    if batch_size < 1:
        raise GorillaError(f"--batch-size must be at least 1, got {batch_size}")
    out = Path(out)
    if out.is_dir():
        raise GorillaError(f"--out {out}: is a directory; give the responses file, e.g. {out / 'responses.jsonl'}")
    todo_all = check_questions(list(questions)[:limit] if limit is not None else list(questions))
    done = resume(out)
    todo = [q for q in todo_all if q.question_id not in done]
    model_id = getattr(gorilla.backend, "name", "model")
    out.parent.mkdir(parents=True, exist_ok=True)
    start, written = time.perf_counter(), 0
    if progress:
        progress(len(todo_all) - len(todo), len(todo_all))
    with out.open("a", encoding="utf-8") as f:
        for i in range(0, len(todo), batch_size):
            batch = todo[i: i + batch_size]
            answers = gorilla.ask_many([q.text for q in batch])
            f.write("".join(json.dumps(response_row(q, a, model_id, gorilla.config), ensure_ascii=False) + "\n"
                            for q, a in zip(batch, answers, strict=True)))
            f.flush()
            written += len(batch)
            if progress:
                progress(len(todo_all) - len(todo) + written, len(todo_all))
    seconds = time.perf_counter() - start
    return {"out": str(out), "questions": len(todo_all), "skipped": len(todo_all) - len(todo), "generated": written,
            "seconds": round(seconds, 2), "questions_per_s": round(written / seconds, 3) if written else None,
            "model_id": model_id, "config": {k: v for k, v in asdict(gorilla.config).items() if k != "api_key"}}
