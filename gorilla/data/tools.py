"""OpenAI's `tools` and `tool_choice` as a request body or a file carries them: read, checked and bounded.

The server answers a bad list with one 400 naming the field (`tools[2].function.name`), `gorilla query --tools`
with one line naming the file and the field; both read through here, so they accept and refuse the same
things. Each function becomes a `FunctionSpec` (gorilla.data.functions normalises its schema); what a
tool_choice means for decoding is gorilla.toolcalls' business: this module checks its shape, and that a
function it names is among the tools, before any work is queued.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gorilla.data.functions import FunctionSpec
from gorilla.errors import GorillaError, InputError

MAX_TOOLS = 64
MAX_TOOL_BYTES = 16 * 1024  # one tool as JSON: a function of a few dozen documented parameters is 2-4 KB
MAX_TOOLS_FILE_BYTES = MAX_TOOLS * MAX_TOOL_BYTES
CHOICES = ("auto", "none", "required")
# OpenAI's rule for function names, plus the dots of BFCL's names (`math.factorial`); the call grammar writes
# names as they are, so a name must not hold brackets, quotes or spaces
NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")


class ToolsError(GorillaError):
    """A bad tools list or tool_choice: `field` is the path of the bad value (`tools[2].function.name`)."""

    def __init__(self, field: str, message: str):
        self.field, self.message = field, message
        super().__init__(f"{field}: {message}")


def read_tools(value: Any, *, openai_only: bool = True) -> tuple[FunctionSpec, ...]:
    """The functions of a tools list: at most MAX_TOOLS, each at most MAX_TOOL_BYTES as JSON, names unique.
    `openai_only` (the server): every item is `{"type": "function", "function": {...}}`, as OpenAI's API
    requires; a file may also list bare function docs (`name`, `description`, `parameters`), BFCL's shape."""
    if not isinstance(value, list):
        raise ToolsError("tools", 'expected a list of {"type": "function", "function": {"name", "description", '
                                  f'"parameters"}}}} objects, got {_kind(value)}')
    if not value:
        raise ToolsError("tools", "empty list: give at least one tool, or leave tools out for a plain answer")
    if len(value) > MAX_TOOLS:
        raise ToolsError("tools", f"{len(value)} tools; at most {MAX_TOOLS} are taken")
    specs: list[FunctionSpec] = []
    for i, tool in enumerate(value):
        spec = _read_tool(tool, f"tools[{i}]", openai_only)
        if any(s.name == spec.name for s in specs):
            raise ToolsError(f"tools[{i}].function.name", f"{spec.name!r} is given twice; names must be unique")
        specs.append(spec)
    return tuple(specs)


def _read_tool(tool: Any, where: str, openai_only: bool) -> FunctionSpec:
    """One tool (or, unless `openai_only`, one bare function doc) as a FunctionSpec."""
    if not isinstance(tool, Mapping):
        raise ToolsError(where, f'expected an object {{"type": "function", "function": {{...}}}}, got {_kind(tool)}')
    if len(json.dumps(tool, ensure_ascii=False).encode("utf-8")) > MAX_TOOL_BYTES:
        raise ToolsError(where, f"over {MAX_TOOL_BYTES} bytes as JSON; describe the function more briefly")
    wrapped = "function" in tool or "type" in tool or openai_only
    if wrapped and tool.get("type") != "function":
        raise ToolsError(f"{where}.type", f"only 'function' tools are supported, got {tool.get('type')!r}")
    doc = tool.get("function") if wrapped else tool
    field = f"{where}.function" if wrapped else where
    if not isinstance(doc, Mapping):
        raise ToolsError(field, f"expected an object with name, description and parameters, got {_kind(doc)}")
    name = doc.get("name")
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise ToolsError(f"{field}.name", f"expected 1-64 letters, digits, '_', '.' or '-', got {name!r}")
    try:
        return FunctionSpec.from_tool(doc)
    except GorillaError as e:
        raise ToolsError(field, str(e)) from None


def read_tool_choice(value: Any, functions: Sequence[FunctionSpec]) -> str | dict[str, Any]:
    """OpenAI's tool_choice, checked: "auto" (the default), "none", "required", or
    `{"type": "function", "function": {"name": NAME}}` with NAME one of `functions`."""
    if value is None:
        return "auto"
    if isinstance(value, str):
        if value not in CHOICES:
            raise ToolsError("tool_choice", f"expected one of {', '.join(CHOICES)} or "
                                            f'{{"type": "function", "function": {{"name": ...}}}}, got {value!r}')
        return value
    inner = value.get("function") if isinstance(value, Mapping) else None
    if not isinstance(value, Mapping) or value.get("type") != "function" or not isinstance(inner, Mapping):
        raise ToolsError("tool_choice", 'expected {"type": "function", "function": {"name": ...}} or one of '
                                        f"{', '.join(CHOICES)}, got {_kind(value)}")
    name = inner.get("name")
    names = [f.name for f in functions]
    if name not in names:
        raise ToolsError("tool_choice.function.name", f"no tool named {name!r} (the tools: {', '.join(names)})")
    return {"type": "function", "function": {"name": name}}


def load_tools_file(path: str | Path) -> tuple[FunctionSpec, ...]:
    """The functions of a JSON file holding a tools list (OpenAI tools or bare function docs), at most
    MAX_TOOLS_FILE_BYTES; every problem is one InputError naming the file and the field."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_TOOLS_FILE_BYTES:
            raise InputError(path, f"{size} bytes; a tools file holds at most {MAX_TOOLS_FILE_BYTES}")
        value = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise InputError(path, "no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(path, f"cannot read: {e}") from None
    except ValueError as e:
        raise InputError(path, f"not valid JSON: {e}") from None
    except RecursionError:
        raise InputError(path, "JSON nested too deeply") from None
    try:
        return read_tools(value, openai_only=False)
    except ToolsError as e:
        raise InputError(path, e.message, field=e.field) from None


def _kind(value: Any) -> str:
    """A JSON value's type as the error says it."""
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "a number",
             float: "a number", type(None): "null"}
    return next((n for t, n in names.items() if isinstance(value, t)), type(value).__name__)  # bool before int
