"""Copy a trained function-calling LoRA adapter into the package, where the embedded default finds it.

    .venv/bin/python eval/ship_adapter.py runs/toolcalls      # after: make train-toolcalls (or the command below)

Writes gorilla/resources/adapters/smollm2-135m-tools/: `adapter_model.safetensors` with the LoRA matrices in
bfloat16 (half the bytes of float32; the merge multiplies them in float32) and `adapter_config.json` with the
settings PEFT and `models.llama.lora_deltas` read, its base named "embedded" (the packaged SmolLM2, wherever
it is installed), and `train_config.toml` beside them as the record of the run.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from safetensors.torch import load_file, save_file

from gorilla.data.jsonl import atomic_dir
from gorilla.models.embedded import TOOLS_ADAPTER

KEEP = ("peft_type", "task_type", "r", "lora_alpha", "lora_dropout", "target_modules", "bias", "fan_in_fan_out",
        "use_rslora", "use_dora", "modules_to_save", "init_lora_weights")


def main(run: Path) -> None:
    config = json.loads((run / "adapter_config.json").read_text())
    tensors = {k: v.bfloat16().contiguous() for k, v in load_file(str(run / "adapter_model.safetensors")).items()}
    with atomic_dir(TOOLS_ADAPTER) as tmp:
        shipped = {k: config[k] for k in KEEP if k in config} | {"base_model_name_or_path": "embedded"}
        shipped["target_modules"] = sorted(shipped["target_modules"])
        (tmp / "adapter_config.json").write_text(json.dumps(shipped, indent=2, sort_keys=True) + "\n")
        save_file(tensors, str(tmp / "adapter_model.safetensors"))
        shutil.copy(run / "train_config.toml", tmp / "train_config.toml")
    print(f"{TOOLS_ADAPTER}: {sum(t.numel() for t in tensors.values()):,} parameters")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
