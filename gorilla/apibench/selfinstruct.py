"""Self-instruct: a teacher model writes user instructions for each API, filters keep the good ones.

For each API the teacher sees 3 of the hub's 6 hand-written seeds (API record + instructions that
never name it) and the API's own record, and continues a numbered list of 10 requests. Raw teacher
text is appended to `teacher.jsonl` as it comes, so a crash resumes where it stopped; filtering is
a pure function of that file and the database, so a fixed seed and teacher give the same pairs.
The teacher's prompt, its stop strings and the parser of its list are `gorilla.prompting`'s.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from gorilla.calls import call_key, normalize_call, parse_bound_call, parse_source_call, tfhub_handle
from gorilla.data.paths import RESOURCES
from gorilla.errors import GorillaError, InputError
from gorilla.models.base import Backend
from gorilla.prompting import TEACHER_STOP, format_answer, parse_requests, record_code, teacher_prompt

SEEDS_DIR = RESOURCES / "seeds"  # package data: the hand-written seeds ship with the package
FILTERS = ("unparsed", "length", "names_api", "copies_seed", "call_mismatch", "off_topic", "near_duplicate")


@dataclass(frozen=True)
class SelfInstructConfig:
    per_api: int = 10  # requests asked of the teacher per API (and the most kept)
    seeds_in_prompt: int = 3
    seed: int = 0
    max_new_tokens: int = 320
    temperature: float = 0.0  # greedy: the same teacher gives the same text
    batch_size: int = 4
    min_words: int = 5
    max_words: int = 60
    max_chars: int = 400
    near_dup: float = 0.7  # word-set Jaccard at or above which a later instruction is a near-duplicate
    roundtrip_k: int = 0  # >0: keep a request only if BM25 over the hub's database ranks its API in the top k


@dataclass(frozen=True)
class Seed:
    api: dict[str, Any]
    instructions: tuple[str, ...]


def load_seeds(hub: str, path: Path | None = None) -> list[Seed]:
    """The hub's hand-written seeds (`path`, default the packaged gorilla/resources/seeds/<hub>.json), checked
    here so a bad file fails naming its entry before any teacher runs."""
    path = path or SEEDS_DIR / f"{hub}.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(path, f"no seed file for hub {hub!r}") from None
    except json.JSONDecodeError as e:
        raise InputError(path, f"invalid JSON: {e.msg} (column {e.colno})", e.lineno) from None
    seeds = []
    for i, s in enumerate(data if isinstance(data, list) else []):
        if not isinstance(s, dict) or not isinstance(s.get("api"), dict) or not isinstance(s.get("instructions"), list):
            raise InputError(path, "each seed needs an 'api' object and an 'instructions' list", None, f"[{i}]")
        seeds.append(Seed(s["api"], tuple(str(x) for x in s["instructions"])))
    if len(seeds) < 3:
        raise InputError(path, f"need at least 3 seeds, found {len(seeds)}")
    return seeds


def pick_seeds(seeds: Sequence[Seed], key: str, k: int, seed: int) -> list[Seed]:
    """k seeds chosen by (seed, API key) alone, so order of work and resumption never change them."""
    return random.Random(f"{seed}:{key}").sample(list(seeds), k)


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def forbidden_names(api: dict[str, Any]) -> list[str]:
    """Names an instruction must not contain: API name, model id, repository (and its owner), tfhub handle parts
    (which apply is read from the call, as call_key reads it)."""
    call = str(api.get("api_call") or "")
    names = [str(api.get("api_name") or "")]
    key = call_key(call) or ""
    title = str(api.get("functionality") or "")
    if tfhub_handle(call):
        # model-like handle parts (`mobilenet_v2_100_224`, `universal-sentence-encoder`), not words like `classification`
        names += [p for p in key.split("/")[1:-1] if re.search(r"[\d_-]", p)]
        names += re.findall(r"\(([^)]+)\)", title)  # the network architecture
    elif (parsed := parse_source_call(call)) is not None and parsed.name == "torch.hub.load" and ":" in key:
        repo, model = key.split(":", 1)
        names += [model, repo, repo.split("/")[0]]
        if len(title.split()) == 1:  # a one-word page title is the model family's name (`SimpleNet`, `HarDNet`)
            names.append(title)
    else:
        for v in re.findall(r"""['"]([^'"]+)['"]""", call):
            if "/" in v:
                names += [v, v.split("/")[-1]]
    task = _norm(str(api.get("domain") or ""))  # `feature_vector` in a handle names the task, not the model
    return [n for n in dict.fromkeys(_norm(x) for x in names) if len(n) >= 4 and n not in task]


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", text.lower()))


class NearDuplicates:
    """Word-set Jaccard against everything kept so far, looked up through shared word pairs."""

    def __init__(self, threshold: float):
        self.threshold = threshold
        self.kept: list[set[str]] = []
        self.index: dict[tuple[str, str], list[int]] = {}

    @staticmethod
    def _pairs(text: str) -> set[tuple[str, str]]:
        w = re.findall(r"[a-z0-9]+", text.lower())
        return set(zip(w, w[1:], strict=False)) or {(x, "") for x in w}

    def is_near(self, text: str) -> bool:
        words = _words(text)
        seen = {i for p in self._pairs(text) for i in self.index.get(p, ())}
        return any(len(words & self.kept[i]) / max(1, len(words | self.kept[i])) >= self.threshold for i in seen)

    def add_if_new(self, text: str) -> bool:
        if self.is_near(text):
            return False
        words, pairs = _words(text), self._pairs(text)
        self.kept.append(words)
        for p in pairs:
            self.index.setdefault(p, []).append(len(self.kept) - 1)
        return True


def _code(api: dict[str, Any], limit: int = 1000) -> str:
    code = api.get("example_code") or ""
    code = "\n".join(map(str, code)) if isinstance(code, list) else str(code)
    return code if len(code) <= limit else code[:limit].rsplit("\n", 1)[0]


def _first_sentence(text: str) -> str:
    m = re.match(r"(.+?[.!?])(\s|$)", " ".join(str(text or "").split()))
    return m.group(1) if m else " ".join(str(text or "").split())[:300]


def make_pair(instruction: str, api: dict[str, Any]) -> dict[str, Any]:
    """A pair in upstream's train format; the answer in the one shared format (`gorilla.prompting`)."""
    answer = format_answer(api["domain"], api["api_call"], str(api.get("framework", "")),
                           _first_sentence(api.get("description", "")), _code(api))
    return {"code": record_code(instruction, answer), "api_call": api["api_call"],
            "provider": str(api.get("framework", "")), "api_data": api}


def prompt_id(prompt: str, teacher_id: str, cfg: SelfInstructConfig) -> str:
    sig = json.dumps([prompt, teacher_id, cfg.max_new_tokens, cfg.temperature, cfg.seed])
    return hashlib.sha256(sig.encode()).hexdigest()[:16]


def teacher_seconds(path: Path) -> float:
    """Teacher time recorded in a raw file (rows written before timing was recorded count 0)."""
    if not path.exists():
        return 0.0
    total = 0.0
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            total += float(json.loads(line).get("seconds", 0))
        except (json.JSONDecodeError, TypeError, ValueError, AttributeError):
            continue
    return round(total, 1)


def load_raw(path: Path) -> dict[str, str]:
    """prompt id -> teacher text from an earlier (possibly interrupted) run; a torn last line is ignored."""
    out: dict[str, str] = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
                out[row["id"]] = row["text"]
            except (json.JSONDecodeError, KeyError, TypeError):
                continue
    return out


def generate(db: Sequence[dict[str, Any]], hub: str, teacher: Callable[[], Backend], teacher_id: str,
             seeds: Sequence[Seed], raw_path: Path, cfg: SelfInstructConfig,
             progress: Callable[[int, int], None] | None = None) -> dict[str, str]:
    """Ask the teacher about every API not yet in `raw_path`; return {API key: teacher text} for all.

    `teacher` is called (the model loaded) only when something is left to generate; `teacher_id`
    names it in the resume keys, so text from another teacher or setting is never reused.
    """
    jobs = []
    for api in db:
        key = call_key(api["api_call"]) or api["api_call"]
        prompt = teacher_prompt(api, pick_seeds(seeds, key, cfg.seeds_in_prompt, cfg.seed), cfg.per_api)
        jobs.append((key, prompt, prompt_id(prompt, teacher_id, cfg)))
    done = load_raw(raw_path)
    todo = [j for j in jobs if j[2] not in done]
    if progress:
        progress(len(jobs) - len(todo), len(jobs))
    if not todo:
        return {key: done[pid] for key, _, pid in jobs}
    backend = teacher()
    raw_path.parent.mkdir(parents=True, exist_ok=True)
    with open(raw_path, "a", encoding="utf-8") as f:
        for start in range(0, len(todo), cfg.batch_size):
            batch = todo[start: start + cfg.batch_size]
            t0 = time.perf_counter()
            texts = backend.generate([p for _, p, _ in batch], max_new_tokens=cfg.max_new_tokens,
                                     temperature=cfg.temperature, stop=TEACHER_STOP)
            if len(texts) != len(batch):
                raise GorillaError(f"teacher {backend.name} returned {len(texts)} texts for {len(batch)} prompts")
            seconds = round((time.perf_counter() - t0) / len(batch), 2)  # summed into the manifest, across resumes
            for (key, _, pid), text in zip(batch, texts, strict=True):
                f.write(json.dumps({"id": pid, "key": key, "text": text, "seconds": seconds}, ensure_ascii=False) + "\n")
                done[pid] = text
            f.flush()
            os.fsync(f.fileno())
            if progress:
                progress(len(jobs) - len(todo) + start + len(batch), len(jobs))
    return {key: done[pid] for key, _, pid in jobs}


def filter_pairs(db: Sequence[dict[str, Any]], hub: str, texts: dict[str, str], cfg: SelfInstructConfig,
                 seeds: Sequence[Seed] = ()) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Teacher text -> kept pairs (upstream's train format), in database order, and counts per filter."""
    requests = {i: parse_requests(texts.get(call_key(api["api_call"]) or api["api_call"], ""))[: cfg.per_api]
                for i, api in enumerate(db)}
    kept, counts = filter_requests(db, hub, requests, cfg, seeds)
    return [make_pair(text, db[i]) for i, text in kept], counts


class _Filters:
    """The filters, in the order they are applied; `reason` names the first a request fails, None if it passes."""

    def __init__(self, db: Sequence[dict[str, Any]], hub: str, cfg: SelfInstructConfig, seeds: Sequence[Seed]):
        from gorilla.data.records import ApiEntry
        from gorilla.retrieval.base import Corpus
        from gorilla.retrieval.bm25 import BM25Retriever
        from gorilla.scoring.strict import StrictMatcher

        entries = [ApiEntry.from_dict(api, Path("api.jsonl"), i + 1) for i, api in enumerate(db)]
        self.db, self.hub, self.cfg, self.matcher = db, hub, cfg, StrictMatcher(entries)
        self.bm25 = BM25Retriever(Corpus(hub, Path("api.jsonl"), entries)) if cfg.roundtrip_k and entries else None
        self.dups, self.seen_seeds = NearDuplicates(cfg.near_dup), NearDuplicates(cfg.near_dup)
        for t in (t for s in seeds for t in s.instructions):
            self.seen_seeds.add_if_new(t)

    def own_call(self, i: int) -> bool:
        """The pair must teach a Python call that the strict scorer maps back to this very entry."""
        call = self.db[i]["api_call"]
        return parse_bound_call(call) is not None and i in self.matcher.match(call)[0]

    def off_topic(self, i: int, text: str) -> bool:
        hits = self.bm25.search(text, self.cfg.roundtrip_k) if self.bm25 is not None else None
        return hits is not None and normalize_call(self.db[i]["api_call"]) not in {normalize_call(h.entry.api_call) for h in hits}

    def reason(self, i: int, text: str, names: list[str], own_call: bool) -> str | None:
        cfg = self.cfg
        if not (cfg.min_words <= len(text.split()) <= cfg.max_words) or len(text) > cfg.max_chars:
            return "length"
        if any(n in _norm(text) for n in names):
            return "names_api"
        if self.seen_seeds.is_near(text):
            return "copies_seed"
        if not own_call:
            return "call_mismatch"
        if self.off_topic(i, text):
            return "off_topic"
        return None if self.dups.add_if_new(text) else "near_duplicate"


def filter_requests(db: Sequence[dict[str, Any]], hub: str, requests: dict[int, list[str]], cfg: SelfInstructConfig,
                    seeds: Sequence[Seed] = ()) -> tuple[list[tuple[int, str]], dict[str, Any]]:
    """Requests per database line -> kept (line, request), in database order, and counts per filter.

    A small teacher often copies the seed requests it was shown; those are dropped as `copies_seed`.
    It also drifts off topic: a request from which BM25 over the hub's own database cannot get back
    to its API (top `roundtrip_k`) says nothing about that API and is dropped as `off_topic`.
    Hand-written requests (gorilla/resources/instructions) pass the same filters.
    """
    filters = _Filters(db, hub, cfg, seeds)
    dropped = dict.fromkeys(FILTERS, 0)
    kept: list[tuple[int, str]] = []
    for i in sorted(requests):
        if not requests[i]:
            dropped["unparsed"] += 1
            continue
        names, own_call = forbidden_names(db[i]), filters.own_call(i)
        for text in requests[i]:
            if why := filters.reason(i, text, names, own_call):
                dropped[why] += 1
            else:
                kept.append((i, text))
    counts = {"apis": len(requests), "apis_with_pairs": len({db[i]["api_call"] for i, _ in kept}),
              "candidates": sum(map(len, requests.values())), "kept": len(kept), "dropped": dropped,
              "config": asdict(cfg)}
    return kept, counts


def teacher_id(spec: str, model: str | None = None) -> str:
    """The teacher's name in resume keys and manifests (the embedded and tiny models by their backend names)."""
    from gorilla.models.embedded import is_embedded

    if spec == "tiny":
        return "tiny-random-llama"
    return "smollm2-135m-instruct" if is_embedded(spec) else spec + (f"@{model}" if model else "")


def load_teacher(spec: str, *, model: str | None = None, concurrency: int = 8) -> Backend:
    """`embedded` (SmolLM2), `tiny` (random LLaMA, tests), an HF id / dir / .gguf, or `openai:URL` (completions)."""
    if spec.startswith(("openai:", "http://", "https://")):
        from gorilla.models.openai import OpenAIBackend

        url = spec.split(":", 1)[1] if spec.startswith("openai:") else spec
        return OpenAIBackend(base_url=url, model=model, mode="completions", concurrency=concurrency)
    from gorilla.models.local import LocalBackend

    if spec == "tiny":
        from gorilla.models.tiny import tiny_llama

        return LocalBackend(*tiny_llama(), name="tiny-random-llama")
    return LocalBackend.load(spec)

