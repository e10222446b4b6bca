#!/usr/bin/env bash
# Issue 14's training on one CUDA GPU: the regulariser ablation, then the long 224 px run with what helped.
#
#   scripts/ablation_gpu.sh DATA RUNS DEADLINE_S
#
# 1. Ablation. Six short runs side by side, identical but for one switch each: the 2.0.0 recipe ("base", label
#    smoothing 0.1), no label smoothing, mixup, CutMix, a moving average of the weights, stochastic depth.
#    RUNS/ablation.json and RUNS/ablation.md give each run's best validation accuracy and log loss.
# 2. Final. One run with every switch whose short run beat "base" (higher accuracy, or equal accuracy and lower
#    log loss), progressive resizing up to 224 px and served at 224 (7x7 maps): RUNS/final/best.safetensors.
#
# Every run is resumable: rerun the same command after a kill or a deadline (DEADLINE_S per phase) and each run
# continues after its last finished epoch; finished runs are only read. The final run starts only once every
# ablation run has finished. Knobs (environment, defaults for the H200): ABLATION_EPOCHS (18), FINAL_EPOCHS
# (40), BATCH_SIZE (256), MAX_LR (0.4), ARCHITECTURE (resnet34), CACHE_SIZE (224; the shared photos are
# 200 px, so 224 is an upscale), SMALL (the ablation's sizes, "96,112,128"), FINAL_SIZES ("128,176,224"),
# MODEL_VERSION (0.0.0-dev), PYTHON (python3), CAMSERVE_DEVICE (cuda).
set -euo pipefail
data=$1 runs=$2 deadline_s=$3
python=${PYTHON:-python3}
export CAMSERVE_DEVICE=${CAMSERVE_DEVICE:-cuda}
small=${SMALL:-96,112,128} final_sizes=${FINAL_SIZES:-128,176,224}
mkdir -p "$runs/ablation"

schedule() {  # EPOCHS SIZES: a size per epoch, the sizes in equal thirds (the last takes the remainder)
    "$python" -c "
import sys
epochs, sizes = int(sys.argv[1]), sys.argv[2].split(',')
per = epochs // len(sizes)
print(','.join(size for i, size in enumerate(sizes) for _ in range(per if i < len(sizes) - 1 else epochs - per * i)))" "$@"
}

train() {  # NAME SIZES INPUT_SIZE EXTRA...
    local name=$1 sizes=$2 input_size=$3
    shift 3
    timeout --signal=INT "$deadline_s" "$python" -m camserve train --data "$data" --run-dir "$runs/$name" \
        --cache-dir "$runs/cache" --teacher none --architecture "${ARCHITECTURE:-resnet34}" \
        --model-version "${MODEL_VERSION:-0.0.0-dev}" --sizes "$sizes" --input-size "$input_size" \
        --cache-size "${CACHE_SIZE:-224}" --batch-size "${BATCH_SIZE:-256}" --max-lr "${MAX_LR:-0.4}" "$@" \
        >>"$runs/$name.log" 2>&1 || echo "$name stopped with status $?" >>"$runs/$name.log"
}

# The six runs share one cache of decoded photos; each file is written atomically, so a race only repeats work.
ablation_epochs=${ABLATION_EPOCHS:-18}
ablation_sizes=$(schedule "$ablation_epochs" "$small")
# One switch changed per run, against "base"; the final run takes every change that helped, in this order.
changes=(no-label-smoothing mixup cutmix ema stochastic-depth)
declare -A switches=(
    [base]=""
    [no-label-smoothing]="--label-smoothing 0"
    [mixup]="--mixup-alpha 0.2"
    [cutmix]="--cutmix-alpha 1.0"
    [ema]="--ema-decay 0.999"
    [stochastic-depth]="--stochastic-depth 0.1"
)
for name in "${!switches[@]}"; do
    # shellcheck disable=SC2086  # the switches are words on purpose
    train "ablation/$name" "$ablation_sizes" 144 ${switches[$name]} &
done
wait

"$python" - "$runs" "$ablation_epochs" "${!switches[@]}" <<'PY'
import json, sys
from pathlib import Path

runs, epochs_wanted, names = Path(sys.argv[1]), int(sys.argv[2]), sorted(sys.argv[3:])
rows = {}
for name in names:
    history = runs / "ablation" / name / "history.jsonl"
    epochs = [json.loads(line) for line in history.read_text().splitlines()] if history.is_file() else []
    best = max(epochs, key=lambda e: (e["val_accuracy"], -e["val_log_loss"]), default={})
    rows[name] = {"epochs": len(epochs), **{k: best[k] for k in ("epoch", "val_accuracy", "val_log_loss") if best}}
(runs / "ablation.json").write_text(json.dumps(rows, indent=2) + "\n")
lines = ["| run | epochs | best epoch | validation accuracy | log loss |", "| --- | ---: | ---: | ---: | ---: |"]
for name, row in rows.items():
    if "epoch" in row:
        lines.append(f"| {name} | {row['epochs']} | {row['epoch']} | {row['val_accuracy']:.2%} | {row['val_log_loss']:.4f} |")
    else:
        lines.append(f"| {name} | 0 | — | — | — |")
(runs / "ablation.md").write_text("\n".join(lines) + "\n")
print("\n".join(lines))
unfinished = [name for name, row in rows.items() if row["epochs"] < epochs_wanted]
if unfinished:
    sys.exit(f"unfinished: {', '.join(unfinished)}; rerun this command to resume them")
PY

# The switches whose short run beat the recipe (higher accuracy, or equal accuracy and lower log loss).
helped=$("$python" - "$runs" "${changes[@]}" <<'PY'
import json, sys
from pathlib import Path

rows = json.loads((Path(sys.argv[1]) / "ablation.json").read_text())
score = lambda name: (rows[name]["val_accuracy"], -rows[name]["val_log_loss"])
print(" ".join(name for name in sys.argv[2:] if score(name) > score("base")))
PY
)
chosen=""
for name in $helped; do
    chosen+="${chosen:+ }${switches[$name]}"
done
echo "final run with: ${chosen:-the base recipe}" | tee -a "$runs/final.log"
# shellcheck disable=SC2086
train final "$(schedule "${FINAL_EPOCHS:-40}" "$final_sizes")" "${final_sizes##*,}" $chosen
tail -n 2 "$runs/final.log"
