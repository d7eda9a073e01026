"""OpenAPI 3.x documents (JSON or YAML) -> one API record per operation.

Library: `referencing` (python-jsonschema's JSON-reference resolver, maintained with jsonschema) follows
`$ref`s: JSON pointers with `~1` escapes, relative file refs with their own base (a ref inside
`common.yaml` resolves against `common.yaml`). We hand it the documents (`load_document`: size-bounded,
every fault located) and follow only refs to local files, never URLs. What else pip offers here, and
why not: `prance` resolves the whole document eagerly, so one recursive schema anywhere in
`components` (legal, and common) refuses a spec whose operations never use it, and it fetches URL refs
with `requests`; `openapi-spec-validator` validates against the full meta-schema, refusing real specs
for faults that do not touch a call (a bad response example), and brings a dozen packages; `jsonref`
resolves lazily into proxy objects that hide cycles until something walks them. We expand only
what a record keeps (parameters and request body) and refuse, naming the file, line and ref chain:
a document that is not OpenAPI 3.x (Swagger 2.0 included), a `$ref` to nothing, a reference cycle
met while expanding them, and a schema that expands past MAX_SCHEMA_VALUES values.

One record per operation (upstream's ten fields, plus `parameters` and `http`):
- `api_name`: the operationId, else `METHOD /path`; `framework`: `info.title`; `domain`: the first
  tag, else the first path segment after the prefix every path shares (`/api/v2/dags/{id}` -> `dags`).
- `parameters`: one JSON schema object. Path, query, header and cookie parameters (path-level ones
  overridden by the operation's; `Accept`, `Content-Type`, `Authorization` headers ignored, as the
  specification says) are properties; path parameters are required. The request body's schema
  (JSON media types, else form ones) is merged at the top level when it is an object whose property
  names clash with no parameter (its `allOf` parts merged; `readOnly` properties dropped, as a request
  never sends them), else kept whole under `body`. Top level because that is how SDKs spell these
  calls (`create_pet(name=..., tag=...)`, like OpenAI's or Stripe's clients) and how OpenAI tools
  describe arguments, so one argument filler serves both; `http.in` says where each argument goes.
  OpenAPI 3.0's `nullable: true` becomes JSON Schema's `"type": [..., "null"]`.
- `api_call`: `operationId(required=..., ...)`, the SDK-style method name with each required
  argument as `...` (a template that parses as Python; `gorilla.apibench.source.call_template`).
  Not an httpx call: argument filling decodes `name(arg=value, ...)` against `parameters`, and an
  httpx call hides the path parameters inside a URL string and the rest in `params=`/`json=` dicts
  under other names; scoring (tree-sitter, `gorilla.calls`) parses either. The request itself is
  kept in `http`: `method`, `url` (the first server's URL, its variables at their defaults, + the
  path template), `in` (argument -> path/query/header/cookie/body) and `body` (the media type).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urldefrag, urljoin, urlparse

from gorilla.apibench.apizoo import operation_name
from gorilla.apibench.source import (
    Document,
    Found,
    ParsedFile,
    SourceError,
    call_template,
    load_document,
    structured_files,
)

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
LOCATIONS = ("path", "query", "header", "cookie")
IGNORED_HEADERS = {"accept", "content-type", "authorization"}
MAX_SCHEMA_VALUES = 200_000  # values one operation's parameters and body may expand to through $refs
MAX_TEXT = 1000  # characters of a description kept in a record
_JSON_MEDIA = re.compile(r"application/(?:[\w.+-]+\+)?json\b")
_FORM_MEDIA = ("application/x-www-form-urlencoded", "multipart/form-data")


files = structured_files  # the build's parser interface (build.collect calls parser.files)


class Unfollowed(Exception):
    """A `$ref` into a URL (never fetched: a spec must not make the parser reach the network) or a missing file."""


class Refs:
    """`$ref` resolution for one document and the local files it refers to (`referencing` does the lookups)."""

    def __init__(self, doc: Document):
        from referencing import Registry, Resource

        self.uri = doc.path.resolve().as_uri()
        self.docs = {self.uri: doc}
        registry = Registry(retrieve=self._retrieve).with_resource(self.uri, Resource.opaque(doc.data))
        self.root = registry.resolver(base_uri=self.uri)
        self.budget = MAX_SCHEMA_VALUES

    def _retrieve(self, uri: str) -> Any:
        """A local file a ref names, loaded like the spec itself (bounded, located errors); never a URL."""
        from referencing import Resource

        parsed = urlparse(uri)
        if parsed.scheme != "file":
            raise Unfollowed(f"{uri} is not a local file; URLs are not fetched")
        path = Path(unquote(parsed.path))
        if uri not in self.docs and not path.is_file():
            raise Unfollowed(f"no such file: {path}")
        doc = self.docs.get(uri) or load_document(path)
        self.docs[uri] = doc
        return Resource.opaque(doc.data)

    def _error(self, base: str, site: Any, message: str) -> SourceError:
        doc = self.docs.get(base) or self.docs[self.uri]
        return doc.error(site, message)

    def _lookup(self, resolver: Any, base: str, site: dict[str, Any]) -> Any:
        """What `site`'s `$ref` points to (referencing's Resolved); a SourceError at `site` when nothing."""
        from referencing.exceptions import Unresolvable

        ref = site["$ref"]
        try:
            return resolver.lookup(ref)
        except Unresolvable as e:
            cause = e.__cause__
            while cause is not None and not isinstance(cause, (SourceError, Unfollowed)):
                cause = cause.__cause__  # referencing wraps what retrieve raised in Unretrievable
            if isinstance(cause, SourceError):  # a referred file that is itself malformed
                raise cause from None
            why = f" ({cause})" if cause is not None else ""
            raise self._error(base, site, f"$ref {ref!r} points to nothing{why}") from None

    def follow(self, value: Any, resolver: Any, base: str, chain: tuple[str, ...] = ()
               ) -> tuple[Any, Any, str, tuple[str, ...]]:
        """(target, its resolver, its document's URI, the refs followed so far) after `value`'s own `$ref`s."""
        while isinstance(value, dict) and isinstance(value.get("$ref"), str):
            ref = value["$ref"]
            key = urljoin(base, ref)
            if key in chain:
                shown = [_short(k, self.uri) for k in (*chain[chain.index(key):], key)]
                raise self._error(base, value, f"$ref cycle: {' -> '.join(shown)}")
            resolved = self._lookup(resolver, base, value)
            siblings = {k: v for k, v in value.items() if k != "$ref"}
            chain, base, resolver = (*chain, key), urldefrag(key)[0], resolved.resolver
            value = resolved.contents
            if siblings and isinstance(value, dict):  # 3.1: a ref's own `description` etc. win
                value = {**value, **siblings}
        return value, resolver, base, chain

    def check_local(self) -> None:
        """Every `#/...` ref in the document points somewhere, used by a record or not: a dangling one is a
        broken document (refs into other files are checked when followed; cycles only matter when expanded)."""
        stack = [self.docs[self.uri].data]
        while stack:
            value = stack.pop()
            if isinstance(value, dict):
                ref = value.get("$ref")
                if isinstance(ref, str) and ref.startswith("#"):
                    self._lookup(self.root, self.uri, value)
                stack.extend(value.values())
            elif isinstance(value, list):
                stack.extend(value)

    def expand(self, value: Any, resolver: Any, base: str, chain: tuple[str, ...] = ()) -> Any:
        """`value` with every `$ref` replaced by its target, all the way down (a cycle is a SourceError)."""
        self.budget -= 1
        if self.budget < 0:
            raise self._error(base, value, f"schema expands to more than {MAX_SCHEMA_VALUES} values through its $refs")
        if isinstance(value, list):
            return [self.expand(v, resolver, base, chain) for v in value]
        if not isinstance(value, dict):
            return value
        if isinstance(value.get("$ref"), str):
            return self.expand(*self.follow(value, resolver, base, chain))
        return {k: self.expand(v, resolver, base, chain) for k, v in value.items()}


def _short(key: str, root: str) -> str:
    """A ref key as a reader wants it: `#/components/schemas/Node`, or `common.yaml#/Owner` for another file."""
    where, fragment = urldefrag(key)
    return f"#{fragment}" if where == root else f"{Path(urlparse(where).path).name}#{fragment}"


def _text(value: Any) -> str:
    text = " ".join(str(value or "").split())
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT].rsplit(" ", 1)[0] + "..."


def _check_version(doc: Document) -> None:
    spec = doc.data
    if not isinstance(spec, dict):
        raise SourceError(doc.path, 1, 1, f"not an OpenAPI 3.x document: expected an object, got {type(spec).__name__}")
    version = spec.get("openapi")
    if "swagger" in spec and version is None:
        raise doc.error(spec, f"Swagger {spec['swagger']} document, not OpenAPI 3.x (convert it, e.g. with swagger2openapi)")
    if not isinstance(version, str) or not re.match(r"3\.\d", version):
        raise doc.error(spec, f"not an OpenAPI 3.x document (openapi: {version!r})")


def server_url(servers: Any) -> str:
    """The first server's URL with its variables at their defaults; `/` when none is given (the spec's default)."""
    if not isinstance(servers, list) or not servers or not isinstance(servers[0], dict):
        return "/"
    url = str(servers[0].get("url") or "/")
    for name, var in (servers[0].get("variables") or {}).items():
        if isinstance(var, dict) and "default" in var:
            url = url.replace(f"{{{name}}}", str(var["default"]))
    return url


def common_prefix(routes: list[str]) -> int:
    """How many leading path segments every route shares (`/api/v2/...` everywhere -> 2)."""
    split = [[s for s in r.strip("/").split("/") if s] for r in routes]
    n = 0
    while split and all(len(s) > n + 1 and s[n] == split[0][n] for s in split):
        n += 1
    return n


def domain_of(op: dict[str, Any], route: str, prefix: int, title: str) -> str:
    """The first tag; else the first path segment after the shared prefix that is not a `{parameter}`."""
    tags = op.get("tags")
    if isinstance(tags, list) and tags and isinstance(tags[0], str) and tags[0].strip():
        return tags[0].strip()
    segments = [s for s in route.strip("/").split("/")[prefix:] if s and not s.startswith("{")]
    return segments[0] if segments else title


def _nullable(schema: Any) -> Any:
    """OpenAPI 3.0's `nullable: true` spelled as JSON Schema (`"type": ["string", "null"]`), all the way down."""
    if isinstance(schema, list):
        return [_nullable(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _nullable(v) for k, v in schema.items() if k != "nullable"}
    if schema.get("nullable") is True and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    return out


def _parameter(param: Any, doc: Document, where: Any) -> tuple[str, str, dict[str, Any], bool] | None:
    """(name, in, schema, required) of a resolved Parameter Object; None for a header the spec says to ignore."""
    if not isinstance(param, dict) or not isinstance(param.get("name"), str) or param.get("in") not in LOCATIONS:
        raise doc.error(where, f"parameter needs a string 'name' and 'in' one of {', '.join(LOCATIONS)}")
    name, loc = param["name"], param["in"]
    if loc == "header" and name.lower() in IGNORED_HEADERS:
        return None
    schema = param.get("schema")
    if not isinstance(schema, dict):
        media = param.get("content") if isinstance(param.get("content"), dict) else {}
        schema = next((m["schema"] for m in media.values() if isinstance(m, dict) and isinstance(m.get("schema"), dict)), {})
    prop = dict(schema)
    if param.get("description") and "description" not in prop:
        prop["description"] = str(param["description"]).strip()
    return name, loc, prop, loc == "path" or param.get("required") is True


def _body(body: Any) -> tuple[str, dict[str, Any], bool] | None:
    """(media type, schema, required) of a resolved Request Body Object: a JSON media type, else a form one."""
    content = body.get("content") if isinstance(body, dict) else None
    if not isinstance(content, dict):
        return None
    media = sorted(content, key=lambda m: (not _JSON_MEDIA.match(m), m not in _FORM_MEDIA))
    for m in media:
        if (_JSON_MEDIA.match(m) or m in _FORM_MEDIA) and isinstance(content[m], dict):
            schema = content[m].get("schema")
            return m, schema if isinstance(schema, dict) else {}, body.get("required") is True
    return None


def object_parts(schema: dict[str, Any]) -> tuple[dict[str, Any], list[str]] | None:
    """(properties, required) of a plain object schema, `allOf` parts merged; None for anything else
    (an array, a scalar, `oneOf`/`anyOf`), which is kept whole under `body`."""
    if set(schema) & {"oneOf", "anyOf", "not"} or schema.get("type") not in (None, "object"):
        return None
    props, required = dict(schema.get("properties") or {}), list(schema.get("required") or [])
    for part in schema.get("allOf") or []:
        got = object_parts(part) if isinstance(part, dict) else None
        if got is None:
            return None
        props |= got[0]
        required += got[1]
    if not props:
        return None
    return {k: v for k, v in props.items() if not (isinstance(v, dict) and v.get("readOnly"))}, required


def arguments(params: list[tuple[str, str, dict, bool]], body: tuple[str, dict, bool] | None
              ) -> tuple[dict[str, Any], dict[str, str]]:
    """(the JSON schema of every argument, argument -> where it goes); see the module docstring."""
    props: dict[str, Any] = {}
    required: list[str] = []
    where: dict[str, str] = {}
    for name, loc, schema, needed in params:
        props[name], where[name] = schema, loc
        required += [name] if needed else []
    if body is not None:
        _media, schema, needed = body
        parts = object_parts(schema)
        if parts is not None and not set(parts[0]) & set(props):
            for name, schema_ in parts[0].items():
                props[name], where[name] = schema_, "body"
            required += [n for n in dict.fromkeys(parts[1]) if needed and n in parts[0]]
        else:
            name = next(n for n in ("body", "request_body", "_body") if n not in props)
            props[name], where[name] = schema, "body"
            required += [name] if needed else []
    return _nullable({"type": "object", "properties": props, "required": required}), where


def _params(refs: Refs, item: dict, op: dict, resolver: Any, base: str) -> list[tuple[str, str, dict, bool]]:
    """The operation's parameters resolved: the path item's, then the operation's overriding by (name, in)."""
    doc = refs.docs.get(base, refs.docs[refs.uri])
    merged: dict[tuple[str, str], tuple[str, str, dict, bool]] = {}
    for owner in (item, op):
        if not isinstance(owner.get("parameters") or [], list):
            raise doc.error(owner, "parameters: expected a list")
    for raw in [*(item.get("parameters") or []), *(op.get("parameters") or [])]:
        got = _parameter(refs.expand(raw, resolver, base), doc, raw)
        if got is not None:
            merged[(got[0], got[1])] = got
    return list(merged.values())


def record_of(refs: Refs, route: str, method: str, op: dict, item: dict, ctx: dict[str, Any]) -> dict[str, Any]:
    """One operation as an API record (see the module docstring)."""
    resolver, base = ctx["resolver"], ctx["base"]
    params = _params(refs, item, op, resolver, base)
    body = _body(refs.expand(op["requestBody"], resolver, base)) if "requestBody" in op else None
    parameters, where = arguments(params, body)
    op_id = op.get("operationId") if isinstance(op.get("operationId"), str) and op["operationId"].strip() else None
    name = op_id or operation_name(method, route)
    servers = op.get("servers") or item.get("servers") or ctx["servers"]
    http = {"method": method.upper(), "url": server_url(servers).rstrip("/") + route, "in": where}
    summary, description = _text(op.get("summary")), _text(op.get("description"))
    return {
        "domain": domain_of(op, route, ctx["prefix"], ctx["title"]),
        "framework": ctx["title"],
        "functionality": summary or description.split(". ")[0] or name,
        "api_name": op_id or f"{method.upper()} {route}",
        "api_call": call_template(name, parameters["required"]),
        "api_arguments": {k: _text(v.get("description") or v.get("type") or "") for k, v in parameters["properties"].items()
                          if isinstance(v, dict)},
        "python_environment_requirements": [],
        "example_code": "",
        "performance": {},
        "description": description or summary,
        "parameters": parameters,
        "http": http | ({"body": body[0]} if body else {}),
    }


def parse_document(doc: Document) -> ParsedFile:
    """Every operation of an OpenAPI 3.x document, in path then method order as written."""
    try:
        return _operations(doc)
    except RecursionError:
        raise SourceError(doc.path, 1, 1, "schemas nested too deeply to expand") from None


def _operations(doc: Document) -> ParsedFile:
    _check_version(doc)
    spec, refs = doc.data, Refs(doc)
    refs.check_local()
    paths = spec.get("paths") or {}
    if not isinstance(paths, dict):
        raise doc.error(spec, "paths: expected an object")
    info = spec.get("info") if isinstance(spec.get("info"), dict) else {}
    ctx = {"title": _text(info.get("title")) or doc.path.stem, "servers": spec.get("servers"),
           "prefix": common_prefix(list(paths))}
    out = ParsedFile(str(doc.path))
    for route, raw_item in paths.items():
        item, resolver, base, _ = refs.follow(raw_item, refs.root, refs.uri)
        if not isinstance(item, dict):
            raise doc.error(paths, f"paths: {route}: expected an object")
        for method in METHODS:
            op = item.get(method)
            if op is None:
                continue
            if not isinstance(op, dict):
                raise refs.docs[base].error(item, f"{route} {method}: expected an operation object")
            refs.budget = MAX_SCHEMA_VALUES
            record = record_of(refs, str(route), method, op, item, ctx | {"resolver": resolver, "base": base})
            out.found.append(Found(record, str(doc.path), *refs.docs[base].where(op)))
    out.includes = [d.path for uri, d in refs.docs.items() if uri != refs.uri]
    return out


def parse_file(path: Path) -> ParsedFile:
    return parse_document(load_document(path))
