"""Hubs of one's own: `gorilla hub add|list|show|remove` on a small API Zoo file, then the hub through the CLI
(query, serve), the library and --api-db; re-adding rebuilds only what changed; bad input is one line.

Real pieces throughout: the packaged MiniLM embeds the 6 APIs into a FAISS index, the tiny random Llama answers
(constrained to the retrieved call), `gorilla serve` is a real process on 127.0.0.1. GORILLA_CONFIG and
GORILLA_CACHE point at this module's own folders.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import listening_port, run_cli

from gorilla.data import get_hub, read_jsonl
from gorilla.errors import GorillaError

# (api_name, api_call, domain, description): two APIs per domain
APIS = [
    ("Gmail API - users.messages.send", "service.users().messages().send(userId='me', body=message).execute()",
     "Email", "Sends an email message to the recipients listed in the To, Cc and Bcc headers."),
    ("Gmail API - users.labels.list", "service.users().labels().list(userId='me').execute()",
     "Email", "Lists all the labels in the user's mailbox."),
    ("Google Calendar API - events.insert", "service.events().insert(calendarId='primary', body=event).execute()",
     "Calendar", "Creates a new event on a calendar."),
    ("Google Calendar API - events.list", "service.events().list(calendarId='primary').execute()",
     "Calendar", "Lists the upcoming events on a calendar."),
    ("yfinance - download", "yfinance.download(tickers='AAPL', period='1y')",
     "Finance", "Downloads daily stock price history for a ticker symbol."),
    ("Stripe - Balance", "stripe.Balance.retrieve()", "Finance", "Retrieves the current balance of the account."),
]
SEND = APIS[0]


def zoo_entry(api_name: str, api_call: str, domain: str, description: str) -> dict:
    """One API Zoo contribution, as the upstream repository's files hold them."""
    return {"user_name": "test", "api_name": api_name, "api_call": api_call, "api_version": "v1",
            "api_arguments": {}, "functionality": description.split(" ", 1)[0], "env_requirements": [],
            "example_code": "", "meta_data": {"description": description, "domain": domain}, "questions": []}


def write_zoo(folder: Path, apis: list[tuple[str, str, str, str]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "google.json").write_text(json.dumps([zoo_entry(*a) for a in apis[:4]], indent=2))
    (folder / "money.json").write_text(json.dumps([zoo_entry(*a) for a in apis[4:]], indent=2))
    (folder / "broken.json").write_text('[\n  {"api_name": "x",\n    "api_call": oops}\n]\n')  # line 3: bad value
    return folder


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Iterator[dict[str, Path]]:
    """This module's config and cache (subprocesses inherit them), and the API Zoo sources."""
    root = tmp_path_factory.mktemp("hubs")
    before = {k: os.environ.get(k) for k in ("GORILLA_CONFIG", "GORILLA_CACHE", "GORILLA_THREADS")}
    os.environ.update(GORILLA_CONFIG=str(root / "config"), GORILLA_CACHE=str(root / "cache"), GORILLA_THREADS="1")
    yield {"root": root, "config": root / "config", "cache": root / "cache", "zoo": write_zoo(root / "zoo", APIS)}
    for k, v in before.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="module")
def added(home) -> subprocess.CompletedProcess:
    """`gorilla hub add mine <zoo> --keep-going`, once: the real CLI, as a user runs it."""
    r = run_cli("hub", "add", "mine", str(home["zoo"]), "--keep-going")
    assert r.returncode == 0, r.stderr
    return r


def cli(capsys, *args: str) -> tuple[int, str, str]:
    """The real entry point in this process (fast: no interpreter start); (exit code, stdout, stderr)."""
    from gorilla.cli.main import main

    try:
        main(list(args))
        code = 0
    except SystemExit as e:
        code = e.code or 0
    out = capsys.readouterr()
    return code, out.out, out.err


def test_add_checks_skips_indexes_and_registers(home, added):
    assert "mine: 6 APIs in 3 domains from 3 source files" in added.stdout
    assert re.search(r"skipped: .*broken\.json:3:\d+: invalid JSON", added.stderr)  # reported, then skipped
    assert "indexes: fusion ready" in added.stdout  # 3 domains group its 6 calls: the vote has something to go on
    hub = get_hub("mine")
    assert hub.api_db == home["config"] / "hubs" / "mine" / "api.jsonl" and not hub.predefined
    assert sorted(o["api_call"] for _, o in read_jsonl(hub.api_db)) == sorted(a[1] for a in APIS)
    manifest = json.loads((hub.folder / "manifest.json").read_text())
    assert len(manifest["files"]) == 3 and manifest["apis"] == 6 and manifest["retriever"] == "fusion"
    assert 'api_db = "hubs/mine/api.jsonl"' in (home["config"] / "hubs.toml").read_text()


def test_list_and_show(added, capsys):
    code, out, _ = cli(capsys, "hub", "list", "--format", "json")
    rows = {r["name"]: r for r in json.loads(out)}
    assert code == 0 and {"torchhub", "tensorflowhub", "huggingface", "mine"} <= set(rows)
    assert (rows["mine"]["kind"], rows["mine"]["apis"], rows["mine"]["state"]) == ("registered", 6, "fresh")
    code, out, _ = cli(capsys, "hub", "show", "mine", "--format", "json")
    info = json.loads(out)
    assert info["sources"]["files"] == 3 and {p["state"] for p in info["pieces"]} == {"fresh"}
    assert [p["name"] for p in info["pieces"]][0] == "docs (full text)" and info["pieces"][-1]["name"] == "lexical head"
    code, out, _ = cli(capsys, "hub", "show", "mine")
    assert code == 0 and "mine (registered)" in out and "docs (full text)" in out


def test_query_through_the_cli(added, tiny_dir):
    r = run_cli("query", "send an email to my team", "--hub", "mine", "--model", tiny_dir, "--format", "json",
                "--max-new-tokens", "8")
    assert r.returncode == 0, r.stderr
    answer = json.loads(r.stdout)
    # the random model is held to the retrieved call, so the answer is the right API, with its name and domain
    assert (answer["hub"], answer["api_call"], answer["api_name"], answer["domain"]) == ("mine", SEND[1], SEND[0], SEND[2])
    assert len(answer["retrieved"]) == 1 and answer["retrieved"][0].startswith("mine:")


def test_query_through_the_library(added, tiny):
    from gorilla.pipeline import Gorilla, PipelineConfig

    g = Gorilla(PipelineConfig(hub="mine", max_new_tokens=8), backend=tiny)
    a = g.ask("what is on my calendar this week")
    db = [o for _, o in read_jsonl(get_hub("mine").api_db)]
    assert a.hub == "mine" and a.source in a.retrieved and a.api_call == db[int(a.source.split(":")[1])]["api_call"]
    assert a.api_name.startswith("Google Calendar API") and a.domain == "Calendar"


def test_query_through_gorilla_serve(added, tiny_dir):
    proc = subprocess.Popen([sys.executable, "-m", "gorilla", "serve", "--hub", "mine", "--model", tiny_dir, "--port",
                             "0", "--max-new-tokens", "8", "--max-tokens-limit", "16"], stderr=subprocess.PIPE, text=True)
    try:
        port = listening_port(proc)
        body = {"model": "gorilla", "messages": [{"role": "user", "content": "send an email to my team"}]}
        r = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=body, timeout=60)
        extra = r.json()["gorilla"]
        assert r.status_code == 200 and (extra["hub"], extra["api_name"]) == ("mine", SEND[0])
        assert extra["fields"]["api_call"] == SEND[1]
    finally:
        proc.terminate()
        proc.wait(10)


def index_file(home: dict[str, Path], view: str) -> Path:
    (folder,) = (home["cache"] / "indexes" / "mine").glob(f"dense-*-{view}")
    return folder / "index.faiss"


def test_re_add_rebuilds_only_what_changed(home, added, tmp_path, caplog):
    from gorilla.apibench.userhub import add_hub

    full = index_file(home, "full")
    built = full.stat().st_mtime_ns
    same = add_hub("mine", [home["zoo"]], keep_going=True)
    assert same["changed"] is False and full.stat().st_mtime_ns == built  # nothing read again, nothing re-embedded
    glossary = tmp_path / "tasks.json"
    glossary.write_text(json.dumps({"Email": "Send, read and label email messages.",
                                    "Calendar": "Plan meetings and events in a calendar."}))
    m = add_hub("mine", [home["zoo"]], keep_going=True, glossary=glossary)
    # a glossary: the database is the same, so its indexes stay; the glossary's index and the head are new
    assert m["changed"] is True and m["changed_files"] == {"added": 0, "removed": 0, "changed": 0}
    assert m["retriever"] == "fusion" and full.stat().st_mtime_ns == built
    assert len(list((home["cache"] / "indexes" / "mine").glob("tasks-*"))) == 1
    assert get_hub("mine").glossary == home["config"] / "hubs" / "mine" / "tasks.json"
    (home["zoo"] / "money.json").write_text(json.dumps([zoo_entry(*a) for a in APIS[4:5]]))  # Stripe goes
    with caplog.at_level("INFO", logger="gorilla"):
        m = add_hub("mine", [home["zoo"]], keep_going=True, glossary=glossary)
    assert m["changed_files"] == {"added": 0, "removed": 0, "changed": 1} and m["apis"] == 5
    assert full.stat().st_mtime_ns != built  # another database: its indexes are rebuilt, from the vectors they had
    assert caplog.messages.count("preparing: 0 of 5 texts are new (the others keep their vectors)") == 4
    (home["zoo"] / "money.json").write_text(json.dumps([zoo_entry(*a) for a in APIS[4:]]))
    assert add_hub("mine", [home["zoo"]], keep_going=True)["apis"] == 6  # as the other tests expect it


def test_api_db_is_an_unregistered_hub(added, tmp_path, tiny, capsys):
    from gorilla.pipeline import Gorilla, PipelineConfig

    db = tmp_path / "zoo.jsonl"
    shutil.copyfile(get_hub("mine").api_db, db)
    code, out, err = cli(capsys, "retrieve", "how much money is in my account", "--api-db", str(db), "-k", "2",
                         "--format", "json")
    assert code == 0, err
    assert json.loads(out)[0]["api_name"] == "Stripe - Balance"
    a = Gorilla(PipelineConfig(api_db=str(db), max_new_tokens=8), backend=tiny).ask("how much money is in my account")
    assert (a.hub, a.api_call) == ("zoo.jsonl", "stripe.Balance.retrieve()")  # a call without arguments answers too
    assert "mine" in [r["name"] for r in json.loads(cli(capsys, "hub", "list", "--format", "json")[1])]
    assert "zoo.jsonl" not in (get_hub("mine").folder.parent.parent / "hubs.toml").read_text()


def test_strict_scoring_on_an_own_database_and_compat_refused(added, tmp_path, capsys):
    db = tmp_path / "api.jsonl"
    shutil.copyfile(get_hub("mine").api_db, db)
    entries = [o for _, o in read_jsonl(db)]
    gold = [next(e for e in entries if e["api_call"] == a[1]) for a in (APIS[0], APIS[2])]
    (tmp_path / "eval.json").write_text("".join(json.dumps({"code": "###Instruction: x", "api_call": e["api_call"],
                                                            "provider": "", "api_data": e}) + "\n" for e in gold))
    answers = tmp_path / "answers.jsonl"
    answers.write_text("".join(json.dumps({"question_id": i + 1, "text": f"<<<api_call>>>: {call}"}) + "\n"
                               for i, call in enumerate([APIS[0][1], APIS[4][1]])))  # right, then another domain
    code, out, err = cli(capsys, "eval", "score", str(answers), "--api-db", str(db), "--format", "json")
    assert code == 0, err
    fig = json.loads(out)
    assert (fig["mode"], fig["n"], fig["correct"], fig["hallucinated"]) == ("strict", 2, 1, 0)
    code, _, err = cli(capsys, "eval", "score", str(answers), "--api-db", str(db), "--mode", "compat")
    assert code == 2 and err.count("\n") == 1 and "compat mode is APIBench's reference scorer" in err


def test_bad_input_is_one_line_and_leaves_nothing(home, added, capsys):
    config = home["config"]
    registry = (config / "hubs.toml").read_text()
    broken = home["root"] / "only_broken"
    broken.mkdir(exist_ok=True)
    shutil.copyfile(home["zoo"] / "broken.json", broken / "broken.json")
    for args, message in [
        (("query", "x", "--hub", "nosuch"), "unknown hub 'nosuch': known hubs are torchhub, tensorflowhub, "
                                            "huggingface, mine"),
        (("hub", "add", "bad", str(broken)), "broken.json:3:17: invalid JSON"),
        (("hub", "add", "bad", str(home["zoo"] / "nope.json")), "nope.json: no such file or folder"),
        (("hub", "add", "torchhub", str(home["zoo"])), "hub name 'torchhub' is taken by a predefined hub"),
        (("hub", "add", "Bad Name", str(home["zoo"])), "hub name 'Bad Name': use lower-case letters"),
        (("hub", "remove", "huggingface"), "huggingface is one of the predefined APIBench hubs"),
        (("hub", "show", "nosuch"), "unknown hub 'nosuch'"),
    ]:
        code, _, err = cli(capsys, *args)
        assert code == 2 and err.count("\n") == 1 and message in err, (args, err)
    assert (config / "hubs.toml").read_text() == registry  # nothing registered, nothing half-written
    assert sorted(p.name for p in (config / "hubs").iterdir()) == ["mine"]


def test_deleted_database_and_corrupt_registry_are_one_line(home, added, capsys):
    config = home["config"]
    registry = (config / "hubs.toml").read_text()
    gone = home["root"] / "gone.jsonl"
    gone.write_text(json.dumps({"domain": "d", "api_call": "f(x=1)"}) + "\n")
    (config / "hubs.toml").write_text(registry + f'\n[hubs.gone]\napi_db = "{gone}"\n')
    gone.unlink()
    try:
        code, _, err = cli(capsys, "retrieve", "anything", "--hub", "gone")
        assert code == 2 and err.count("\n") == 1 and f"hub 'gone': its API database {gone} is missing" in err
        code, out, _ = cli(capsys, "hub", "list", "--format", "json")  # listed as such, not refused
        assert code == 0 and {r["name"]: r["state"] for r in json.loads(out)}["gone"] == "no database"
        (config / "hubs.toml").write_text(registry + "\n[hubs.worse]\napi_db = \n")
        code, _, err = cli(capsys, "hub", "list")
        line = registry.count("\n") + 3
        assert code == 2 and err.count("\n") == 1 and f"hubs.toml:{line}: not valid TOML: Invalid value" in err, err
        (config / "hubs.toml").write_text(registry + '\n[hubs.worse]\napi_db = "x.jsonl"\nurl = "y"\n')
        code, _, err = cli(capsys, "query", "x", "--hub", "mine")
        assert code == 2 and f"hubs.toml:{line + 1}: hubs.worse.url: unknown key" in err, err
    finally:
        (config / "hubs.toml").write_text(registry)


def test_openapi_and_tools_sources_make_a_hub(home, added, tiny):
    """read_sources' formats (tests/data/sources: an OpenAPI document with a $ref'd file, a tools list) as one
    hub: records keep their `parameters`, and a query lands on an operation."""
    from gorilla.apibench.userhub import add_hub, remove_hub
    from gorilla.pipeline import Gorilla, PipelineConfig

    data = Path(__file__).resolve().parent / "data" / "sources"
    m = add_hub("shop", [data / "bookshop.yaml", data / "weather_tools.json"])
    records = [o for _, o in read_jsonl(get_hub("shop").api_db)]
    assert m["apis"] == len(records) and all("parameters" in r for r in records)
    a = Gorilla(PipelineConfig(hub="shop", max_new_tokens=8), backend=tiny).ask("add a new book to the catalogue")
    assert a.hub == "shop" and a.api_name == "addBook" and a.api_call.startswith("addBook(")
    schema = next(r["parameters"] for r in records if r["api_name"] == "addBook")
    assert a.parameters == schema and a.to_json()["parameters"]["properties"]  # the panel's and JSON's schema
    remove_hub("shop")


def test_a_hubs_splits_serve_training_and_scoring(home, added, tmp_path, capsys):
    """What `apibench build --hub mine` registers (written by hand here: no teacher run): training reads the train
    split and refuses the eval one; `eval score --hub mine` is strict by default, compat is refused."""
    from gorilla.apibench.userhub import registered_with_split
    from gorilla.training.data import train_files

    entries = {o["api_call"]: o for _, o in read_jsonl(get_hub("mine").api_db)}
    split = tmp_path / "selfinstruct"
    split.mkdir()
    for name, api in (("train", APIS[2]), ("eval", APIS[0])):
        (split / f"{name}.json").write_text(json.dumps({"code": "###Instruction: x", "api_call": api[1], "provider": "",
                                                        "api_data": entries[api[1]]}) + "\n")
    hub = registered_with_split(get_hub("mine"), split, {"train_pairs": 1, "eval_pairs": 1})
    try:
        assert (get_hub("mine").train, get_hub("mine").eval) == (split / "train.json", split / "eval.json") == \
            (hub.train, hub.eval)
        assert train_files(["mine"], [], None) == [("mine", split / "train.json")]
        with pytest.raises(GorillaError, match="is an eval set; training never reads eval sets"):
            train_files(["mine"], [split / "eval.json"], None)
        answers = tmp_path / "answers.jsonl"
        answers.write_text(json.dumps({"question_id": 1, "text": f"<<<api_call>>>: {APIS[0][1]}"}) + "\n")
        code, out, err = cli(capsys, "eval", "score", str(answers), "--hub", "mine", "--format", "json")
        assert code == 0 and json.loads(out)["mode"] == "strict" and json.loads(out)["correct"] == 1, err
        code, _, err = cli(capsys, "eval", "score", str(answers), "--hub", "mine", "--mode", "compat")
        assert code == 2 and "score hub 'mine' with --mode strict" in err
    finally:
        registered_with_split(get_hub("mine"), split, {})  # back to no splits, as the other tests expect


def test_best_is_fusion_only_where_the_vote_has_something_to_go_on(tmp_path):
    """One domain, or one per API, and nothing to learn from: dense. Domains that group the calls, or solved
    requests: fusion (gorilla.retrieval.best_for, from the data alone)."""
    from gorilla.retrieval import RetrieverSettings, best_for
    from gorilla.retrieval.base import Corpus

    def corpus(domains: list[str]) -> Corpus:
        path = tmp_path / f"{len(set(domains))}.jsonl"
        path.write_text("".join(json.dumps({"domain": d, "api_call": f"api{i}(x=1)"}) + "\n"
                                for i, d in enumerate(domains)))
        return Corpus.load("h", path)

    plain, taught = RetrieverSettings(), RetrieverSettings(train_files=(tmp_path / "train.json",))
    assert best_for(corpus(["a"] * 6), plain) == best_for(corpus(["a"] * 6), taught) == "dense"
    assert best_for(corpus([f"d{i}" for i in range(6)]), plain) == "dense"
    assert best_for(corpus([f"d{i}" for i in range(6)]), taught) == "fusion"
    assert best_for(corpus(["a", "a", "b", "b", "c", "c"]), plain) == "fusion"


def test_remove_unregisters_and_deletes(home, added, capsys):
    code, out, err = cli(capsys, "hub", "remove", "mine")
    assert code == 0 and "removed mine" in out, err
    assert not (home["config"] / "hubs" / "mine").exists() and not (home["cache"] / "indexes" / "mine").exists()
    assert "mine" not in (home["config"] / "hubs.toml").read_text()
    code, _, err = cli(capsys, "query", "x", "--hub", "mine")
    assert code == 2 and "unknown hub 'mine'" in err
