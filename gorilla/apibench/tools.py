"""Function-calling tool lists -> one API record per function.

Two shapes, in JSON or YAML: OpenAI's `tools` (`[{"type": "function", "function": {"name", "description",
"parameters"}}]`) and bare function docs (`[{"name", "description", "parameters"}]`, as BFCL writes
them; a single such object is read as a list of one). `parameters` must be a JSON schema object;
BFCL's Python spellings of types (`dict`, `float`, `tuple`, `any`) become JSON Schema's (`object`,
`number`, `array`, no constraint; `data.functions.normalize_schema`, the one reading of them), then the schema is checked with `jsonschema`'s meta-schema
(Draft 2020-12), so a typo (`"type": "objet"`, `"required": "city"`) is refused here, naming the
tool's line, instead of confusing the argument filler later.

`api_call` is `name(req=..., ...)`: the function with each required argument written as `...`
(Python's Ellipsis), a template that parses as one call and shows what must be filled
(`source.call_template`; a dotted BFCL name such as `math.factorial` stays dotted). Tools carry no
domain, so `domain` and `framework` are the file's name (`weather_tools.json` -> `weather tools`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gorilla.apibench.source import (
    Document,
    Found,
    ParsedFile,
    call_template,
    load_document,
    structured_files,
)
from gorilla.data.functions import normalize_schema
from gorilla.errors import GorillaError

files = structured_files  # the build's parser interface (build.collect calls parser.files)


def function_of(item: Any) -> dict[str, Any] | None:
    """The function doc of a tools-list item (`{"type": "function", "function": {...}}` or the bare doc), else None."""
    if not isinstance(item, dict):
        return None
    if item.get("type") == "function" and isinstance(item.get("function"), dict):
        return item["function"]
    return item if isinstance(item.get("name"), str) and ("parameters" in item or "description" in item) else None


def looks_like_tools(data: Any) -> bool:
    """Whether a document is a tools list (every item a function doc) or one function doc."""
    items = data if isinstance(data, list) else [data]
    return bool(items) and all(function_of(i) is not None and "api_call" not in i for i in items)


def check_parameters(parameters: Any, doc: Document, item: Any) -> dict[str, Any]:
    """A function's `parameters` as a checked JSON schema object (missing: no arguments)."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    if parameters is None:
        return {"type": "object", "properties": {}, "required": []}
    if not isinstance(parameters, dict):
        raise doc.error(item, f"parameters: expected a JSON schema object, got {type(parameters).__name__}")
    try:
        schema = normalize_schema(parameters, "parameters")
    except GorillaError as e:
        raise doc.error(item, str(e)) from None
    if schema.get("type", "object") != "object":
        raise doc.error(item, f"parameters: expected \"type\": \"object\", got {schema.get('type')!r}")
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as e:
        where = "".join(f"[{p!r}]" if isinstance(p, int) else f".{p}" for p in e.path)
        raise doc.error(item, f"parameters{where}: {e.message}") from None
    return {"type": "object", "properties": schema.get("properties", {}), "required": schema.get("required", [])} | {
        k: v for k, v in schema.items() if k not in ("type", "properties", "required")}


def record_of(fn: dict[str, Any], parameters: dict[str, Any], source: str) -> dict[str, Any]:
    """One function doc as an API record."""
    description = " ".join(str(fn.get("description") or "").split())
    return {
        "domain": source,
        "framework": source,
        "functionality": description.split(". ")[0] or fn["name"],
        "api_name": fn["name"],
        "api_call": call_template(fn["name"], [r for r in parameters["required"] if isinstance(r, str)]),
        "api_arguments": {k: str(v.get("description") or v.get("type") or "") for k, v in parameters["properties"].items()
                          if isinstance(v, dict)},
        "python_environment_requirements": [],
        "example_code": "",
        "performance": {},
        "description": description,
        "parameters": parameters,
    }


def parse_document(doc: Document) -> ParsedFile:
    items = doc.data if isinstance(doc.data, list) else [doc.data]
    source = doc.path.stem.replace("_", " ").replace("-", " ")
    out = ParsedFile(str(doc.path))
    for item in items:
        fn = function_of(item)
        if fn is None:
            raise doc.error(item, 'expected a tool ({"type": "function", "function": {...}}) or a function doc '
                                  '({"name", "description", "parameters"})')
        if not isinstance(fn.get("name"), str) or not fn["name"].strip():
            raise doc.error(fn, "name: missing or not a string")
        parameters = check_parameters(fn.get("parameters"), doc, fn)
        out.found.append(Found(record_of(fn, parameters, source), str(doc.path), *doc.where(item)))
    return out


def parse_file(path: Path) -> ParsedFile:
    return parse_document(load_document(path))
