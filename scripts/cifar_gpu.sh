#!/usr/bin/env bash
# The lesson's whole CIFAR-10 ablation on one CUDA GPU: the six networks train side by side (each with its
# notebook recipe, each stopped at a deadline), then `camserve cifar table` scores them with and without
# TTA and writes RUNS/table.md and RUNS/table.json. Every run is resumable: rerun the same command after a
# kill or a deadline and each network continues after its last finished epoch (finished ones are only read).
#
# Usage: scripts/cifar_gpu.sh ARCHIVE RUNS DEADLINE_S
#   ARCHIVE     the CIFAR-10 tar.gz (../shared/data/cifar10/cifar10-jpeg.tar.gz; a device machine without
#               ../shared gets a copy carried under runs/)
#   RUNS        one run directory per network, the decoded-archive cache, the logs and the table
#   DEADLINE_S  wall-clock limit for the trainings; what is unfinished then resumes on the next call
#   PYTHON      (environment) the interpreter that has torch, default python3
set -euo pipefail
archive=$1 runs=$2 deadline_s=$3
python=${PYTHON:-python3}
networks=(lesson7-convnet lesson7-convnet2 lesson7-convbnnet lesson7-convbnnet2 lesson7-resnet lesson7-resnet2)
export CAMSERVE_DEVICE=${CAMSERVE_DEVICE:-cuda}
mkdir -p "$runs"

# Decode and pack the archive once, before six processes would race to do it.
"$python" -c "import sys; from pathlib import Path; from camserve.models.cifar.archive import load_cifar
load_cifar(Path(sys.argv[1]), Path(sys.argv[2]))" "$archive" "$runs/cache"

for network in "${networks[@]}"; do
    timeout --signal=INT "$deadline_s" "$python" -m camserve cifar train --network "$network" \
        --archive "$archive" --cache-dir "$runs/cache" --run-dir "$runs/$network" --threads 2 \
        >"$runs/$network.log" 2>&1 || echo "$network stopped with status $?" >>"$runs/$network.log" &
done
wait
tail -n 3 "$runs"/*.log

for network in "${networks[@]}"; do
    [[ -f "$runs/$network/result.json" ]] || { echo "$network is unfinished: rerun this command to resume it"; exit 3; }
done
# Every run is finished, so this only reads their results and writes the table.
"$python" -m camserve cifar table --archive "$archive" --cache-dir "$runs/cache" --out "$runs"
