# shellcheck shell=bash
# shellcheck disable=SC2154  # work (and say, fail) are the caller's
# Sourced by scripts/container_smoke.sh and scripts/kube_play_smoke.sh: the tools, podman's configuration,
# the base image and the build of the image, in one place.
#
# The caller defines say and fail (fail exits), and work, an empty temporary folder it removes.
#
#   container_tools                    installs podman, buildah, debootstrap and runc where missing (apt), and
#                                      points podman at a config of its own (runc, limits this VM accepts)
#                                      through CONTAINERS_CONF: the machine's own is not touched.
#   container_base_image               localhost/camserve-base:bookworm-python3: Debian with Python 3.11, made
#                                      with debootstrap from the mirror and suite apt already uses (no container
#                                      registry is reachable), its rootfs cached as a tarball in $CACHE.
#   container_build TARGET TAG LABEL   builds the Dockerfile's TARGET as TAG (docker format, which keeps
#                                      HEALTHCHECK), labelled LABEL, with the machine's pip settings, CA bundle
#                                      and local package folders mounted read-only for the build only, never
#                                      copied into a layer; says "built TAG in N s".
#
# Environment: CACHE (default /var/cache/camserve-container).

CACHE=${CACHE:-/var/cache/camserve-container}
CONTAINER_BASE=localhost/camserve-base:bookworm-python3

apt_source() {  # "MIRROR SUITE": the first Debian source apt uses, deb822 or one-line format
    local mirror suite
    mirror=$(grep -hsoP '^URIs:\s*\K\S+' /etc/apt/sources.list.d/*.sources | head -1 || true)
    suite=$(grep -hsoP '^Suites:\s*\K\S+' /etc/apt/sources.list.d/*.sources | head -1 || true)
    if [[ -z $mirror ]]; then
        read -r _ mirror suite _ < <(grep -hsE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list | head -1)
    fi
    echo "$mirror $suite"
}

container_tools() {
    local missing=() tool
    for tool in podman buildah debootstrap runc; do command -v "$tool" >/dev/null || missing+=("$tool"); done
    if ((${#missing[@]})); then
        say "installing ${missing[*]}"
        apt-get update -qq && apt-get install -y -qq --no-install-recommends podman buildah debootstrap runc >/dev/null
    fi
    cat >"$work/containers.conf" <<'CONF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
runtime = "runc"
CONF
    export CONTAINERS_CONF=$work/containers.conf
}

container_base_image() {
    podman image exists "$CONTAINER_BASE" && return
    local rootfs_tar=$CACHE/bookworm-python3.tar mirror suite
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
        --change 'CMD ["/bin/bash"]' "$rootfs_tar" "$CONTAINER_BASE" >/dev/null 2>&1
}

container_build() {
    local target=$1 tag=$2 label=$3 mounts=() path ca_bundle build_started
    for path in /etc/pip.conf /etc/xdg/pip /root/.config/pip /opt/wheels /opt/pypi /opt/pypi-more; do
        [[ -e $path ]] && mounts+=(--volume "$path:$path:ro")
    done
    ca_bundle=$(python3 -c 'import ssl; print(ssl.get_default_verify_paths().openssl_cafile)')
    [[ -s $ca_bundle ]] && mounts+=(--volume "$ca_bundle:/etc/ssl/certs/ca-certificates.crt:ro")
    build_started=$(date +%s)
    podman build --format docker --layers=false --network host --label "$label" \
        --build-arg "PYTHON_IMAGE=$CONTAINER_BASE" --target "$target" \
        "${mounts[@]}" --tag "$tag" . >"$work/build.log" 2>&1 || { tail -40 "$work/build.log"; fail "podman build"; }
    say "built $tag in $(($(date +%s) - build_started)) s"
}
