#!/usr/bin/env bash
# Everything a new checkpoint must show before it replaces the shipped one, in one resumable command on the
# CPU: accuracy on the validation split and the full-resolution stand-ins, calibration, TTA, zoom, the int8
# gate, the serving-size table, the shipped model against the candidate on the same photos, the forward's
# cost against the shipped model's (timed in turns), where annotated photos exist how well both checkpoints'
# maps find the animal (camserve release localization), and the release rule's verdict on all of it
# (camserve release decide; decision.txt). Each step writes its own file under OUT and is skipped when that
# file exists, so a stopped report picks up where it stopped. The comparisons are `camserve release`
# subcommands: each writes its JSON with --output, and its summary is the step's .txt.
#
# Usage: scripts/candidate_report.sh CHECKPOINT OUT DATA FULLRES
#   CHECKPOINT  a trainer's best.safetensors (its .json beside it)
#   OUT         the report's folder; the checkpoint is copied there under its model name, and calibrate and
#               quantize write the temperature, the int8 graph and the gate record beside that copy
#   DATA        the training image folder (its validation split is scored)
#   FULLRES     full-resolution stand-ins (python -m bench.fullres_photos makes them)
#   PYTHON      (environment) the interpreter with camserve installed, default python3
#   SIZE_ROUNDS (environment) timed rounds of camserve release sizes, default 20
#   COST_ROUNDS (environment) timed rounds of camserve release graphs, default 20
#   SHIPPED     (environment) the checkpoint it would replace, default weights/camserve-resnet34.safetensors
#   DEV         (environment) annotated photos with DEV/annotations.json (outlines, head boxes), default
#               ../shared/data/oxford-pets-dev; where it is absent the localization step is skipped and the
#               rule judges accuracy and log loss instead of the maps
set -euo pipefail
checkpoint=$1 out=$2 data=$3 fullres=$4
python=${PYTHON:-python3}
shipped=${SHIPPED:-weights/camserve-resnet34.safetensors}
dev=${DEV:-../shared/data/oxford-pets-dev}
mkdir -p "$out"

name=$("$python" -c "import json, sys; print(json.load(open(sys.argv[1]))['name'])" "${checkpoint%.safetensors}.json")
weights="$out/$name.safetensors"
if [[ ! -f $weights ]]; then
    cp "${checkpoint%.safetensors}.json" "$out/$name.json"
    cp "$checkpoint" "$weights"
fi
export CAMSERVE_WEIGHTS_PATH=$weights CAMSERVE_DEVICE=cpu

# step FILE COMMAND...: run COMMAND once, its standard output kept as OUT/FILE.
step() {
    local target="$out/$1"
    shift
    if [[ -f $target ]]; then
        echo "have $target"
        return
    fi
    echo "$(date -u +%H:%M:%S) $target"
    "$@" >"$target.partial"
    mv "$target.partial" "$target"
}

reference() {
    CAMSERVE_BACKEND=torch CAMSERVE_PRECISION=fp32 "$python" -m camserve evaluate --json "$@"
}

# quantize exits 1 when int8 fails the gate, and release decide when the rule says no: what they write is
# the report, and it goes on. Any other failure stops it.
quantize() {
    "$python" -m camserve quantize --data "$data" --fullres "$fullres" --json || [[ $? -eq 1 ]]
}

decide() {
    "$python" -m camserve release decide "$out" || [[ $? -eq 1 ]]
}

step val-uncalibrated.json reference --data "$data" --split val
step calibration.json "$python" -m camserve calibrate --data "$data" --fullres "$fullres" --json
step val.json reference --data "$data" --split val
step fullres.json reference --data "$fullres"
step val-tta.json reference --data "$data" --split val --tta
step fullres-zoom.json reference --data "$fullres" --zoom
step gate.json quantize
step sizes.txt "$python" -m camserve release sizes --data "$data" --fullres "$fullres" \
    --rounds "${SIZE_ROUNDS:-20}" --output "$out/sizes.json"
step versus.txt "$python" -m camserve release versus "$shipped" "$weights" --data "$data" --fullres "$fullres" \
    --output "$out/versus.json"
step cost.txt "$python" -m camserve release graphs --rounds "${COST_ROUNDS:-20}" --output "$out/cost.json" \
    --graph "shipped-int8=$shipped:int8" --graph "candidate-int8=$weights:int8" --graph "candidate-fp32=$weights:fp32"
if [[ -f $dev/annotations.json ]]; then
    step localization.txt "$python" -m camserve release localization "$shipped" "$weights" --data "$dev" \
        --output "$out/localization.json"
else
    echo "no $dev/annotations.json: no localization step, and the rule without maps"
fi
step decision.txt decide
cat "$out/decision.txt"
echo "report in $out"
