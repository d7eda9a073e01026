"""Typed records for the four APIBench file kinds, validated field by field on load."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gorilla.calls import normalize_call as normalize_call  # re-exported: gorilla.data.normalize_call
from gorilla.data.jsonl import read_jsonl
from gorilla.errors import InputError
from gorilla.prompting import instruction_of

API_FIELDS = ("domain", "framework", "functionality", "api_name", "api_call", "api_arguments",
              "python_environment_requirements", "example_code", "performance", "description")


def _get(obj: dict, key: str, kind: type | tuple[type, ...], path: Path, line: int, *, required: bool = True,
         default: Any = None) -> Any:
    if key not in obj:
        if required:
            raise InputError(path, "missing field", line, key)
        return default
    value = obj[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        want = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise InputError(path, f"expected {want}, got {type(value).__name__}", line, key)
    return value


@dataclass(frozen=True)
class ApiEntry:
    """One API database record. `raw` keeps every field as given (upstream's schema varies by hub).

    `parameters` is the call's arguments as a JSON schema object (`{"type": "object", "properties": ...,
    "required": [...]}`) for APIs read from OpenAPI documents, tools lists and API Zoo files; `{}` for
    APIBench's fixed calls (`pipeline('asr', model='openai/whisper-base')` has nothing left to fill).
    """

    domain: str
    api_call: str
    api_name: str = ""
    framework: str = ""
    functionality: str = ""
    description: str = ""
    parameters: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_dict(cls, obj: dict[str, Any], path: Path, line: int, prefix: str = "") -> ApiEntry:
        def text(key: str, required: bool = False) -> str:
            try:
                v = _get(obj, key, str, path, line, required=required, default="")
            except InputError as e:
                raise InputError(path, e.message, line, prefix + key) from None
            return v

        parameters = obj.get("parameters")
        if parameters is not None and not isinstance(parameters, dict):
            raise InputError(path, f"expected a JSON schema object, got {type(parameters).__name__}", line,
                             prefix + "parameters")
        return cls(domain=text("domain", True), api_call=text("api_call", True), api_name=_stringify(obj.get("api_name")),
                   framework=_stringify(obj.get("framework")), functionality=_stringify(obj.get("functionality")),
                   description=_stringify(obj.get("description")), parameters=parameters or {}, raw=obj)


def _stringify(value: Any) -> str:
    return "" if value is None else value if isinstance(value, str) else str(value)


@dataclass(frozen=True)
class EvalPair:
    """An instruction -> API pair (train and eval files share the format)."""

    code: str
    api_call: str
    provider: str
    api_data: ApiEntry

    @property
    def instruction(self) -> str:
        return instruction_of(self.code)

    @property
    def domain(self) -> str:
        return self.api_data.domain


@dataclass(frozen=True)
class Question:
    question_id: int
    text: str
    category: str = ""


@dataclass(frozen=True)
class Response:
    """A model's answer. `text` is None when the key is absent (the scorer counts it as neither)."""

    question_id: int
    text: str | None
    line: int
    answer_id: str = ""
    model_id: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)


def load_api_db(path: str | Path) -> list[ApiEntry]:
    path = Path(path)
    return [ApiEntry.from_dict(obj, path, line) for line, obj in read_jsonl(path)]


def _pair(obj: dict[str, Any], path: Path, line: int) -> EvalPair:
    data = _get(obj, "api_data", dict, path, line)
    return EvalPair(code=_get(obj, "code", str, path, line, required=False, default=""),
                    api_call=_get(obj, "api_call", str, path, line, required=False, default=""),
                    provider=_stringify(obj.get("provider")),
                    api_data=ApiEntry.from_dict(data, path, line, prefix="api_data."))


def load_eval(path: str | Path) -> list[EvalPair]:
    """Eval or train pairs, in file order (line i answers question_id i+1)."""
    path = Path(path)
    return [_pair(obj, path, line) for line, obj in read_jsonl(path)]


@dataclass(frozen=True)
class Example:
    """A solved request: what a user asked and the API call that answers it (memory and fine-tuning data)."""

    instruction: str
    api_call: str
    domain: str = ""


def load_examples(path: str | Path) -> list[Example]:
    """Solved requests from either format: our instruction lines (`instruction`, `api_call`, `domain`,
    `api_index`; gorilla/resources/instructions) or upstream train/eval pairs (`code`, `api_data`)."""
    path = Path(path)
    out = []
    for line, obj in read_jsonl(path):
        if "instruction" in obj:
            out.append(Example(_get(obj, "instruction", str, path, line), _get(obj, "api_call", str, path, line),
                               _get(obj, "domain", str, path, line, required=False, default="")))
            continue
        pair = _pair(obj, path, line)
        out.append(Example(pair.instruction, pair.api_data.api_call or pair.api_call, pair.domain))
    return out


def load_questions(path: str | Path) -> list[Question]:
    """A questions file; ids must be unique (answers are filed and resumed by id), a repeat names both lines."""
    path = Path(path)
    out, first = [], {}
    for line, o in read_jsonl(path):
        q = Question(_get(o, "question_id", int, path, line), _get(o, "text", str, path, line),
                     _stringify(o.get("category")))
        if q.question_id in first:
            raise InputError(path, f"{q.question_id} repeats line {first[q.question_id]}", line, "question_id")
        first[q.question_id] = line
        out.append(q)
    return out


def load_responses(path: str | Path) -> list[Response]:
    path = Path(path)
    out = []
    for line, o in read_jsonl(path):
        meta = o.get("metadata") if isinstance(o.get("metadata"), dict) else {}
        out.append(Response(question_id=_get(o, "question_id", int, path, line),
                            text=_get(o, "text", str, path, line, required=False), line=line,
                            answer_id=_stringify(o.get("answer_id")), model_id=_stringify(o.get("model_id")),
                            metadata=meta))
    return out
