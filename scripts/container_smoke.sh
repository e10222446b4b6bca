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
#
# Environment: TARGET (cpu or cuda, default cpu), CACHE (default /var/cache/camserve-container),
# MAX_IMAGE_MB (the CPU image's limit, default 1536).
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET=${TARGET:-cpu}
CACHE=${CACHE:-/var/cache/camserve-container}
MAX_IMAGE_MB=${MAX_IMAGE_MB:-1536}
READY_TIMEOUT_S=${READY_TIMEOUT_S:-180}
BASE=localhost/camserve-base:bookworm-python3
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

apt_source() {  # "MIRROR SUITE": the first Debian source apt uses, deb822 or one-line format
    local mirror suite
    mirror=$(grep -hsoP '^URIs:\s*\K\S+' /etc/apt/sources.list.d/*.sources | head -1 || true)
    suite=$(grep -hsoP '^Suites:\s*\K\S+' /etc/apt/sources.list.d/*.sources | head -1 || true)
    if [[ -z $mirror ]]; then
        read -r _ mirror suite _ < <(grep -hsE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list | head -1)
    fi
    echo "$mirror $suite"
}

cleanup() {
    podman rm --force --ignore "$NAME" >/dev/null 2>&1 || true
    podman volume rm --force "$VOLUME" >/dev/null 2>&1 || true
    podman rmi --force "$IMAGE" >/dev/null 2>&1 || true
    podman image prune --force --filter "label=$LABEL" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

# 1. Tools and podman's configuration.
missing=()
for tool in podman buildah debootstrap runc; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if ((${#missing[@]})); then
    say "installing ${missing[*]}"
    apt-get update -qq && apt-get install -y -qq --no-install-recommends podman buildah debootstrap runc >/dev/null
fi
cat >"$work/containers.conf" <<'EOF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
runtime = "runc"
EOF
export CONTAINERS_CONF=$work/containers.conf

# 2. The base image, from a cached rootfs where there is one.
if ! podman image exists "$BASE"; then
    rootfs_tar=$CACHE/bookworm-python3.tar
    if [[ ! -s $rootfs_tar ]]; then
        read -r mirror suite < <(apt_source)
        say "debootstrap $suite from $mirror (about a minute)"
        debootstrap --variant=minbase --include=python3,python3-venv,python-is-python3,ca-certificates \
            "$suite" "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 ||
            { tail -20 "$work/debootstrap.log"; fail "debootstrap"; }
        mkdir -p "$CACHE"
        tar -C "$work/rootfs" -cf "$rootfs_tar.partial" . && mv "$rootfs_tar.partial" "$rootfs_tar"
    fi
    podman import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'CMD ["/bin/bash"]' "$rootfs_tar" "$BASE" >/dev/null 2>&1
fi

# 3. Build. pip inside sees this machine's settings through read-only mounts that exist during the build only.
mounts=()
for path in /etc/pip.conf /etc/xdg/pip /root/.config/pip /opt/wheels /opt/pypi /opt/pypi-more; do
    [[ -e $path ]] && mounts+=(--volume "$path:$path:ro")
done
ca_bundle=$(python3 -c 'import ssl; print(ssl.get_default_verify_paths().openssl_cafile)')
[[ -s $ca_bundle ]] && mounts+=(--volume "$ca_bundle:/etc/ssl/certs/ca-certificates.crt:ro")
build_started=$(date +%s)
podman build --format docker --layers=false --network host --label "$LABEL" --build-arg "PYTHON_IMAGE=$BASE" \
    --target "$TARGET" \
    "${mounts[@]}" --tag "$IMAGE" . >"$work/build.log" 2>&1 || { tail -40 "$work/build.log"; fail "podman build"; }
say "built $IMAGE in $(($(date +%s) - build_started)) s"

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
