"""Stress `gorilla serve` and `gorilla generate` with load, disconnects, kills and fuzzed bodies.

What it does, each part bounded in count and time (the whole run stays well under 10 minutes on 2 cores):
  1. load: concurrent clients against a real `gorilla serve` (the tiny random LLaMA saved to a temp dir,
     BM25, the default constrained decoding) on 127.0.0.1, some waiting for their answer, some sending and
     disconnecting; refusals must be 503 with Retry-After, and no request may get a 500;
  2. fuzz: seeded random request bodies (broken JSON, deep nesting, wrong types, lone surrogates, oversized
     bodies, a few valid ones, streamed or not); each must get a 4xx/200 in OpenAI's shape, streams must end
     with `data: [DONE]`;
  3. kill: `gorilla generate` killed with SIGKILL mid-run several times, then rerun to the end; the responses
     must hold every question exactly once, with the very texts of an uninterrupted run.
Writes eval/results/stress.md (and stress.json). Run: `make stress` or `.venv/bin/python eval/stress/run.py`.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "eval" / "results"
HUB = "torchhub"
PIPELINE = ["--hub", HUB, "--retriever", "bm25", "--max-new-tokens", "24"]


@dataclass
class Tally:
    """What the clients saw, shared by their threads (appends are atomic under the GIL)."""

    statuses: Counter = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    abandoned: int = 0

    def problem(self, what: str) -> None:
        """Record a failure of the contract (a 500, a 503 without Retry-After, a stream without [DONE])."""
        if len(self.problems) < 50:
            self.problems.append(what)


def save_tiny(folder: Path) -> str:
    """The tests' tiny random LLaMA with the embedded tokenizer, saved as a model directory `--model` loads."""
    from gorilla.models.tiny import tiny_llama

    model, tok = tiny_llama()
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return str(folder)


def start_server(model: str, log: Path, queue: int) -> tuple[subprocess.Popen, str]:
    """`gorilla serve` on a free loopback port; its base URL once uvicorn says it listens (60 s at most)."""
    cmd = [sys.executable, "-m", "gorilla", "serve", "--model", model, "--port", "0", "--max-queue", str(queue),
           *PIPELINE]
    proc = subprocess.Popen(cmd, stderr=log.open("w"), stdout=subprocess.DEVNULL, cwd=ROOT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if m := re.search(r"running on (http://127\.0\.0\.1:\d+)", log.read_text(errors="replace")):
            return proc, m.group(1)
        time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"gorilla serve did not start:\n{log.read_text(errors='replace')[-2000:]}")


def pct(xs: list[float], q: float) -> float | None:
    """The q-quantile (nearest rank) of xs, None when empty."""
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(q * (len(xs) - 1)))] if xs else None


# ---- 1. load: patient and abandoning clients ----------------------------------------------------------------------


def judge(status: int, headers: Any, body: bytes, tally: Tally, where: str) -> None:
    """Count the status; anything but 200 must be OpenAI's error JSON, a 503 must say when to retry, and no
    request may end in a 500 (or any other 5xx but the 503 of a full queue)."""
    tally.statuses[status] += 1
    if status >= 500 and status != 503:
        tally.problem(f"{where}: {status} {body[:200]!r}")
    if status == 503 and "retry-after" not in headers:
        tally.problem(f"{where}: 503 without Retry-After")
    if status != 200:
        try:
            assert isinstance(json.loads(body)["error"]["message"], str)
        except (ValueError, KeyError, TypeError, AssertionError):
            tally.problem(f"{where}: {status} not in OpenAI's error shape: {body[:200]!r}")


def ask(client: httpx.Client, url: str, content: bytes, tally: Tally, where: str) -> int | None:
    """One request; a 200 stream must end with `data: [DONE]`; the latency of each answer is recorded.
    Returns the status (None: no response)."""
    t0 = time.perf_counter()
    try:
        with client.stream("POST", url, content=content, headers={"Content-Type": "application/json"}) as r:
            data = r.read()
    except httpx.HTTPError as e:
        tally.statuses["connection error"] += 1
        tally.problem(f"{where}: {type(e).__name__}: {e}")
        return None
    streamed = r.headers.get("content-type", "").startswith("text/event-stream")
    judge(r.status_code, r.headers, data, tally, where)
    if r.status_code == 200:
        tally.latencies.append(time.perf_counter() - t0)
        if streamed and not data.rstrip().endswith(b"data: [DONE]"):
            tally.problem(f"{where}: stream without [DONE]: {data[-200:]!r}")
        if streamed and b'"server_error"' in data:  # a 500 in disguise, after the stream began
            tally.problem(f"{where}: server error inside the stream: {data[-300:]!r}")
    return r.status_code


def patient(base: str, queries: list[str], seed: int, n: int, tally: Tally, deadline: float) -> None:
    """A client that waits for each of its n answers (a third of them streamed, chat or completions); refused
    with 503, it waits about Retry-After and tries again, 3 tries at most, as OpenAI's clients do."""
    rng = random.Random(seed)
    with httpx.Client(timeout=120) as client:
        for i in range(n):
            q, stream, chat = rng.choice(queries), rng.random() < 0.33, rng.random() < 0.5
            body = ({"messages": [{"role": "user", "content": q}]} if chat else {"prompt": q}) | {"stream": stream}
            for attempt in range(3):
                if time.monotonic() > deadline:
                    return
                status = ask(client, f"{base}/v1/{'chat/completions' if chat else 'completions'}",
                             json.dumps(body).encode(), tally, f"client {seed}.{i}.{attempt}")
                if status != 503:
                    break
                time.sleep(rng.uniform(0.5, 1.5))  # Retry-After: 1, with jitter so retries do not arrive together


def abandoning(base: str, queries: list[str], seed: int, n: int, tally: Tally, deadline: float) -> None:
    """A client that sends each of its n requests and hangs up before the answer (0-300 ms later)."""
    rng = random.Random(seed)
    host, port = base.removeprefix("http://").split(":")
    for _ in range(n):
        if time.monotonic() > deadline:
            return
        body = json.dumps({"prompt": rng.choice(queries), "stream": rng.random() < 0.5}).encode()
        with socket.create_connection((host, int(port)), timeout=10) as s:
            s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: stress\r\nContent-Type: application/json\r\n"
                      b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
            time.sleep(rng.uniform(0, 0.3))
        tally.abandoned += 1


def load(base: str, queries: list[str], args: argparse.Namespace, tally: Tally) -> float:
    """Run the patient and abandoning clients together; the wall time they took."""
    deadline = time.monotonic() + args.load_seconds
    threads = [threading.Thread(target=patient, args=(base, queries, i, args.requests, tally, deadline))
               for i in range(args.clients)]
    threads += [threading.Thread(target=abandoning, args=(base, queries, 1000 + i, args.requests, tally, deadline))
                for i in range(args.leavers)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(args.load_seconds + 180)
    return time.monotonic() - t0


def settle(base: str, seconds: float = 60) -> dict[str, Any]:
    """/health once nothing runs or waits (abandoned work must drain, not pile up); bounded wait."""
    deadline = time.monotonic() + seconds
    health: dict[str, Any] = {}
    while time.monotonic() < deadline:
        health = httpx.get(f"{base}/health", timeout=10).json()
        if health["running"] == 0 and health["waiting"] == 0:
            break
        time.sleep(0.2)
    return health


# ---- 2. fuzz: request bodies ------------------------------------------------------------------------------------

ODD_VALUES: list[Any] = [None, True, 0, -1, 1.5, 10**12, "", "x" * 3000, [], {}, [1, 2], {"a": 1}, "\u0000",
                         "😀" * 50, "\ud800", ["\udfff"], [{"type": "text", "text": 1}], [{"type": "image"}]]


def fuzz_text(rng: random.Random) -> str:
    """A query: ordinary, empty, huge, control characters, emoji, a lone surrogate, a Gorilla prompt."""
    return rng.choice(["classify birds in my photos", "", "   ", "word " * rng.randint(300, 1200), "\u0000\u0007",
                       "😀" * rng.randint(1, 900), "detect cars \ud800", "###Instruction: find cats\n###Output:",
                       "".join(chr(rng.randint(32, 0x2FFF)) for _ in range(rng.randint(1, 400)))])


def fuzz_fields(rng: random.Random, chat: bool) -> dict[str, Any]:
    """A JSON object close to a real request, with some fields of the wrong type or value."""
    body: dict[str, Any] = ({"messages": [{"role": rng.choice(["user", "system", "assistant", 7]),
                                           "content": fuzz_text(rng)}]} if chat else {"prompt": fuzz_text(rng)})
    for key in ("max_tokens", "stream", "n", "model", "messages", "prompt", "max_completion_tokens"):
        if rng.random() < 0.15:
            body[key] = rng.choice(ODD_VALUES)
    if rng.random() < 0.3:
        body["max_tokens"] = rng.randint(1, 24)
    return body


def fuzz_body(rng: random.Random) -> tuple[str, bytes]:
    """(route, raw body): random bytes, cut or deeply nested JSON, oversized bodies, or near-valid objects."""
    route = rng.choice(["chat/completions", "completions"])
    kind = rng.random()
    if kind < 0.1:
        return route, rng.randbytes(rng.randint(0, 3000))
    if kind < 0.2:
        depth = rng.randint(100, 40_000)
        return route, (b'{"messages": ' + b"[" * depth + b"]" * depth + b"}")[: rng.choice([None, depth])]
    if kind < 0.25:
        return route, b'{"prompt": "' + b"y" * rng.randint(65_000, 200_000) + b'"}'
    text = json.dumps(fuzz_fields(rng, route.startswith("chat")))
    return route, (text[: rng.randint(0, len(text))] if rng.random() < 0.1 else text).encode()


def fuzz(base: str, count: int, seed: int, tally: Tally, seconds: float) -> int:
    """`count` fuzzed requests (or as many as fit in `seconds`), one after another; how many were sent."""
    rng = random.Random(seed)
    deadline = time.monotonic() + seconds
    sent = 0
    with httpx.Client(timeout=120) as client:
        for i in range(count):
            if time.monotonic() > deadline:
                break
            route, body = fuzz_body(rng)
            ask(client, f"{base}/v1/{route}", body, tally, f"fuzz {i}")
            sent += 1
    return sent


# ---- 3. kill -9 during generate, then resume --------------------------------------------------------------------


def generate_cmd(model: str, out: Path, limit: int) -> list[str]:
    """`gorilla generate` over the first `limit` eval questions, two per batch (many flushes to cut into)."""
    return [sys.executable, "-m", "gorilla", "generate", "--model", model, "--split", "eval", "--out", str(out),
            "--limit", str(limit), "--batch-size", "2", *PIPELINE]


def lines_in(path: Path) -> int:
    """Complete lines written so far (0 before the file exists)."""
    return path.read_bytes().count(b"\n") if path.exists() else 0


def kill_runs(model: str, out: Path, limit: int, kills: int, seed: int) -> dict[str, int]:
    """Start generate `kills` times, each killed with SIGKILL soon after it wrote something new (at a random
    moment, so some kills land mid-write); then run it to the end. Bounded: 120 s per attempt."""
    rng, killed, cut = random.Random(seed), 0, 0
    for _ in range(kills):
        before = lines_in(out)
        proc = subprocess.Popen(generate_cmd(model, out, limit), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                cwd=ROOT)
        deadline = time.monotonic() + 120
        while proc.poll() is None and lines_in(out) <= before and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(rng.uniform(0, 0.4))
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            killed += 1
        proc.wait(30)
        cut += out.exists() and not out.read_bytes().endswith(b"\n") and out.stat().st_size > 0
    final = subprocess.run(generate_cmd(model, out, limit), capture_output=True, text=True, cwd=ROOT, timeout=300)
    if final.returncode != 0:
        raise SystemExit(f"resumed generate failed:\n{final.stderr[-2000:]}")
    return {"killed": killed, "cut_lines": cut, "resumed": 1}


def compare(out: Path, reference: Path, limit: int) -> dict[str, Any]:
    """Ids missing or repeated in `out`, and answers that differ from the uninterrupted run's."""
    rows = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    ref = {r["question_id"]: r["text"] for r in map(json.loads, reference.read_text().splitlines())}
    ids = Counter(r["question_id"] for r in rows)
    return {"questions": limit, "lines": len(rows), "missing": sorted(set(range(1, limit + 1)) - set(ids)),
            "duplicated": sorted(i for i, c in ids.items() if c > 1),
            "differ_from_uninterrupted": sum(ref.get(r["question_id"]) != r["text"] for r in rows)}


def kill_and_resume(model: str, tmp: Path, args: argparse.Namespace) -> dict[str, Any]:
    """The kill test: an uninterrupted reference run, then the killed-and-resumed one, compared line by line."""
    reference = tmp / "reference.jsonl"
    ref = subprocess.run(generate_cmd(model, reference, args.questions), capture_output=True, text=True, cwd=ROOT,
                         timeout=300)
    if ref.returncode != 0:
        raise SystemExit(f"generate failed:\n{ref.stderr[-2000:]}")
    out = tmp / "killed.jsonl"
    return kill_runs(model, out, args.questions, args.kills, args.seed) | compare(out, reference, args.questions)


# ---- the run and its report --------------------------------------------------------------------------------------


def summary(tally: Tally, sent: int) -> dict[str, Any]:
    """One row of the report: what was sent and how it was answered."""
    s = tally.statuses
    return {"sent": sent, "served": s[200], "refused_503": s[503], "client_errors_4xx": sum(v for k, v in s.items()
                                                                                          if isinstance(k, int) and 400 <= k < 500),
            "server_errors_5xx": sum(v for k, v in s.items() if isinstance(k, int) and k >= 500 and k != 503),
            "connection_errors": s["connection error"], "problems": tally.problems,
            "p50_s": pct(tally.latencies, 0.5), "p95_s": pct(tally.latencies, 0.95),
            "statuses": {str(k): v for k, v in sorted(s.items(), key=str)}}


def serve_parts(model: str, tmp: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Load, then fuzz, against one `gorilla serve` process; its /health after each, and whether it survived."""
    from gorilla.data import ApiBenchPaths, load_eval

    queries = [p.instruction for p in load_eval(ApiBenchPaths.resolve().eval(HUB))[:40]]
    proc, base = start_server(model, tmp / "serve.log", args.queue)
    try:
        load_tally, fuzz_tally = Tally(), Tally()
        wall = load(base, queries, args, load_tally)
        after_load = settle(base)
        sent = fuzz(base, args.fuzz, args.seed, fuzz_tally, args.fuzz_seconds)
        after_fuzz = settle(base)
        alive = proc.poll() is None
    finally:
        proc.terminate()
        proc.wait(30)
    load_sent = sum(load_tally.statuses.values())
    return {"load": summary(load_tally, load_sent) | {"abandoned": load_tally.abandoned, "wall_s": round(wall, 1),
                                                      "health": after_load},
            "fuzz": summary(fuzz_tally, sent) | {"health": after_fuzz}, "server_survived": alive}


def failures(results: dict[str, Any]) -> list[str]:
    """Every broken promise in the results (the run exits 1 if there is any)."""
    out = [f"{part}: {p}" for part in ("load", "fuzz") for p in results[part]["problems"]]
    out += [f"{part}: {results[part]['server_errors_5xx']} x 5xx" for part in ("load", "fuzz")
            if results[part]["server_errors_5xx"]]
    k = results["kill"]
    out += [f"kill: {key} {k[key]}" for key in ("missing", "duplicated") if k[key]]
    out += ["kill: answers differ from the uninterrupted run"] * bool(k["differ_from_uninterrupted"])
    out += ["the server died"] * (not results["server_survived"])
    return out


def render(r: dict[str, Any]) -> str:
    """eval/results/stress.md."""
    def ms(x: float | None) -> str:
        """Seconds as whole milliseconds; "-" when nothing was measured."""
        return "-" if x is None else f"{1000 * x:.0f}"

    rows = ["| part | requests sent (retries count) | hung up (not waited for) | served (200) | refused (503 + Retry-After) | "
            "other 4xx | 500s | connection errors | p50 (ms) | p95 (ms) |", "|---|---|---|---|---|---|---|---|---|---|"]
    for part in ("load", "fuzz"):
        p = r[part]
        gone = p.get("abandoned", 0)
        rows.append(f"| {part} | {p['sent'] + gone} | {gone} | {p['served']} | {p['refused_503']} | "
                    f"{p['client_errors_4xx']} | {p['server_errors_5xx']} | {p['connection_errors']} | "
                    f"{ms(p['p50_s'])} | {ms(p['p95_s'])} |")
    load, k = r["load"], r["kill"]
    return (f"# Stress: `gorilla serve` and `gorilla generate` under load, disconnects, kills and fuzz\n\n"
            f"`make stress` ({r['command']}), {r['machine']}, {r['wall_s']:.0f} s in all. The server: "
            f"`gorilla serve` on the tiny random LLaMA, {' '.join(PIPELINE)}, one answer at a time, queue "
            f"{r['args']['queue']}.\n\n" + "\n".join(rows) + "\n\n"
            f"- load: {r['args']['clients']} clients waiting for {r['args']['requests']} answers each (a third "
            f"streamed; a 503 is retried after ~Retry-After, 3 tries at most) while {r['args']['leavers']} clients sent {load['abandoned']} requests and hung up; "
            f"/health after: {load['health'].get('dropped')} dropped from the queue, "
            f"{load['health'].get('cancelled')} stopped mid-answer, {load['health'].get('running')} running, "
            f"{load['health'].get('waiting')} waiting (the other requests were answered or refused before their "
            f"client hung up). Latency is over answered (200) requests, queueing included.\n"
            f"- fuzz: seeded random bodies (broken and deeply nested JSON, wrong types, lone surrogates, oversized "
            f"bodies, some valid); statuses {r['fuzz']['statuses']}.\n"
            f"- kill: `gorilla generate` over {k['questions']} eval questions killed with SIGKILL {k['killed']} times "
            f"({k['cut_lines']} kills left a cut last line), then resumed {k['resumed']} time to the end: "
            f"{k['lines']} lines, missing {k['missing'] or 'none'}, duplicated {k['duplicated'] or 'none'}, "
            f"{k['differ_from_uninterrupted']} answers differ from an uninterrupted run.\n"
            f"- server survived: {'yes' if r['server_survived'] else 'NO'}; failures: "
            f"{'; '.join(r['failures'][:10]) or 'none'}.\n")


def main() -> None:
    """Parse the bounds, run the three parts, write the report; exit 1 on any failure."""
    import platform

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for flag, default, what in (("--clients", 16, "clients waiting for answers"), ("--leavers", 6, "clients hanging up"),
                                ("--requests", 20, "requests per client"), ("--queue", 4, "server --max-queue"),
                                ("--load-seconds", 150, "time bound of the load part"), ("--fuzz", 500, "fuzzed bodies"),
                                ("--fuzz-seconds", 150, "time bound of the fuzz part"),
                                ("--questions", 48, "eval questions generated"), ("--kills", 5, "SIGKILLs"),
                                ("--seed", 0, "random seed")):
        ap.add_argument(flag, type=int, default=default, help=what)
    args = ap.parse_args()
    os.environ.setdefault("GORILLA_THREADS", "1")  # the servers and generators this run starts share 2 cores
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        model = save_tiny(tmp / "tiny")
        results = serve_parts(model, tmp, args) | {"kill": kill_and_resume(model, tmp, args)}
    results |= {"args": vars(args), "wall_s": time.monotonic() - t0, "command": " ".join(["eval/stress/run.py", *sys.argv[1:]]),
                "machine": f"{platform.machine()}, {os.cpu_count()} cores, GORILLA_THREADS={os.environ['GORILLA_THREADS']}"}
    results["failures"] = failures(results)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "stress.json").write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / "stress.md").write_text(render(results))
    print(render(results))
    sys.exit(1 if results["failures"] else 0)


if __name__ == "__main__":
    main()
