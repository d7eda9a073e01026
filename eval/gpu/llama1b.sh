#!/usr/bin/env bash
# Throughput of the GPU preset path (LoRA and full) on a Llama-3.2-1B-shaped model (random weights: tokens/s does
# not depend on them). Results: eval/results/training_gpu/summary_llama1b_*.json.
# Run from the repository root on a GPU machine, with OUT set to a folder for the summaries:
#   OUT=out/gpu bash eval/gpu/llama1b.sh
# Expects the APIBench subset in .gpu/apibench and the package importable (the embedded tokenizer is used).
export PYTHONPATH=/tmp/site:$PWD GORILLA_CACHE=/tmp/gc PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
D=.gpu/apibench
python3 - <<'PY'
import torch
from transformers import LlamaConfig, LlamaForCausalLM
from gorilla.models.embedded import embedded_tokenizer
tok = embedded_tokenizer()
cfg = LlamaConfig(vocab_size=len(tok), hidden_size=2048, intermediate_size=8192, num_hidden_layers=16,
                  num_attention_heads=32, num_key_value_heads=8, max_position_embeddings=2048, tie_word_embeddings=True,
                  rope_theta=500000.0, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
torch.manual_seed(0)
m = LlamaForCausalLM(cfg).to(torch.bfloat16)
m.save_pretrained("/tmp/llama1b"); tok.save_pretrained("/tmp/llama1b")
print("params", sum(p.numel() for p in m.parameters()))
PY
for mode in lora full; do
  flag=$([ $mode = full ] && echo --full || echo --lora)
  printf "save_steps = 100000\nlogging_steps = 10\n" > /tmp/c.toml
  python3 -m gorilla train --preset llama-3.2-1b --base /tmp/llama1b $flag --hub torchhub --data-dir $D --out /tmp/l1b$mode --max-steps 30 --config /tmp/c.toml 2>&1 | grep -E "model:|data:|step 30|rror" | tail -4
  cp /tmp/l1b$mode/train_summary.json $OUT/summary_llama1b_$mode.json
done
nvidia-smi --query-gpu=memory.used --format=csv
