#!/usr/bin/env bash
# Build the CPU image with podman and prove that it serves as the README says, then remove what it made.
#
# Usage: scripts/container_smoke.sh                 (as root; make test runs it: tests/scripts/test_container_smoke.py)
#        TARGET=cuda scripts/container_smoke.sh     (the CUDA image; no size limit; serves on the CPU without a GPU)
#
# 1. Installs podman, buildah, debootstrap and runc where missing (apt), and points podman at a config of
#    its own (runc, and limits this VM accepts) through CONTAINERS_CONF: the machine's own is not touched.
# 2. The base image: Debian with Python 3.11, made with debootstrap from the mirror and suite apt already
#    uses (no container registry is reachable), its rootfs cached as a tarball in $CACHE between runs.
# 3. Builds the image (docker format, which keeps HEALTHCHECK), with the machine's pip settings, CA bundle
#    and local package folders mounted read-only for the build only, never copied into a layer.
# 4. Starts it on a free loopback port with a fresh volume; times start to ready; POSTs tests/chelsea.png
#    and checks the label; asks the second model (?model=) too; fetches the overlay PNG; checks the health status, the user id and the image
#    size; restarts it on the same volume and reads the earlier result back.
# 5. Removes the containers, the volume and the images it built (the base image and rootfs stay cached).
# Steps 1 to 3 are scripts/lib/container_image.sh's, shared with scripts/kube_play_smoke.sh.
#
# Environment: TARGET (cpu or cuda, default cpu), CACHE (default /var/cache/camserve-container),
# MAX_IMAGE_MB (the CPU image's limit, default 1536).
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/lib/container_image.sh
source scripts/lib/container_image.sh

TARGET=${TARGET:-cpu}
MAX_IMAGE_MB=${MAX_IMAGE_MB:-1536}
READY_TIMEOUT_S=${READY_TIMEOUT_S:-180}
IMAGE=localhost/camserve:smoke-$TARGET
NAME=camserve-smoke-$$
VOLUME=camserve-smoke-data-$$
LABEL=camserve.smoke=$$
work=$(mktemp -d)
started=$(date +%s)

say() { printf 'container_smoke: %s\n' "$*"; }
fail() {  # to stderr: it may run inside $(...), whose output is captured
    {
        say "FAILED: $*"
        tail -20 "$work/podman.log" 2>/dev/null || true
        podman logs "$NAME" 2>&1 | tail -40 || true
    } >&2
    exit 1
}

cleanup() {
    podman rm --force --ignore "$NAME" >/dev/null 2>&1 || true
    podman volume rm --force "$VOLUME" >/dev/null 2>&1 || true
    podman rmi --force "$IMAGE" >/dev/null 2>&1 || true
    podman image prune --force --filter "label=$LABEL" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

# 1-3. Tools, podman's configuration, the base image and the build: scripts/lib/container_image.sh.
container_tools
container_base_image
container_build "$TARGET" "$IMAGE" "$LABEL"

size_mb=$(($(podman image inspect --format '{{.Size}}' "$IMAGE") / 1000000))
if [[ $TARGET == cpu ]]; then
    say "image size ${size_mb} MB (limit ${MAX_IMAGE_MB} MB)"
    ((size_mb <= MAX_IMAGE_MB)) || fail "image is ${size_mb} MB, over ${MAX_IMAGE_MB} MB"
else
    say "image size ${size_mb} MB"
fi

# 4. Run, as a user would.
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
url=http://127.0.0.1:$port
podman volume create "$VOLUME" >/dev/null

start_and_wait() {
    local t0
    t0=$(date +%s.%N)
    # Its stderr goes to a log: without systemd, podman says at every start that it cannot time the
    # periodic health checks (the check is run on demand below instead).
    podman run --detach --name "$NAME" --publish "127.0.0.1:$port:8000" --volume "$VOLUME:/data" "$IMAGE" \
        >/dev/null 2>>"$work/podman.log"
    for _ in $(seq $((READY_TIMEOUT_S * 4))); do
        if curl --silent --fail "$url/readyz" >"$work/ready.json" 2>/dev/null; then
            python3 -c "print(f'{$(date +%s.%N) - $t0:.1f}')"
            return
        fi
        [[ $(podman inspect --format '{{.State.Running}}' "$NAME") == true ]] || fail "the container exited"
        sleep 0.25
    done
    fail "not ready after ${READY_TIMEOUT_S} s"
}

ready_s=$(start_and_wait)
say "first start: ready in ${ready_s} s ($(python3 -c "import json; r = json.load(open('$work/ready.json')); \
s = r['runtime_selection']; print(r['backend'], r['precision'], s['source'])"))"

curl --silent --fail --form file=@tests/chelsea.png "$url/predictions" >"$work/post.json" || fail "POST"
read -r prediction_id label < <(python3 -c "import json; r = json.load(open('$work/post.json')); print(r['id'], r['label'])")
[[ $label == cat ]] || fail "tests/chelsea.png answered $label, not cat"
say "POST tests/chelsea.png: $label, id $prediction_id"

# The second model, served beside the default from its export in the image: ten classes, a ten-channel map.
cifar=camserve-lesson7-resnet2
curl --silent --fail "$url/models" >"$work/models.json" || fail "GET /models"
curl --silent --fail --form file=@tests/chelsea.png "$url/predictions?model=$cifar&store=false" >"$work/cifar.json" \
    || fail "POST ?model=$cifar"
python3 - "$work/models.json" "$work/cifar.json" "$cifar" <<'PY' || fail "the second model"
import json, sys
models, answer, name = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), sys.argv[3]
served = {m["name"]: m for m in models["models"]}
assert models["default"] == "camserve-resnet34" and name in served, models
assert answer["model"]["name"] == name and len(answer["probabilities"]) == 10, answer
assert answer["label"] in served[name]["classes"], answer
PY
say "POST ?model=$cifar: $(python3 -c "import json; print(json.load(open('$work/cifar.json'))['label'])")"

curl --silent --fail --output "$work/overlay.png" "$url/predictions/$prediction_id/overlay.png" || fail "GET overlay"
[[ $(head -c 8 "$work/overlay.png" | od -An -tx1 | tr -d ' \n') == 89504e470d0a1a0a ]] || fail "the overlay is not a PNG"
say "overlay: $(stat -c %s "$work/overlay.png") bytes of PNG"

podman healthcheck run "$NAME" >/dev/null || fail "the HEALTHCHECK command failed"
health=$(podman inspect --format '{{.State.Health.Status}}' "$NAME")
[[ $health == healthy ]] || fail "health status is $health"
uid=$(podman exec "$NAME" id -u)
[[ $uid == 10001 ]] || fail "the service runs as user $uid, not 10001"
say "health: $health; user: $uid"

podman rm --force "$NAME" >/dev/null 2>>"$work/podman.log"
ready_s=$(start_and_wait)
curl --silent --fail "$url/predictions/$prediction_id" >"$work/again.json" || fail "the result did not survive a restart"
again=$(python3 -c "import json; print(json.load(open('$work/again.json'))['label'])")
[[ $again == "$label" ]] || fail "after the restart the result says $again"
say "restart on the same volume: ready in ${ready_s} s, result $prediction_id read back ($again)"

say "passed in $(($(date +%s) - started)) s"
