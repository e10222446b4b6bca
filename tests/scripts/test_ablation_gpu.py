"""scripts/ablation_gpu.sh, issue 14's GPU training, run on the CPU at toy sizes: every phase, the choice of
switches for the final run, and resuming. GPU time is scarce (15 minutes per issue), so the script must be
known to work before a GPU is lent. About a minute and a half on 2 cores (six resnet34 runs at 32 px)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from camserve.models.checkpoint import load_checkpoint

# Minutes of CPU for a GPU script: make test-all runs it, CI's make test leaves it out.
pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "ablation_gpu.sh"
FLAGS = {
    "no-label-smoothing": "--label-smoothing 0",
    "mixup": "--mixup-alpha 0.2",
    "cutmix": "--cutmix-alpha 1.0",
    "ema": "--ema-decay 0.999",
    "stochastic-depth": "--stochastic-depth 0.1",
}
TOY = {
    "CAMSERVE_DEVICE": "cpu",
    "CAMSERVE_PRECISION": "fp32",
    "PYTHON": sys.executable,
    "ABLATION_EPOCHS": "2",
    "FINAL_EPOCHS": "3",
    "SMALL": "32",
    "FINAL_SIZES": "32,40,48",
    "BATCH_SIZE": "4",
    "CACHE_SIZE": "48",
    "MAX_LR": "0.05",
    # One thread each: the six ablation runs share the cores, and torch's threads spin-wait when oversubscribed.
    "OMP_NUM_THREADS": "1",
}


def run_script(data: Path, runs: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **TOY}
    command = [str(SCRIPT), str(data), str(runs), "300"]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=900, check=False)


def test_the_ablation_then_the_final_run_with_what_helped(image_folder: Path, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    done = run_script(image_folder, runs)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    rows = json.loads((runs / "ablation.json").read_text())
    assert sorted(rows) == sorted(["base", *FLAGS])
    assert all(row["epochs"] == 2 for row in rows.values())
    base = (rows["base"]["val_accuracy"], -rows["base"]["val_log_loss"])
    helped = [flag for name, flag in FLAGS.items() if (rows[name]["val_accuracy"], -rows[name]["val_log_loss"]) > base]
    assert f"final run with: {' '.join(helped) or 'the base recipe'}" in (runs / "final.log").read_text()
    assert (runs / "ablation.md").read_text().count("\n") == 2 + len(rows)

    _, metadata = load_checkpoint(runs / "final" / "best.safetensors")
    recipe = metadata.extra["training"]["config"]
    assert (metadata.input_size, recipe["sizes"]) == (48, [32, 40, 48])  # a third of the epochs at each size
    assert recipe["regularisation"]["mixup_alpha"] == (0.2 if "--mixup-alpha 0.2" in helped else 0.0)

    again = run_script(image_folder, runs)  # everything finished: only read
    assert again.returncode == 0
    assert "resuming" in (runs / "final.log").read_text().splitlines()[-2]
