#!/usr/bin/env bash
# Train on one CUDA GPU with one command: the run with the distillation teacher and the run without it go
# side by side (the A/B that says whether the teacher helps), each stopped at a deadline, and the better
# best checkpoint (by validation accuracy) is kept.
#
# Usage: scripts/train_gpu.sh DATA RUNS EPOCHS DEADLINE_S
#   DATA        image folder (cat/, dog/), e.g. the output of scripts/photo_pack.py unpack
#   RUNS        where the two run directories go; RUNS/best.safetensors (+ .json) is the winner
#   EPOCHS      epochs per run: the first 30% at 96 px, the next 30% at 112 px, the rest at 128 px
#   DEADLINE_S  wall-clock limit per run; a run stopped early still leaves its best epoch so far
#   PYTHON      (environment) the interpreter that has torch, default python3
#   MODEL_VERSION (environment) the version the checkpoints are written with, default 0.0.0-dev
set -euo pipefail
data=$1 runs=$2 epochs=$3 deadline_s=$4
python=${PYTHON:-python3}

sizes=$("$python" -c "
e = $epochs
first, second = round(0.3 * e), round(0.3 * e)
print(','.join(['96'] * first + ['112'] * second + ['128'] * (e - first - second)))")
mkdir -p "$runs"
train() {
    local name=$1 teacher=$2
    CAMSERVE_DEVICE=${CAMSERVE_DEVICE:-cuda} timeout --signal=INT "$deadline_s" "$python" -m camserve train \
        --data "$data" --run-dir "$runs/$name" --cache-dir "$runs/cache-$name" --teacher "$teacher" \
        --model-version "${MODEL_VERSION:-0.0.0-dev}" \
        --sizes "$sizes" --cache-size 144 --input-size 144 --batch-size 256 --max-lr 0.4 --threads 4 \
        >"$runs/$name.log" 2>&1 || echo "$name stopped with status $?" >>"$runs/$name.log"
}
train teacher efficientnet-lite0 &
train none none &
wait

"$python" - "$runs" <<'PY'
import json, shutil, sys
from pathlib import Path

runs = Path(sys.argv[1])
scores = {}
for name in ("teacher", "none"):
    meta = runs / name / "best.json"
    if meta.is_file():
        scores[name] = json.loads(meta.read_text())["extra"]["training"]["val_accuracy"]
print("best validation accuracy per run:", scores)
winner = max(scores, key=scores.get)
for suffix in (".safetensors", ".json"):
    shutil.copy(runs / winner / f"best{suffix}", runs / f"best{suffix}")
print(f"kept {winner}: {runs / 'best.safetensors'}")
PY
