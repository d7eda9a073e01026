"""Request latency through `gorilla serve`, side by side with calling the same pipeline in-process.

For each query (torchhub eval instructions, in file order) three timings are taken back to back:
the pipeline called directly, a chat completion through the real `gorilla serve` process (openai
client), and the same request streamed (time to the answer chunk, and to [DONE]). Medians and the
ratio server/direct come from the same run. Results: eval/results/serve.json (one section per
model) and eval/results/serve.md.

  .venv/bin/python eval/bench_serve.py --model tiny -n 20
  .venv/bin/python eval/bench_serve.py --model embedded -n 10
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "eval" / "results"
KEY = "bench-key"


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(q * (len(xs) - 1)))]


def start_server(args: argparse.Namespace, model: str) -> tuple[subprocess.Popen, str]:
    cmd = [sys.executable, "-m", "gorilla", "serve", "--model", model, "--hub", args.hub, "--retriever", args.retriever,
           "--port", "0", "--api-key", KEY, "-k", str(args.k), "--constrain", args.constrain,
           "--max-new-tokens", str(args.max_tokens)]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:
        if m := re.search(r"running on (http://127\.0\.0\.1:\d+)", line):
            return proc, m.group(1) + "/v1"
    raise SystemExit(f"gorilla serve did not start: {' '.join(cmd)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="tiny", help="tiny (random LLaMA, saved to a temp dir) or anything --model takes")
    ap.add_argument("--hub", default="torchhub")
    ap.add_argument("--retriever", default="best")
    ap.add_argument("-k", type=int, default=3)
    ap.add_argument("-n", type=int, default=20, help="queries")
    ap.add_argument("--constrain", default="retrieved")
    ap.add_argument("--max-tokens", type=int, default=80)
    args = ap.parse_args()

    import openai

    from gorilla.data import ApiBenchPaths, atomic_write, load_eval
    from gorilla.pipeline import Gorilla, PipelineConfig
    from gorilla.serve.answer import PipelineAnswerer

    tmp = tempfile.TemporaryDirectory()
    model = args.model
    if model == "tiny":
        from gorilla.models.tiny import tiny_llama

        m, tok = tiny_llama()
        model = str(Path(tmp.name) / "tiny")
        m.save_pretrained(model)
        tok.save_pretrained(model)
    queries = [p.instruction for p in load_eval(ApiBenchPaths.resolve().eval(args.hub))[: args.n]]
    answer = PipelineAnswerer(Gorilla(PipelineConfig(hub=args.hub, model=model, retriever=args.retriever, k=args.k,
                                                     constrain=args.constrain, max_new_tokens=args.max_tokens)))
    proc, url = start_server(args, model)
    client = openai.OpenAI(base_url=url, api_key=KEY, max_retries=0, timeout=600)
    direct, server, first, streamed = [], [], [], []
    try:
        answer(queries[0], args.max_tokens)  # warm both sides once (first-call allocations), not timed
        client.chat.completions.create(model="gorilla", messages=[{"role": "user", "content": queries[0]}],
                                       max_tokens=args.max_tokens)
        for i, q in enumerate(queries):
            t = time.perf_counter()
            want = answer(q, args.max_tokens).text
            direct.append(time.perf_counter() - t)
            t = time.perf_counter()
            r = client.chat.completions.create(model="gorilla", messages=[{"role": "user", "content": q}],
                                               max_tokens=args.max_tokens)
            server.append(time.perf_counter() - t)
            t, got_first, text = time.perf_counter(), None, ""
            for chunk in client.chat.completions.create(model="gorilla", messages=[{"role": "user", "content": q}],
                                                        max_tokens=args.max_tokens, stream=True):
                if chunk.choices and chunk.choices[0].delta.content:
                    got_first = got_first or time.perf_counter() - t
                    text += chunk.choices[0].delta.content
            streamed.append(time.perf_counter() - t)
            first.append(got_first or streamed[-1])
            assert r.choices[0].message.content == want == text, f"query {i}: server and pipeline disagree"
            print(f"[{i + 1}/{len(queries)}] direct {direct[-1]:.3f}s server {server[-1]:.3f}s "
                  f"stream {streamed[-1]:.3f}s", flush=True)
    finally:
        proc.terminate()
        proc.wait(30)
    overhead = [s - d for s, d in zip(server, direct, strict=True)]
    section = {
        "model": args.model, "hub": args.hub, "retriever": args.retriever, "k": args.k, "constrain": args.constrain,
        "n": len(queries),
        "max_tokens": args.max_tokens, "threads": os.environ.get("GORILLA_THREADS") or os.environ.get("OMP_NUM_THREADS") or "default",
        "direct_p50_s": statistics.median(direct), "server_p50_s": statistics.median(server),
        "server_p90_s": pct(server, 0.9), "stream_first_chunk_p50_s": statistics.median(first),
        "stream_done_p50_s": statistics.median(streamed), "overhead_p50_s": statistics.median(overhead),
        "ratio_server_direct_p50": statistics.median(server) / statistics.median(direct),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "command": " ".join(["eval/bench_serve.py", *sys.argv[1:]]),
    }
    path = RESULTS / "serve.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    data[args.model] = section
    with atomic_write(path) as f:
        f.write(json.dumps(data, indent=2) + "\n")
    with atomic_write(RESULTS / "serve.md") as f:
        f.write(render(data))
    print(json.dumps(section, indent=2))


def render(data: dict) -> str:
    rows = ["| model | retriever | constrain | n | max_tokens | threads | direct p50 (s) | server p50 (s) | server p90 (s) | "
            "stream first chunk p50 (s) | server/direct p50 | overhead p50 (ms) |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for s in data.values():
        rows.append(f"| {s['model']} | {s['retriever']} | {s['constrain']} | {s['n']} | {s['max_tokens']} | {s['threads']} | "
                    f"{s['direct_p50_s']:.3f} | {s['server_p50_s']:.3f} | {s['server_p90_s']:.3f} | "
                    f"{s['stream_first_chunk_p50_s']:.3f} | {s['ratio_server_direct_p50']:.3f} | "
                    f"{1000 * s['overhead_p50_s']:.1f} |")
    commands = "\n".join(f"    {'' if s['threads'] == 'default' else 'GORILLA_THREADS=' + s['threads'] + ' '}"
                         f".venv/bin/python {s['command']}" for s in data.values())
    return ("# Request latency through `gorilla serve`\n\n"
            "Each query (torchhub eval instructions, file order) is answered three ways back to back: the pipeline "
            "called in-process (direct), a chat completion through the real `gorilla serve` process with the openai "
            "client (server), and the same request streamed. All three return the same answer (checked). "
            "Overhead = server - direct, per query. The pipeline answers whole (it parses the answer), so "
            "the stream's answer chunk arrives when generation ends. Timings were taken on the shared 2-core machine "
            "while other jobs ran, so single queries vary; compare the medians taken in the same run.\n\n"
            + "\n".join(rows) + "\n\nReproduce:\n\n" + commands + "\n")


if __name__ == "__main__":
    main()
