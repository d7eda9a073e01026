"""Scoring response files: per-response verdicts and the three figures, in compat or strict mode."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from gorilla.data import Hub, get_hub, load_api_db, load_eval, read_jsonl
from gorilla.data.hubs import HUBS, hub_from_filename
from gorilla.data.paths import cache_dir
from gorilla.data.records import ApiEntry
from gorilla.errors import GorillaError, InputError
from gorilla.prompting import parse_answer
from gorilla.scoring.compat import CompatMatcher, compat_candidate
from gorilla.scoring.strict import StrictMatcher

MODES = ("compat", "strict")


@dataclass(frozen=True)
class Verdict:
    line: int
    question_id: Any
    correct: bool
    hallucination: bool
    matched: int | None
    reason: str


@dataclass
class FileScore:
    file: str
    hub: str
    mode: str
    verdicts: list[Verdict] = field(default_factory=list, repr=False)

    @property
    def n(self) -> int:
        return len(self.verdicts)

    @property
    def correct(self) -> int:
        return sum(v.correct for v in self.verdicts)

    @property
    def hallucinated(self) -> int:
        return sum(v.hallucination for v in self.verdicts)

    @property
    def accuracy(self) -> float:
        return self.correct / self.n

    @property
    def hallucination(self) -> float:
        return self.hallucinated / self.n

    @property
    def error(self) -> float:
        return 1 - self.accuracy - self.hallucination

    def figures(self) -> dict[str, Any]:
        return {"file": self.file, "hub": self.hub, "mode": self.mode, "n": self.n, "correct": self.correct,
                "hallucinated": self.hallucinated, "accuracy": self.accuracy, "hallucination": self.hallucination,
                "error": self.error}


class Scorer:
    """Scores many files; everything that depends only on a hub's data is built once and reused. Hubs resolve
    through gorilla.data.get_hub (the APIBench ones from `data_dir`); strict mode scores any hub with an eval split,
    compat mode is the reference scorer's and so APIBench's alone."""

    def __init__(self, data_dir: str | Path | None = None, *, cache: bool = True):
        self.data_dir = data_dir
        self._cache_dir = cache_dir() / "scoring" if cache else None
        self._hubs: dict[str, Hub] = {}
        self._db: dict[str, list[ApiEntry]] = {}
        self._gold: dict[str, list[str]] = {}
        self._matchers: dict[tuple[str, str], Any] = {}

    def hub(self, hub: str | Hub) -> Hub:
        """The hub, resolved once; a Hub (e.g. an ad-hoc one) is remembered under its name."""
        name = hub.name if isinstance(hub, Hub) else hub
        if name not in self._hubs:
            self._hubs[name] = get_hub(hub, self.data_dir)
        return self._hubs[name]

    def database(self, hub: str) -> list[ApiEntry]:
        if hub not in self._db:
            self._db[hub] = load_api_db(self.hub(hub).api_db)
        return self._db[hub]

    def gold_domains(self, hub: str) -> list[str]:
        if hub not in self._gold:
            split = self.hub(hub).eval
            if split is None:
                raise GorillaError(f"hub {hub!r} has no eval split to score against (make one: "
                                   f"gorilla apibench build --hub {hub})")
            self._gold[hub] = [p.domain for p in load_eval(split)]
        return self._gold[hub]

    def matcher(self, hub: str, mode: str) -> Any:
        key = (hub, mode)
        if key not in self._matchers:
            db = self.database(hub)
            self._matchers[key] = CompatMatcher(hub, db, self._cache_dir) if mode == "compat" else StrictMatcher(db)
        return self._matchers[key]

    def _file_hub(self, path: str | Path, hub: str | Hub | None, mode: str) -> str:
        """The hub a responses file is scored against (`hub`, else the APIBench hub its name says); compat mode
        refuses any other hub in one line."""
        name = self.hub(hub).name if hub else hub_from_filename(path)
        if name is None:
            raise GorillaError(f"{path}: cannot tell the hub from the file name; pass --hub")
        if mode == "compat" and not self.hub(name).predefined:
            raise GorillaError(f"compat mode is APIBench's reference scorer, for {', '.join(HUBS)} alone: "
                               f"score hub {name!r} with --mode strict")
        return name

    def score_file(self, path: str | Path, hub: str | Hub | None = None, mode: str = "compat") -> FileScore:
        return self.score_files([path], hub, mode)[0]

    def score_files(self, paths: Sequence[str | Path], hub: str | Hub | None = None, mode: str = "compat",
                    workers: int = 1) -> list[FileScore]:
        """Score several files; in compat mode, unique candidates across all of them are matched once."""
        if mode not in MODES:
            raise GorillaError(f"unknown mode {mode!r}: expected compat or strict")
        loaded = [(path, self._file_hub(path, hub, mode), list(read_jsonl(path))) for path in paths]
        if mode == "compat":
            for h in {h for _, h, _ in loaded}:
                texts = (o["text"] for _, fh, rows in loaded if fh == h for _, o in rows if isinstance(o.get("text"), str))
                self.matcher(h, mode).prefetch((c for t in texts if (c := compat_candidate(t, h)) is not None), workers)
        scores = []
        for path, h, rows in loaded:
            where = Path(path)
            scores.append(FileScore(str(path), h, mode, [self._judge(where, line, obj, h, mode) for line, obj in rows]))
        for m in self._matchers.values():
            if isinstance(m, CompatMatcher):
                m.save()
        return scores

    def _judge(self, path: Path, line: int, obj: dict[str, Any], hub: str, mode: str) -> Verdict:
        qid = obj.get("question_id")
        if "text" not in obj:
            return Verdict(line, qid, False, False, None, "no text")
        text = obj["text"]
        if not isinstance(text, str):
            raise InputError(path, f"expected str, got {type(text).__name__}", line, "text")
        db = self.database(hub)
        if mode == "compat":
            candidate = compat_candidate(text, hub)
            if candidate is None:
                return Verdict(line, qid, False, False, None, "no api_call in text")
            index = self.matcher(hub, mode).match(candidate)
            if index < 0:
                return Verdict(line, qid, False, True, None, "no database entry matches")
            hits = [index]
        else:
            parsed = parse_answer(text)
            if not parsed.api_call_from_field:
                return Verdict(line, qid, False, False, None, "no api_call field")
            hits, why = self.matcher(hub, mode).match(parsed.api_call)
            if not hits:
                return Verdict(line, qid, False, True, None, why)
        gold = self._gold_domain(path, line, qid, hub)
        # compat: the first match decides; strict: any entry with this call answers a question of its domain
        matched = next((i for i in hits if db[i].domain == gold), hits[0]) if mode == "strict" else hits[0]
        if db[matched].domain == gold:
            return Verdict(line, qid, True, False, matched, f"matches entry {matched}, gold domain")
        return Verdict(line, qid, False, False, matched, f"matches entry {matched}: domain {db[matched].domain!r} != gold {gold!r}")

    def _gold_domain(self, path: Path, line: int, qid: Any, hub: str) -> str:
        """The reference reads gold[question_id - 1]: id 0 silently reads the last entry (kept: compat scores
        upstream files as the reference does); past the end it crashes. A negative id would read another
        question's gold from the end, so it is refused."""
        gold = self.gold_domains(hub)
        if not isinstance(qid, int):
            problem = "missing" if qid is None else f"expected int, got {type(qid).__name__}"
            raise InputError(path, problem, line, "question_id")
        if qid < 0:
            raise InputError(path, f"{qid} is negative; question ids count from 1", line, "question_id")
        if qid > len(gold):
            raise InputError(path, f"{qid} is past the end of the {hub} eval set ({len(gold)} questions)", line,
                             "question_id")
        return gold[qid - 1]


def verdict_rows(score: FileScore) -> list[dict[str, Any]]:
    return [asdict(v) for v in score.verdicts]
