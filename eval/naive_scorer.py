"""A straightforward implementation of the reference scoring algorithm: the speed baseline.

It follows ../shared/reference/scoring.md literally, with no caching: every response is
matched against every database entry, re-reading each entry's name and arguments from its
tree each time, as the reference does. It exists only so that `bench_scorer.py` can measure
`gorilla eval score` against it side by side; it prints the same JSON lines.

    .venv/bin/python eval/naive_scorer.py --data-dir ../shared/apibench FILE...
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from gorilla.data.hubs import EVAL_FILES, hub_from_filename
from gorilla.scoring.grammar import compat_parser


def subtrees(root):
    stack, out = [root], []
    while stack:
        node = stack.pop()
        out.append((node, node.children[0].text if node.child_count else None))
        for child in node.children:
            if child.child_count:
                stack.append(child)
    return out


def entry_values(tree, hub):
    if tree.child_count == 0:
        return []
    values = []
    for child in tree.children[0].children[0].children[1].children:
        t = child.text.decode()
        if hub == "torchhub":
            if "repo_or_dir" in t or "model" in t:
                values.append(child.children[2].text)
        elif (hub == "huggingface" and "=" in t) or (hub == "tensorflowhub" and ("model=" in t or "model =" in t)):
            values.append(child.children[2].text)
        elif t not in ("(", ")", ","):
            values.append(child.text)
    return values


def first_match(candidate_subtrees, db_trees, hub):
    for index, tree in enumerate(db_trees):
        call = tree.children[0].children[0]
        if call.child_count == 0:
            continue
        name = call.children[0].text
        for chosen in candidate_subtrees:
            if chosen[1] == name:
                break
        values = entry_values(tree, hub)
        if not values:
            continue
        text = chosen[0].text.decode()
        if all(v.decode().lstrip("'").rstrip("'") in text for v in values):
            return index
    return -1


def score(path: Path, root: Path) -> dict:
    hub = hub_from_filename(path)
    p = compat_parser()
    db = [json.loads(line) for line in open(root / "api" / f"{hub}_api.jsonl")]
    db_trees = [p.parse(e["api_call"].encode()).root_node for e in db]
    gold = [json.loads(line)["api_data"]["domain"] for line in open(root / "apibench" / EVAL_FILES[hub]) if line.strip()]
    responses = [json.loads(line) for line in open(path) if line.strip()]
    correct = hallucinated = 0
    for r in responses:
        if "text" not in r:
            continue
        parts = r["text"].split("api_call")
        if len(parts) == 1:
            if hub == "torchhub":
                continue
            candidate = parts[0]
        else:
            piece = parts[1].split("api_provider")[0]
            start = piece.index(":") if ":" in piece else 0
            end = piece.rindex(")") if ")" in piece else -2
            candidate = piece[start + 2: end + 1]
        index = first_match(subtrees(p.parse(candidate.encode()).root_node), db_trees, hub)
        if index < 0:
            hallucinated += 1
        elif db[index]["domain"] == gold[r["question_id"] - 1]:
            correct += 1
    n = len(responses)
    return {"file": str(path), "hub": hub, "mode": "compat", "n": n, "correct": correct, "hallucinated": hallucinated,
            "accuracy": correct / n, "hallucination": hallucinated / n, "error": 1 - correct / n - hallucinated / n}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, required=True)
    ap.add_argument("files", nargs="+", type=Path)
    args = ap.parse_args(argv)
    for f in args.files:
        print(json.dumps(score(f, args.data_dir)))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
