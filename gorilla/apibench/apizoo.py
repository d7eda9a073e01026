"""API Zoo files (a JSON list of contributed API entries) -> API records in upstream's schema.

Errors are reported where they are (`file:line:col: message`), each entry by the line and column it
starts on. Contributors wrote `api_arguments` and `api_call` in many shapes; both are carried over as
well as they allow:
- `parameters`, a JSON schema, from `api_arguments`: a dict of name -> `"[REQUIRED] string: text"`,
  `"integer: text"`, `" string (text)"`, plain text, `{"description", "data_type", "required",
  "possible_values", ...}` (ServiceNow), a nested dict (an object argument), a list of choices (an
  enum) or a default value; a list of names; a comma-separated string of names. What a value does not
  say (type, whether required) is left out rather than guessed.
- `api_call` rewritten only where the written one does not parse as one Python call: a REST line
  `GET /users/{id}` becomes the same template as an OpenAPI operation without an operationId
  (`get_users_id(id=...)`, with `http` keeping method and path), `f(calendarId: str)` becomes
  `f(calendarId=...)` and `<placeholder>` or `{placeholder}` becomes `...`. Others (attribute reads,
  `{methodName}(...)`) stay as written: the database step names them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from gorilla.apibench.source import (
    Document,
    Found,
    ParsedFile,
    SourceError,
    call_template,
    load_document,
    python_name,
)
from gorilla.calls import parse_source_call

REQUIRED = ("api_name", "api_call")
_TYPES = {"string": "string", "str": "string", "text": "string", "integer": "integer", "int": "integer",
          "number": "number", "float": "number", "double": "number", "decimal": "number", "boolean": "boolean",
          "bool": "boolean", "array": "array", "list": "array", "object": "object", "dict": "object"}
_TYPED = re.compile(r"\s*(\[REQUIRED\])?\s*([A-Za-z]+)\s*(?::\s*(.*)|\((.*)\)\s*|)$", re.S)
_REST = re.compile(r"(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS)\s+(/?[^\s?]*)\S*", re.I)
_ANNOTATED = re.compile(r"\b([A-Za-z_]\w*)\s*:\s*[A-Za-z_][\w.\[\]]*(?=\s*[,)])")
_PLACEHOLDER = re.compile(r"<[^<>()]*>|{[\w ]*}")


def files(docs: Path) -> list[Path]:
    return sorted(p for p in docs.rglob("*") if p.is_file() and p.suffix.lower() == ".json") if docs.is_dir() else [docs]


def provider_of(api_name: str, path: Path) -> str:
    """`Gmail API - Users.getProfile` -> `Gmail API`; else the file's name."""
    return api_name.split(" - ")[0].strip() if " - " in api_name else path.stem.replace("_", " ")


def operation_name(method: str, path: str) -> str:
    """The Python name of an HTTP operation that has no name of its own: `GET /pets/{petId}` -> `get_pets_petId`."""
    return python_name(f"{method.lower()}_{re.sub(r'[^0-9A-Za-z]+', '_', path).strip('_')}")


def _typed_text(text: str) -> tuple[dict[str, Any], bool]:
    """A property from `"[REQUIRED] string: text"`-like prose, and whether it says it is required."""
    m = _TYPED.fullmatch(text)
    kind = _TYPES.get(m.group(2).lower()) if m else None
    prop: dict[str, Any] = {"type": kind} if kind else {}
    description = ((m.group(3) or m.group(4) or "") if kind else text).strip()
    if description:
        prop["description"] = description
    required = bool(m and m.group(1)) or description.lower().startswith("required")
    return prop, required


def _described(spec: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """A property from a `{"description", "data_type", "required", "possible_values", ...}` dict."""
    prop: dict[str, Any] = {}
    kind = _TYPES.get(str(spec.get("data_type") or spec.get("type") or "").lower())
    if kind:
        prop["type"] = kind
    if isinstance(spec.get("description"), str) and spec["description"].strip():
        prop["description"] = spec["description"].strip()
    choices = spec.get("possible_values") or spec.get("valid_values")
    if isinstance(choices, list) and choices and all(isinstance(c, (str, int, float)) for c in choices):
        prop["enum"] = choices
    if "default" in spec and isinstance(spec["default"], (str, int, float, bool)):
        prop["default"] = spec["default"]
    if isinstance(spec.get("maximum_length"), int) or str(spec.get("maximum_length", "")).isdigit():
        prop["maxLength"] = int(spec["maximum_length"])
    return prop, spec.get("required") is True or str(spec.get("required")).lower() == "true"


def _value_kind(value: Any) -> str:
    return {bool: "boolean", int: "integer", float: "number", str: "string"}.get(type(value), "")


def _property(value: Any) -> tuple[dict[str, Any], bool]:
    """One argument's JSON schema and whether it is required, from whatever the entry wrote for it."""
    if isinstance(value, str):
        return _typed_text(value)
    if isinstance(value, dict):
        if {"description", "data_type", "type"} & set(value) and not any(isinstance(v, dict) for v in value.values()):
            return _described(value)
        return arguments_schema(value), False
    if isinstance(value, list) and value and all(isinstance(v, (str, int, float, bool)) for v in value):
        kind = _value_kind(value[0])
        return ({"type": kind} if kind and all(_value_kind(v) == kind for v in value) else {}) | {"enum": value}, False
    if isinstance(value, (bool, int, float)):
        return {"type": _value_kind(value), "default": value}, False
    return {}, False


def arguments_schema(arguments: Any) -> dict[str, Any]:
    """An entry's `api_arguments` as a JSON schema object (see the module docstring for the shapes read)."""
    properties: dict[str, Any] = {}
    required: list[str] = []
    if isinstance(arguments, dict):
        for name, value in arguments.items():
            properties[str(name)], needed = _property(value)
            if needed:
                required.append(str(name))
    elif isinstance(arguments, list):
        properties = {a: {} for a in arguments if isinstance(a, str) and a.strip()}
    elif isinstance(arguments, str) and arguments.strip() and arguments.strip().upper() != "N/A":
        names = [a.strip() for a in arguments.split(",")]
        if all(n.isidentifier() for n in names):
            properties = {n: {} for n in names}
    return {"type": "object", "properties": properties, "required": required}


def rest_call(method: str, route: str, parameters: dict[str, Any]) -> str:
    """The template of a REST operation known by method and path; its `{name}` path parameters become
    required arguments of `parameters` (added when the entry did not list them)."""
    for name in re.findall(r"{([^{}]+)}", route):
        parameters["properties"].setdefault(name, {"type": "string"})
        if name not in parameters["required"]:
            parameters["required"].append(name)
    return call_template(operation_name(method, route), parameters["required"])


def python_call(call: str, parameters: dict[str, Any]) -> tuple[str, dict[str, Any] | None]:
    """(api_call as a Python call, the HTTP method and path for a REST line or None); see the module docstring."""
    if parse_source_call(call) is not None:
        return call, None
    if m := _REST.fullmatch(call):
        method, route = m.group(1).upper(), "/" + m.group(2).lstrip("/")
        return rest_call(method, route, parameters), {"method": method, "url": route}
    rewritten = _PLACEHOLDER.sub("...", _ANNOTATED.sub(r"\1=...", call))
    return (rewritten if parse_source_call(rewritten) is not None else call), None


def _entries(doc: Document) -> list[dict[str, Any]]:
    """The top-level list's entries (or the single top-level object)."""
    if isinstance(doc.data, dict):
        return [doc.data]
    if not isinstance(doc.data, list):
        raise SourceError(doc.path, 1, 1, f"expected a JSON list of API entries, got {type(doc.data).__name__}")
    for entry in doc.data:
        if not isinstance(entry, dict):
            raise doc.error(entry, f"expected an API entry object, got {type(entry).__name__}")
    return doc.data


def record_of(entry: dict[str, Any], path: Path) -> dict[str, Any]:
    """One entry as an API record (upstream's ten fields, `parameters`, and `http` for a REST line)."""
    meta = entry.get("meta_data") if isinstance(entry.get("meta_data"), dict) else {}
    provider = provider_of(entry["api_name"], path)
    parameters = arguments_schema(entry.get("api_arguments"))
    api_call, http = python_call(entry["api_call"].strip(), parameters)
    record = {
        "domain": str(meta.get("domain") or provider),
        "framework": provider,
        "functionality": str(entry.get("functionality", "")),
        "api_name": entry["api_name"],
        "api_call": api_call,
        "api_arguments": entry.get("api_arguments", {}),
        "python_environment_requirements": entry.get("env_requirements", []),
        "example_code": entry.get("example_code", ""),
        "performance": {},
        "description": str(meta.get("description", "")),
        "parameters": parameters,
    }
    return record | ({"http": http} if http else {})


def parse_document(doc: Document) -> ParsedFile:
    out = ParsedFile(str(doc.path))
    for entry in _entries(doc):
        for key in REQUIRED:
            if not isinstance(entry.get(key), str) or not entry[key].strip():
                raise doc.error(entry, f"{key}: missing or not a string")
        out.found.append(Found(record_of(entry, doc.path), str(doc.path), *doc.where(entry)))
    return out


def parse_file(path: Path) -> ParsedFile:
    return parse_document(load_document(path))
