"""APIBench and BFCL files and hubs: where they live (`get_hub`), their typed records, and safe JSONL reading and
writing."""

from gorilla.data.bfcl import BfclCase, answers_path, category_of, load_answers, load_cases, load_results
from gorilla.data.hubs import EVAL_FILES, HUBS, hub_from_filename
from gorilla.data.jsonl import atomic_write, read_json, read_jsonl, write_jsonl
from gorilla.data.paths import ApiBenchPaths, resolve_data_dir
from gorilla.data.records import (
    ApiEntry,
    EvalPair,
    Example,
    Question,
    Response,
    load_api_db,
    load_eval,
    load_examples,
    load_questions,
    load_responses,
    normalize_call,
)
from gorilla.data.registry import Hub, adhoc_hub, all_hubs, get_hub

__all__ = [
    "HUBS", "EVAL_FILES", "hub_from_filename",
    "normalize_call", "read_json", "read_jsonl", "write_jsonl", "atomic_write",
    "ApiBenchPaths", "resolve_data_dir", "Hub", "get_hub", "all_hubs", "adhoc_hub",
    "ApiEntry", "EvalPair", "Example", "Question", "Response",
    "load_api_db", "load_eval", "load_examples", "load_questions", "load_responses",
    "BfclCase", "answers_path", "category_of", "load_answers", "load_cases", "load_results",
]
