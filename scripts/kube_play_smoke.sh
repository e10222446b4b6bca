#!/usr/bin/env bash
# Run deploy/'s manifests with `podman kube play` and the CPU image, prove the pod serves and heals, then remove
# everything it made.
#
# Usage: scripts/kube_play_smoke.sh                                   (as root: tests/deploy/test_kube_play.py)
#        CAMSERVE_IMAGE=localhost/camserve:smoke-cpu scripts/kube_play_smoke.sh   (an image already built)
#
# 1. Builds the CPU image as scripts/container_smoke.sh does (scripts/lib/container_image.sh), unless
#    CAMSERVE_IMAGE names one already built (which it then leaves in place).
# 2. Copies deployment.yaml, configmap.yaml and service.yaml into a temporary folder, with two changes to the
#    Deployment only: the image is the built one, and the http port gets hostIP 127.0.0.1 and a free hostPort
#    (podman 4.3 publishes only container ports that name a hostPort; it skips the Service, a kind it does not
#    know). The Secret is a podman secret with secret.example.yaml's name and a test value: a SQLite file on
#    the pod's /data emptyDir as the store (no PostgreSQL here), and no bucket (CAMSERVE_BLOB_URL needs
#    PostgreSQL), so no AWS_* keys.
# 3. podman kube play, timed to /readyz 200; reads what podman made of the probes; POSTs tests/chelsea.png
#    (cat) and asks the Open Inference Protocol's v2 infer the same.
# 4. Kills the container's main process from the host (SIGKILL, as the OOM killer would) and times the
#    restart policy's new container to /readyz 200, and asks it again.
# 5. podman kube down, then removes the pod, volumes and secret it made, on failure too.
#
# Environment: CAMSERVE_IMAGE (an image to use instead of building), CACHE (the base rootfs, default
# /var/cache/camserve-container), READY_TIMEOUT_S (default 180).
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/lib/container_image.sh
source scripts/lib/container_image.sh

READY_TIMEOUT_S=${READY_TIMEOUT_S:-180}
LABEL=camserve.kube-smoke=$$
IMAGE=${CAMSERVE_IMAGE:-localhost/camserve:kube-smoke-$$}
SECRET=camserve-store  # secret.example.yaml's name, read again below
work=$(mktemp -d)
started=$(date +%s)

say() { printf 'kube_play_smoke: %s\n' "$*"; }
fail() {  # to stderr: it may run inside $(...), whose output is captured
    {
        say "FAILED: $*"
        tail -20 "$work/podman.log" 2>/dev/null || true
        [[ -n ${container:-} ]] && { podman logs "$container" 2>&1 | tail -40 || true; }
    } >&2
    exit 1
}

played=false
secret_made=false
cleanup() {
    if $played; then
        podman kube down "$work/manifests.yaml" >/dev/null 2>&1 || true
    fi
    if $secret_made; then podman secret rm "$SECRET" >/dev/null 2>&1 || true; fi
    # The emptyDirs' volumes, which kube down leaves: those that were not there before the play.
    if [[ -s $work/volumes.before ]]; then
        for volume in $(podman volume ls --quiet | grep -vxFf "$work/volumes.before"); do
            podman volume rm --force "$volume" >/dev/null 2>&1 || true
        done
    fi
    # The pause image podman builds for the pod's infra container, unless it was there before.
    if [[ -n ${pause_images:-} ]]; then
        for image in $(podman images --quiet --filter reference=localhost/podman-pause | grep -vxF "$pause_images"); do
            podman rmi --force "$image" >/dev/null 2>&1 || true
        done
    fi
    if [[ -z ${CAMSERVE_IMAGE:-} ]]; then
        podman rmi --force "$IMAGE" >/dev/null 2>&1 || true
        podman image prune --force --filter "label=$LABEL" >/dev/null 2>&1 || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

# 1. The image. A pod's infra container is a pause image podman 4.3 builds locally around catatonit.
container_tools
if ! command -v catatonit >/dev/null && [[ ! -x /usr/libexec/podman/catatonit ]]; then
    say "installing catatonit"
    apt-get update -qq && apt-get install -y -qq --no-install-recommends catatonit >/dev/null
fi
if [[ -n ${CAMSERVE_IMAGE:-} ]]; then
    podman image exists "$IMAGE" || fail "CAMSERVE_IMAGE=$IMAGE is not in podman's store"
    say "using $IMAGE"
else
    container_base_image
    container_build cpu "$IMAGE" "$LABEL"
fi

# 2. The manifests, as a test deploys them.
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
url=http://127.0.0.1:$port
python3 - "$IMAGE" "$port" "$work/manifests.yaml" <<'PY' >"$work/secret.name" || fail "the manifests"
import base64
import json
import sys

import yaml

image, port, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
deployment = yaml.safe_load(open("deploy/deployment.yaml"))
(container,) = deployment["spec"]["template"]["spec"]["containers"]
assert container["image"] == "camserve:cpu", container["image"]
container["image"] = image
(http,) = [p for p in container["ports"] if p["name"] == "http"]
http.update(hostIP="127.0.0.1", hostPort=port)
# The store on the pod's emptyDir; no bucket, so no AWS_* keys. podman 4.3 reads envFrom's secretRef from a
# podman secret holding a flat JSON object of names to base64 values. A Secret document in the played file is
# stored as its YAML, which envFrom then refuses ("secret camserve-store is not valid JSON"), so the Secret
# (secret.example.yaml's name) is made apart, in the form envFrom reads.
name = yaml.safe_load(open("deploy/secret.example.yaml"))["metadata"]["name"]
values = {"CAMSERVE_STORE_URL": "sqlite:////data/camserve.sqlite3"}
with open(out.replace("manifests.yaml", "secret.json"), "w") as f:
    json.dump({key: base64.b64encode(value.encode()).decode() for key, value in values.items()}, f)
print(name)
docs = [yaml.safe_load(open("deploy/configmap.yaml")), deployment, yaml.safe_load(open("deploy/service.yaml"))]
with open(out, "w") as f:
    yaml.safe_dump_all(docs, f, sort_keys=False)
PY

# 3. Play, and wait for ready.
SECRET=$(cat "$work/secret.name")
podman secret create "$SECRET" "$work/secret.json" >/dev/null || fail "podman secret create $SECRET"
secret_made=true
pause_images=$(echo "none before"; podman images --quiet --filter reference=localhost/podman-pause)
{ echo "volumes before the play:"; podman volume ls --quiet; } >"$work/volumes.before"
t0=$(date +%s.%N)
played=true
podman kube play "$work/manifests.yaml" >"$work/play.out" 2>>"$work/podman.log" || { cat "$work/play.out"; fail "podman kube play"; }
cat "$work/play.out" >>"$work/podman.log"
pod=$(podman pod ps --filter label=app.kubernetes.io/name=camserve --format "{{.Name}}" | head -1)
[[ -n $pod ]] || { cat "$work/play.out"; fail "kube play made no camserve pod"; }
container=$(podman ps --all --filter "pod=$pod" --format '{{.Names}} {{.IsInfra}}' | awk '$2 == "false" {print $1}')
[[ -n $container ]] || fail "no container in pod $pod"

wait_ready() {  # seconds since $1 until /readyz answers 200
    local since=$1
    for _ in $(seq $((READY_TIMEOUT_S * 4))); do
        if curl --silent --fail "$url/readyz" >"$work/ready.json" 2>/dev/null; then
            python3 -c "print(f'{$(date +%s.%N) - $since:.1f}')"
            return
        fi
        sleep 0.25
    done
    fail "not ready after ${READY_TIMEOUT_S} s"
}
ready_s=$(wait_ready "$t0")
say "kube play to ready: ${ready_s} s, target under 60 s (pod $pod, container $container, $(python3 -c "import json; \
r = json.load(open('$work/ready.json')); s = r['runtime_selection']; print(r['backend'], r['precision'], s['source'])"))"

# The ConfigMap's and the Secret's values reached the container through envFrom.
env=$(podman exec "$container" env) || fail "podman exec env"
grep -qx 'CAMSERVE_BATCH_MAX_SIZE=8' <<<"$env" || fail "the ConfigMap's CAMSERVE_BATCH_MAX_SIZE is not in the environment"
grep -qx 'CAMSERVE_STORE_URL=sqlite:////data/camserve.sqlite3' <<<"$env" || fail "the Secret's CAMSERVE_STORE_URL is not in the environment"

# What podman 4.3.1 makes of the probes (read from the container below, not assumed):
# - livenessProbe becomes the container's health check, but broken: httpGet turns into
#   ["CMD-SHELL", "curl", "-f", "http://localhost:0/healthz", "||", "exit", "1"]: the named port (http) is read
#   as 0, and the image has no curl (the Dockerfile's HEALTHCHECK uses Python), so `podman healthcheck run`
#   says unhealthy. Without systemd podman cannot schedule the checks anyway, so nothing acts on them here.
# - startupProbe and readinessProbe are dropped: no StartupHealthCheck (later releases add startup checks); /readyz
#   appears nowhere in the container's configuration. Readiness is what this script polls itself.
podman inspect "$container" >"$work/inspect.json"
python3 - "$work/inspect.json" <<'PY' >"$work/probes.txt" || fail "reading the health checks"
import json, sys
(c,) = json.load(open(sys.argv[1]))
config = c["Config"]
print("livenessProbe ->", json.dumps(config.get("Healthcheck")))
print("startupProbe ->", json.dumps(config.get("StartupHealthCheck")))
print("readinessProbe -> /readyz in the container's config:", "readyz" in json.dumps(config))
PY
health=$(podman healthcheck run "$container" 2>&1) && health=healthy
say "probes: podman healthcheck run: ${health:-unhealthy}"
while read -r line; do say "probes: $line"; done <"$work/probes.txt"

ask() {  # POST tests/chelsea.png to /predictions and to v2 infer; both must say cat
    local when=$1 label
    curl --silent --fail --form file=@tests/chelsea.png "$url/predictions" >"$work/post.json" || fail "POST ($when)"
    read -r prediction_id label < <(python3 -c "import json; r = json.load(open('$work/post.json')); print(r['id'], r['label'])")
    [[ $label == cat ]] || fail "tests/chelsea.png answered $label, not cat ($when)"
    python3 - >"$work/infer.json" <<'PY'
import base64, json
photo = base64.b64encode(open("tests/chelsea.png", "rb").read()).decode()
print(json.dumps({
    "inputs": [{"name": "photo", "shape": [1], "datatype": "BYTES", "data": [photo]}],
    "outputs": [{"name": "label"}],
    "parameters": {"store": False},
}))
PY
    curl --silent --fail --header 'Content-Type: application/json' --data @"$work/infer.json" \
        "$url/v2/models/camserve-resnet34/infer" >"$work/v2.json" || fail "v2 infer ($when)"
    label=$(python3 -c "import json; print(json.load(open('$work/v2.json'))['outputs'][0]['data'][0])")
    [[ $label == cat ]] || fail "v2 infer answered $label, not cat ($when)"
    say "POST tests/chelsea.png: cat, id $prediction_id; v2 infer: cat ($when)"
}
ask "first start"

# 4. A crash of the main process (SIGKILL from the host): the pod's restartPolicy (Always, the default for a
# Deployment's pods) brings a new process up in the same container, on the same emptyDir.
restarts=$(podman inspect --format '{{.RestartCount}}' "$container")
pid=$(podman inspect --format '{{.State.Pid}}' "$container")
((pid > 0)) || fail "the container has no running process"
t_kill=$(date +%s.%N)
kill -KILL "$pid"
for _ in $(seq $((READY_TIMEOUT_S * 4))); do
    [[ $(podman inspect --format '{{.RestartCount}}' "$container") -gt $restarts ]] && break
    sleep 0.25
done
[[ $(podman inspect --format '{{.RestartCount}}' "$container") -gt $restarts ]] || fail "not restarted after the kill"
restart_s=$(wait_ready "$t_kill")
[[ $(podman inspect --format '{{.State.Pid}}' "$container") != "$pid" ]] || fail "the same process still runs"
say "killed PID $pid: restarted by its policy ($(podman inspect --format '{{.HostConfig.RestartPolicy.Name}}' \
    "$container")), ready again in ${restart_s} s"
ask "after the restart"

# 5. Down, and what it leaves.
podman kube down "$work/manifests.yaml" >>"$work/podman.log" 2>&1 || fail "podman kube down"
played=false
! podman pod exists "$pod" || fail "pod $pod is still there after kube down"
say "kube down: pod $pod removed"

say "passed in $(($(date +%s) - started)) s (kube play to ready ${ready_s} s, restart after the kill ${restart_s} s)"
