"""Users' own API descriptions: OpenAPI 3.x (YAML and JSON), tools lists, API Zoo files -> API records.

The OpenAPI document and tools lists in tests/data/sources were written for these tests; the API Zoo
files are the real ones in ../shared/docs/apizoo (skipped when absent).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

import pytest
from conftest import run_cli

from gorilla.apibench import apizoo, openapi, tools
from gorilla.apibench.source import MAX_VALUES, SourceError, load_document
from gorilla.apibench.sources import read_sources
from gorilla.calls import parse_source_call
from gorilla.data.records import load_api_db
from gorilla.errors import InputError

DATA = Path(__file__).resolve().parent / "data" / "sources"
APIZOO = Path(__file__).resolve().parents[2] / "shared" / "docs" / "apizoo"


def _by_name(records: list[dict]) -> dict[str, dict]:
    return {r["api_name"]: r for r in records}


def _kwargs(call: str) -> list[str]:
    parsed = parse_source_call(call)
    assert parsed is not None, f"not one Python call: {call}"
    return [k for k, _ in parsed.kwargs]


def test_openapi_operations_parameters_and_calls():
    found = openapi.parse_file(DATA / "bookshop.yaml").found
    ops = _by_name([f.record for f in found])
    assert list(ops) == ["listBooks", "addBook", "getBook", "DELETE /books/{isbn}", "placeOrder", "setStock"]
    assert [(f.line, f.col) for f in found][:2] == [(14, 7), (38, 7)]  # each operation's first key

    listing = ops["listBooks"]  # a $ref parameter, a query parameter, a header kept, Accept ignored
    assert listing["parameters"]["properties"]["limit"] == {
        "type": "integer", "minimum": 1, "maximum": 100, "default": 20, "description": "How many books to return at most."}
    assert listing["http"] == {"method": "GET", "url": "https://eu.bookshop.example/v1/books",
                               "in": {"limit": "query", "author": "query", "X-Request-ID": "header"}}
    assert listing["api_call"] == "listBooks()" and listing["domain"] == "Books" and listing["framework"] == "Bookshop API"

    add = ops["addBook"]  # a required JSON body merged at the top level; 3.0 nullable as a JSON Schema type list
    assert add["api_call"] == "addBook(title=..., author=...)"
    assert add["parameters"]["required"] == ["title", "author"]
    assert add["parameters"]["properties"]["year"] == {"type": ["integer", "null"]}
    assert add["http"]["in"] == {"title": "body", "author": "body", "year": "body"} and add["http"]["body"] == "application/json"

    unnamed = ops["DELETE /books/{isbn}"]  # no operationId: named by method and path; path-level parameter
    assert unnamed["api_call"] == "delete_books_isbn(isbn=...)"
    assert unnamed["parameters"]["properties"]["isbn"]["pattern"] == "^[0-9]{13}$"
    assert unnamed["functionality"] == "Take a book out of the catalogue"

    order = ops["placeOrder"]  # body from another file, whose own `#/Address` resolves against that file
    assert order["domain"] == "orders"  # no tag: the first path segment
    assert order["parameters"]["properties"]["address"]["properties"]["city"] == {"type": "string"}
    assert order["api_call"] == "placeOrder(isbn=..., quantity=...)"

    stock = ops["setStock"]  # an array body cannot merge: kept whole under `body`, optional as the spec says
    assert stock["parameters"]["properties"]["body"] == {"type": "array", "items": {"type": "integer"}}
    assert stock["parameters"]["required"] == ["isbn"] and stock["http"]["in"]["body"] == "body"
    for r in ops.values():
        assert _kwargs(r["api_call"]) == [n for n in r["parameters"]["required"]]


def test_openapi_json_reads_like_yaml(tmp_path):
    import yaml

    for name in ("bookshop", "orders"):
        data = yaml.safe_load((DATA / f"{name}.yaml").read_text())
        text = json.dumps(data, indent=2).replace("orders.yaml#", "orders.json#")
        (tmp_path / f"{name}.json").write_text(text)
    from_json = [f.record for f in openapi.parse_file(tmp_path / "bookshop.json").found]
    assert from_json == [f.record for f in openapi.parse_file(DATA / "bookshop.yaml").found]
    first = openapi.parse_file(tmp_path / "bookshop.json").found[0]
    assert (tmp_path / "bookshop.json").read_text().splitlines()[first.line - 1][first.col - 1:] == "{"  # the object's start


def _spec(tmp_path: Path, body: str, name: str = "spec.yaml") -> Path:
    path = tmp_path / name
    path.write_text("openapi: 3.1.0\ninfo: {title: T, version: '1'}\npaths:\n" + body)
    return path


def test_openapi_refusals_are_one_located_line(tmp_path):
    swagger = tmp_path / "old.yaml"
    swagger.write_text("swagger: '2.0'\ninfo: {title: Old, version: '1'}\npaths: {}\n")
    with pytest.raises(SourceError, match=r"old\.yaml:1:1: Swagger 2\.0 document, not OpenAPI 3\.x"):
        openapi.parse_file(swagger)
    other = tmp_path / "other.json"
    other.write_text('{"openapi": "2.5", "paths": {}}')
    with pytest.raises(SourceError, match=r"other\.json:1:1: not an OpenAPI 3\.x document \(openapi: '2\.5'\)"):
        openapi.parse_file(other)

    nowhere = _spec(tmp_path, "  /a:\n    get:\n      responses:\n        '200':\n          description: ok\n"
                              "          content:\n            application/json:\n"
                              "              schema: {$ref: '#/components/schemas/Gone'}\n")
    with pytest.raises(SourceError) as e:  # a dangling ref is refused even outside what a record keeps
        openapi.parse_file(nowhere)
    assert str(e.value) == f"{nowhere}:11:23: $ref '#/components/schemas/Gone' points to nothing"

    cycle = _spec(tmp_path, "  /a:\n    post:\n      requestBody:\n        content:\n          application/json:\n"
                            "            schema: {$ref: '#/components/schemas/Node'}\n"
                            "components:\n  schemas:\n    Node:\n      type: object\n"
                            "      properties:\n        next: {$ref: '#/components/schemas/Node'}\n", "cycle.yaml")
    with pytest.raises(SourceError) as e:
        openapi.parse_file(cycle)
    assert str(e.value) == f"{cycle}:15:15: $ref cycle: #/components/schemas/Node -> #/components/schemas/Node"
    assert "\n" not in str(e.value)

    remote = _spec(tmp_path, "  /a:\n    get:\n      parameters: [{$ref: 'https://example.com/p.yaml#/P'}]\n", "remote.yaml")
    with pytest.raises(SourceError, match=r"remote\.yaml:6:20: \$ref 'https://example\.com/p\.yaml#/P' points to "
                                          r"nothing \(https://example\.com/p\.yaml is not a local file; URLs are not fetched\)"):
        openapi.parse_file(remote)
    bad_param = _spec(tmp_path, "  /a:\n    get:\n      parameters: [{name: x, in: body}]\n", "param.yaml")
    with pytest.raises(SourceError, match=r"param\.yaml:6:20: parameter needs a string 'name' and 'in' one of path"):
        openapi.parse_file(bad_param)


def test_documents_malformed_or_too_large_are_located(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text('[\n  {"name": "f",\n   "parameters": {"type": "object",}}\n]')
    with pytest.raises(SourceError, match=r"broken\.json:3:36: invalid JSON: Expecting property name"):
        load_document(broken)
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("openapi: 3.0.0\npaths:\n  /a: [1, 2\n")
    with pytest.raises(SourceError, match=r"bad\.yaml:4:1: invalid YAML"):
        load_document(bad_yaml)
    with pytest.raises(SourceError, match=r"bookshop\.yaml:1:1: \d+ bytes, more than the 100 allowed"):
        load_document(DATA / "bookshop.yaml", max_bytes=100)
    bomb = tmp_path / "bomb.yaml"  # a billion laughs: 9^8 = 43M values from a few lines
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    bomb.write_text("\n".join(lines) + "\n")
    with pytest.raises(SourceError, match=rf"bomb\.yaml:1:1: expands to more than {MAX_VALUES} values"):
        load_document(bomb)
    dated = tmp_path / "dated.yaml"
    dated.write_text("- {name: f, description: since 2024, parameters: {type: object, properties: {d: {default: 2024-01-31}}}}\n")
    assert load_document(dated).data[0]["parameters"]["properties"]["d"]["default"] == "2024-01-31"  # not a date


def test_tools_lists_both_shapes():
    weather = _by_name([f.record for f in tools.parse_file(DATA / "weather_tools.json").found])
    assert weather["get_current_weather"]["api_call"] == "get_current_weather(city=...)"
    assert weather["get_current_weather"]["functionality"] == "Get the current weather in a city"
    assert weather["get_current_weather"]["domain"] == "weather tools"
    forecast = weather["get-forecast"]  # a hyphen in the name, a keyword (`from`) as argument: still one call
    assert forecast["api_call"] == "get_forecast(city=..., **{'from': ...})"
    assert _kwargs(forecast["api_call"]) == ["city", "from"]
    assert weather["list_stations"]["parameters"] == {"type": "object", "properties": {}, "required": []}
    bfcl = _by_name([f.record for f in tools.parse_file(DATA / "math_functions.json").found])
    assert bfcl["math.factorial"]["api_call"] == "math.factorial(number=...)"
    assert bfcl["geometry.circle_area"]["parameters"]["properties"]["radius"] == {"type": "number"}


def test_tools_bad_schema_or_item_refused_at_its_line(tmp_path):
    bad = tmp_path / "t.json"
    bad.write_text('[{"type": "function", "function": {"name": "ok", "parameters": {"type": "object"}}},\n'
                   ' {"type": "function",\n  "function": {"name": "f", "parameters": {"type": "object", "required": "city"}}}]')
    with pytest.raises(SourceError, match=r"t\.json:3:15: parameters: required: expected a list of names"):
        tools.parse_file(bad)
    bad.write_text('[{"name": "f", "parameters": {"type": "objet"}}]')
    with pytest.raises(SourceError, match=r"t\.json:1:2: parameters: expected \"type\": \"object\", got 'objet'"):
        tools.parse_file(bad)


def test_read_sources_dispatch_and_keep_going(tmp_path, caplog):
    records = read_sources([DATA])  # orders.yaml is part of bookshop.yaml, not an API Zoo file of its own
    assert len(records) == 6 + 2 + 3
    assert [r["api_name"] for r in records][-3:] == ["get_current_weather", "get-forecast", "list_stations"]
    assert read_sources([DATA]) == records  # deterministic

    mixed = tmp_path / "mixed"
    shutil.copytree(DATA, mixed / "good")
    (mixed / "bad.json").write_text('[{"api_name": "x",\n  "api_call": }]')
    (mixed / "zoo.json").write_text('[{"api_name": "Zoo - a", "api_call": "zoo.a(x: str)", "api_arguments": {"x": "string: X"}},'
                                    '\n {"api_name": "Zoo - b", "api_call": "zoo.b({ticker}).price"}]')
    (mixed / "spec.yaml").write_text("openapi: 3.0.0\ninfo: {title: T, version: '1'}\npaths:\n"
                                     "  /a: {get: {parameters: [{$ref: '#/nope'}]}}\n")
    with pytest.raises(SourceError, match=r"bad\.json:2:15: invalid JSON"):
        read_sources([mixed])
    with caplog.at_level(logging.WARNING, logger="gorilla"):
        records = read_sources([mixed], keep_going=True)
    assert len(records) == 6 + 2 + 3 + 1 and records[-1]["api_call"] == "zoo.a(x=...)"
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0] == f"skipped: {mixed / 'bad.json'}:2:15: invalid JSON: Expecting value"
    assert lines[1] == f"skipped: {mixed / 'spec.yaml'}:4:27: $ref '#/nope' points to nothing"
    assert lines[2].startswith(f"skipped: {mixed / 'zoo.json'}:2:2: api_call: not a single Python call")
    assert lines[3] == "read 12 API records; skipped 2 malformed files and 1 records"
    with pytest.raises(Exception, match="no such file or folder"):
        read_sources([tmp_path / "absent"])


@pytest.fixture(scope="module")
def zoo() -> Path:
    if not APIZOO.is_dir():
        pytest.skip("API Zoo docs (../shared/docs/apizoo) are not beside this checkout")
    return APIZOO


def test_apizoo_real_files_read_with_keep_going(zoo, caplog):
    with caplog.at_level(logging.WARNING, logger="gorilla"):
        records = read_sources([zoo], keep_going=True)
    skipped_files = [r.getMessage() for r in caplog.records if "invalid JSON" in r.getMessage()]
    assert len(skipped_files) == 3  # Gmail_API.json and the two Kubernetes files are not JSON
    assert caplog.records[-1].getMessage() == f"read {len(records)} API records; skipped 3 malformed files and 52 records"
    assert len(records) == 4112
    assert all(parse_source_call(r["api_call"]) for r in records)
    by_call = {r["api_call"]: r for r in records}
    acl = by_call["service.acl().delete(calendarId=..., ruleId=...).execute()"]  # `calendarId: str` rewritten
    assert acl["parameters"]["required"] == ["calendarId", "ruleId"]
    assert acl["parameters"]["properties"]["ruleId"] == {"type": "string", "description": "ACL rule identifier."}
    keys = by_call["get_api_v2_api_keys()"]  # a REST line: the operation template, http keeps method and path
    assert keys["http"] == {"method": "GET", "url": "/api/v2/api_keys"}
    assert keys["parameters"]["properties"]["page[size]"]["type"] == "integer"


def test_apizoo_argument_shapes_to_json_schema():
    schema = apizoo.arguments_schema({
        "limit": {"description": "Most records", "data_type": "integer", "required": True, "default": 10},
        "mode": ["driving", "walking"],
        "filter": {"property_name": "Name of the property", "value": "Value"},
        "verbose": True,
        "blockID": " string (Identifier for a block.)",
        "appid": "Your unique API key",
        "formId": "Required. The form ID.",
    })
    assert schema["properties"] == {
        "limit": {"type": "integer", "description": "Most records", "default": 10},
        "mode": {"type": "string", "enum": ["driving", "walking"]},
        "filter": {"type": "object", "properties": {"property_name": {"description": "Name of the property"},
                                                    "value": {"description": "Value"}}, "required": []},
        "verbose": {"type": "boolean", "default": True},
        "blockID": {"type": "string", "description": "Identifier for a block."},
        "appid": {"description": "Your unique API key"},
        "formId": {"description": "Required. The form ID."},
    }
    assert schema["required"] == ["limit", "formId"]
    assert apizoo.arguments_schema(["a", "b"])["properties"] == {"a": {}, "b": {}}
    assert apizoo.arguments_schema("model_name, tokenizer")["properties"] == {"model_name": {}, "tokenizer": {}}
    assert apizoo.arguments_schema("N/A") == apizoo.arguments_schema(None) == {"type": "object", "properties": {}, "required": []}


def test_api_entry_parameters(tmp_path):
    db = tmp_path / "api.jsonl"
    rows = read_sources([DATA / "weather_tools.json"])
    db.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    entries = load_api_db(db)
    assert entries[0].parameters["required"] == ["city"] and entries[0].api_name == "get_current_weather"
    db.write_text('{"domain": "d", "api_call": "f()"}\n{"domain": "d", "api_call": "g()", "parameters": ["x"]}\n')
    with pytest.raises(InputError, match=r"api\.jsonl:2: parameters: expected a JSON schema object, got list"):
        load_api_db(db)
    db.write_text('{"domain": "d", "api_call": "f()"}\n')
    assert load_api_db(db)[0].parameters == {}  # APIBench's fixed calls


def test_build_cli_reads_an_openapi_document(tmp_path):
    out = tmp_path / "shop"
    r = run_cli("apibench", "build", "--hub", "openapi", "--docs", str(DATA / "bookshop.yaml"), "--out", str(out),
                "--no-instructions")
    assert r.returncode == 0, r.stderr
    rows = [json.loads(x) for x in (out / "api.jsonl").read_text().splitlines()]
    assert len(rows) == 6 and {r["api_name"] for r in rows} >= {"addBook", "placeOrder"}
    assert all(r["parameters"]["type"] == "object" for r in rows)
    r = run_cli("apibench", "build", "--hub", "openapi", "--docs", str(DATA / "weather_tools.json"), "--out", str(out),
                "--no-instructions")
    assert r.returncode == 2 and "not an OpenAPI 3.x document" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.skipif(not os.environ.get("GORILLA_OPENAPI_EXAMPLE"), reason="set GORILLA_OPENAPI_EXAMPLE to a real spec "
                    "(eval/ownapi/README.md: Airflow's, from the apache-airflow-core wheel)")
def test_real_openapi_document():
    records = read_sources([Path(os.environ["GORILLA_OPENAPI_EXAMPLE"])])
    assert len(records) == 128 and len({r["api_name"] for r in records}) == 128
    assert all(_kwargs(r["api_call"]) == r["parameters"]["required"] for r in records)
