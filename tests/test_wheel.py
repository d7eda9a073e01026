"""The built wheel works outside the checkout: package data ships inside it and nothing reads the repo.

Offline: the wheel is built with the project venv's setuptools (no build isolation, no index), installed
with --no-deps into a fresh venv, and that venv borrows the project venv's site-packages for its
dependencies through a .pth file (a .pth line only extends sys.path: the project's editable gorilla
finder is not loaded, so `import gorilla` can only find the wheel's copy). Every command runs from a
temporary directory outside the repository.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from importlib.metadata import version
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESPONSES = "responses/torchhub/response_torchhub_Gorilla_FT_0_shot.jsonl"

CHECK_PACKAGE_DATA = """
import json, sys
from pathlib import Path
import gorilla
from gorilla.apibench import selfinstruct
from gorilla.data import get_hub
from gorilla.data.paths import RESOURCES
from gorilla.models.embedded import TOOLS_ADAPTER
from gorilla.models.llama import lora_deltas

package = Path(gorilla.__file__).parent
hf = get_hub("huggingface", sys.argv[1])
print(json.dumps({
    "package": str(package),
    "resources_inside": RESOURCES.is_relative_to(package),
    "hf_train": [str(p) for p in hf.example_files],
    "glossary": str(hf.glossary),
    "seeds": {hub: len(selfinstruct.load_seeds(hub)) for hub in ("torchhub", "tensorflowhub", "huggingface")},
    "adapter": str(TOOLS_ADAPTER), "adapter_matrices": len(lora_deltas(TOOLS_ADAPTER) or {}),
}))
"""


def build_wheel(into: Path) -> Path:
    """Build from a copy of what the wheel is made of (pyproject, README, gorilla/), so setuptools' build/ and
    egg-info land in the copy rather than in the checkout."""
    src = into / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    shutil.copytree(REPO / "gorilla", src / "gorilla", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
                    "-w", str(into / "dist"), str(src)], check=True, capture_output=True, text=True)
    return next((into / "dist").glob("gorilla_apibench-*.whl"))


def venv_with(wheel: Path, where: Path) -> Path:
    """A fresh venv holding only the wheel; a .pth lends it the project venv's packages (its dependencies)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True)
    python = where / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", "--no-index",
                    str(wheel)], check=True, capture_output=True, text=True)
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    lend = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    (Path(purelib) / "project-venv.pth").write_text("".join(f"{p}\n" for p in lend))
    return where / "bin"


def test_the_installed_wheel_runs_outside_the_checkout(data_dir, tmp_path):
    bin_dir = venv_with(build_wheel(tmp_path), tmp_path / "venv")
    away = tmp_path / "elsewhere"
    away.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "GORILLA_DATA")}
    env |= {"GORILLA_CACHE": str(tmp_path / "cache"), "GORILLA_THREADS": "1"}

    def run(*args: str) -> subprocess.CompletedProcess:
        out = subprocess.run([str(bin_dir / args[0]), *args[1:]], cwd=away, env=env, capture_output=True, text=True,
                             timeout=300)
        assert out.returncode == 0, out.stderr
        return out

    assert run("gorilla", "--version").stdout.strip() == f"gorilla {version('gorilla-apibench')}"
    shipped = json.loads(run("python", "-c", CHECK_PACKAGE_DATA, str(data_dir)).stdout)
    assert shipped["package"].startswith(str(tmp_path / "venv")) and shipped["resources_inside"]
    assert shipped["hf_train"] == [f"{shipped['package']}/resources/instructions/huggingface.jsonl.gz"]
    assert shipped["glossary"] == f"{shipped['package']}/resources/tasks/huggingface.json"
    assert shipped["seeds"] == {"torchhub": 6, "tensorflowhub": 6, "huggingface": 6}
    # the function-calling adapter ships too: 7 projections x 30 layers of SmolLM2-135M
    assert shipped["adapter"] == f"{shipped['package']}/resources/adapters/smollm2-135m-tools"
    assert shipped["adapter_matrices"] == 210
    assert run("gorilla", "train", "--accelerate-config", "fsdp").stdout.strip() == \
        f"{shipped['package']}/resources/accelerate/fsdp.yaml"

    scores = json.loads(run("gorilla", "eval", "score", str(data_dir / RESPONSES), "--hub", "torchhub",
                            "--format", "json", "--data-dir", str(data_dir)).stdout)
    assert scores["n"] > 100 and 0.5 < scores["accuracy"] <= 1.0

    hits = run("gorilla", "retrieve", "classify sports activities in videos", "--hub", "torchhub", "-r", "dense",
               "--format", "json", "--data-dir", str(data_dir))
    assert "preparing: embedding torchhub's" in hits.stderr and json.loads(hits.stdout)[0]["api_call"]
    report = json.loads(run("gorilla", "doctor", "--format", "json", "--data-dir", str(data_dir)).stdout)
    assert report["package"] == shipped["package"] and report["indexes"]["hubs"]["torchhub"]["state"] == "stale"
