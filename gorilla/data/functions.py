"""Function docs and the calls made of them: the typed records of function calling.

A function doc arrives in one of three spellings: an OpenAI tool (`{"type": "function", "function":
{...}}`), an OpenAI `functions` entry, or a BFCL function doc (`name`, `description`, `parameters`).
BFCL writes Python's type names (`dict`, `float`, `tuple`, `any`); `FunctionSpec` holds JSON Schema's
(`object`, `number`, `array`, no `type` at all for any value), so the grammar, the prompt and the
checker read one vocabulary.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gorilla.errors import GorillaError

# BFCL's Python type names -> JSON Schema's ("any" drops the type: any value is allowed)
TYPE_NAMES = {"dict": "object", "float": "number", "tuple": "array", "int": "integer", "str": "string",
              "bool": "boolean", "list": "array", "double": "number", "long": "integer", "any": None}
MAX_SCHEMA_DEPTH = 16  # nested objects and arrays; deeper documents are refused, not recursed into
_NESTED = ("items", "additionalProperties")


@dataclass(frozen=True)
class ToolCall:
    """One call the model made: the function's name and its arguments as values (not text); arguments None for a
    call whose text could not be read (free decoding only: a grammar's calls always can)."""

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """`{"name", "arguments"}`: the shape BFCL result lines and the server's tool_calls carry."""
        return {"name": self.name, "arguments": self.arguments}


@dataclass(frozen=True)
class FunctionSpec:
    """A callable function: `parameters` is a JSON Schema object (`properties`, `required`) with normalised types."""

    name: str
    description: str = ""
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}, "required": []})

    @classmethod
    def from_tool(cls, obj: Any) -> FunctionSpec:
        """A spec from an OpenAI tool, an OpenAI `functions` entry or a BFCL function doc (one GorillaError
        naming the field when the doc is not one)."""
        if not isinstance(obj, Mapping):
            raise GorillaError(f"function doc: expected an object, got {type(obj).__name__}")
        if obj.get("type") == "function" and "function" in obj:
            obj = obj["function"]
            if not isinstance(obj, Mapping):
                raise GorillaError("function doc: function: expected an object")
        name = obj.get("name")
        if not isinstance(name, str) or not name.strip():
            raise GorillaError("function doc: name: expected a non-empty string")
        description = obj.get("description") or ""
        if not isinstance(description, str):
            raise GorillaError(f"function doc {name}: description: expected a string")
        params = obj.get("parameters")
        if params is None:
            params = {"type": "object", "properties": {}}
        if not isinstance(params, Mapping):
            raise GorillaError(f"function doc {name}: parameters: expected an object")
        schema = normalize_schema(params, f"function doc {name}: parameters")
        schema["type"] = "object"
        schema.setdefault("properties", {})
        schema["required"] = [r for r in schema.get("required") or [] if r in schema["properties"]]
        return cls(name.strip(), description.strip(), schema)

    @property
    def properties(self) -> dict[str, dict[str, Any]]:
        """Parameter name -> its schema, in the doc's order."""
        return self.parameters.get("properties", {})

    @property
    def required(self) -> list[str]:
        """The parameters a call must pass."""
        return list(self.parameters.get("required", []))


def normalize_schema(schema: Mapping[str, Any], where: str, depth: int = 0) -> dict[str, Any]:
    """A deep copy of `schema` with BFCL's type names in JSON Schema's spelling (see TYPE_NAMES)."""
    if depth > MAX_SCHEMA_DEPTH:
        raise GorillaError(f"{where}: nested deeper than {MAX_SCHEMA_DEPTH} levels")
    out = copy.deepcopy(dict(schema))
    kind = out.get("type")
    if isinstance(kind, list):
        kinds = [_type_name(k, where) for k in kind]
        out["type"] = [k for k in kinds if k is not None] if None not in kinds else None
    elif kind is not None:
        out["type"] = _type_name(kind, where)
    if out.get("type") is None or out.get("type") == []:
        out.pop("type", None)
    props = out.get("properties")
    if props is not None:
        if not isinstance(props, Mapping):
            raise GorillaError(f"{where}: properties: expected an object")
        out["properties"] = {str(k): normalize_schema(v if isinstance(v, Mapping) else {}, f"{where}.{k}", depth + 1)
                             for k, v in props.items()}
        out.setdefault("type", "object")
    for key in _NESTED:
        if isinstance(out.get(key), Mapping):
            out[key] = normalize_schema(out[key], f"{where}.{key}", depth + 1)
    if "required" in out and not isinstance(out["required"], list):
        raise GorillaError(f"{where}: required: expected a list of names")
    return out


def _type_name(kind: Any, where: str) -> str | None:
    """JSON Schema's name for one type name, None for any value."""
    if not isinstance(kind, str):
        raise GorillaError(f"{where}: type: expected a string, got {kind!r}")
    return TYPE_NAMES.get(kind.lower(), kind.lower())
