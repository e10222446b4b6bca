#!/usr/bin/env bash
# A local camserve cluster on 127.0.0.1: PostgreSQL, SeaweedFS's S3 gateway, N stateless camserve replicas
# sharing them, and HAProxy in front. Every process it starts is recorded by PID in the cluster dir and stopped by
# that PID. tests/scripts/test_cluster.py drives it (through tests/support/cluster.py); benchmarks and store work
# can use it by hand.
#
# Usage: scripts/cluster.sh up [--services-only]        start (--services-only: PostgreSQL and S3 alone)
#        scripts/cluster.sh down [--keep]                 stop all it started; remove the dir unless --keep
#        scripts/cluster.sh status                        each process alive or not, each /readyz status
#        scripts/cluster.sh stop-db | start-db | restart-db    PostgreSQL off and on, same data dir and port
#        scripts/cluster.sh kill-replica N                SIGKILL replica N (1 to REPLICAS)
#        scripts/cluster.sh start-replica N               start replica N again on its port; wait for /readyz
# Every command but up needs CLUSTER_DIR, the directory up prints.
#
# up, in order, waiting for each piece to answer before the next (on failure: the piece's log tail, then
# everything it started is stopped and the dir kept for its logs):
# 1. Installs postgresql, haproxy and curl with apt where missing (as root; weed comes from the venv).
# 2. PostgreSQL: a throwaway cluster (initdb; scram passwords over TCP; fsync on), role and database
#    "camserve" with a random password; the role may create databases (store tests make one each).
#    As root its commands run as the postgres user.
# 3. SeaweedFS: weed mini, every port it opens chosen and bound to 127.0.0.1, no telemetry, no WebDAV, no admin
#    UI (its server still listens), one identity from a random key pair; the bucket created with boto3, which
#    must then answer.
# 4. Replica 1 alone: it times the runtimes once for all (CAMSERVE_RUNTIME_CACHE_DIR is shared) and migrates the
#    schema; then the others together. All serve the weights CAMSERVE_WEIGHTS_PATH names (the shipped ones).
# 5. HAProxy (scripts/haproxy.cfg.template: health checks on /readyz, retries only for failed connections).
#
# Environment for up: CLUSTER_DIR (default a new mktemp dir; else empty or absent), REPLICAS (2), LB_PORT,
# PG_PORT, S3_PORT, REPLICA_PORTS ("P1 P2 ..."; by default free ports), BLOBS (s3, or db: photos kept in
# PostgreSQL), STORE (postgresql, or sqlite: each replica its own SQLite file, no shared store: the balancer
# alone), READY_TIMEOUT_S (180), VENV (.venv). CAMSERVE_* variables of the caller reach the replicas;
# CAMSERVE_RUNTIME_CACHE_DIR and CAMSERVE_ONNX_CACHE_DIR default to dirs in the cluster dir.
#
# $CLUSTER_DIR/cluster.env: KEY=value lines, values without spaces or quotes, so `set -a; . cluster.env` or a
# plain split on the first "=" reads them. CLUSTER_DIR, CLUSTER_STORE, CLUSTER_PG_PORT, CLUSTER_PG_DATA,
# CLUSTER_PG_SOCKET_DIR, CLUSTER_S3_PORT, CLUSTER_BUCKET, CAMSERVE_STORE_URL, CAMSERVE_BLOB_URL (BLOBS=s3),
# AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, CAMSERVE_RUNTIME_CACHE_DIR,
# CAMSERVE_ONNX_CACHE_DIR; and without --services-only: CLUSTER_REPLICAS, CLUSTER_REPLICA_<n>_PORT,
# CLUSTER_REPLICA_<n>_URL (n from 1), CLUSTER_LB_PORT and CLUSTER_URL (the balancer). Logs are in logs/,
# PIDs in pids/.
set -euo pipefail
cd "$(dirname "$0")/.."
PATH=$PATH:/usr/sbin:/sbin  # haproxy and runuser, for users whose PATH leaves them out
REPO=$PWD
TEMPLATE=$REPO/scripts/haproxy.cfg.template
VENV=${VENV:-$REPO/.venv}
PYTHON=$VENV/bin/python
CAMSERVE=$VENV/bin/camserve
WEED=$VENV/bin/weed
READY_TIMEOUT_S=${READY_TIMEOUT_S:-180}
STOP_TIMEOUT_S=30
BUCKET=camserve

say() { printf 'cluster: %s\n' "$*"; }
die() {
    say "FAILED: $1" >&2
    exit 1
}
fail() {  # fail MESSAGE LOG: the message and the log's tail, to stderr
    {
        say "FAILED: $1"
        if [[ -s $2 ]]; then
            say "last lines of $2:"
            tail -n 40 "$2"
        fi
    } >&2
    exit 1
}

# --- processes: started with their PID recorded, stopped by that PID only ------------------------------------

alive() {  # PID runs (a zombie has ended)
    [[ -r /proc/$1/stat ]] && [[ $(sed -E 's/^.*\) (\S).*$/\1/' "/proc/$1/stat" 2>/dev/null) != Z ]]
}

ours() {  # PID runs and was started for this cluster: its command line or environment names the cluster dir
    alive "$1" && grep -qsaF -- "$CLUSTER_DIR" "/proc/$1/cmdline" "/proc/$1/environ"
}

pid_of() { cat "$CLUSTER_DIR/pids/$1.pid" 2>/dev/null || true; }

stop_pid() {  # stop_pid NAME [SIGNAL]: the recorded process, then SIGKILL if it outlives STOP_TIMEOUT_S
    local name=$1 signal=${2:-TERM} pid
    pid=$(pid_of "$name")
    if [[ -n $pid ]] && ours "$pid"; then
        kill -s "$signal" "$pid" 2>/dev/null || true
        for _ in $(seq $((STOP_TIMEOUT_S * 10))); do
            alive "$pid" || break
            sleep 0.1
        done
        if alive "$pid"; then
            say "$name (PID $pid) outlived SIG$signal by ${STOP_TIMEOUT_S} s: SIGKILL" >&2
            kill -s KILL "$pid" 2>/dev/null || true
        fi
    fi
    rm -f "$CLUSTER_DIR/pids/$name.pid"
}

wait_until() {  # wait_until WHAT LOG PID COMMAND...: until COMMAND succeeds; fails if PID ends or time runs out
    local what=$1 log=$2 pid=$3 deadline=$((SECONDS + READY_TIMEOUT_S))
    shift 3
    until "$@" >/dev/null 2>&1; do
        alive "$pid" || fail "$what exited" "$log"
        ((SECONDS < deadline)) || fail "$what did not answer within ${READY_TIMEOUT_S} s" "$log"
        sleep 0.2
    done
}

http_ok() { curl --silent --fail --max-time 5 --output /dev/null "$1"; }

free_ports() {  # N distinct free loopback ports, all bound at once while chosen so none repeats
    "$PYTHON" - "$1" <<'EOF'
import socket
import sys

sockets = [socket.socket() for _ in range(int(sys.argv[1]))]
for sock in sockets:
    sock.bind(("127.0.0.1", 0))
print(*(sock.getsockname()[1] for sock in sockets))
EOF
}

random_hex() { od -An -tx1 -N16 /dev/urandom | tr -d ' \n'; }

load_env() {
    [[ -n ${CLUSTER_DIR:-} ]] || die "set CLUSTER_DIR to the directory 'up' printed"
    [[ -s $CLUSTER_DIR/cluster.env ]] || die "$CLUSTER_DIR/cluster.env is missing: not a cluster dir"
    set -a
    # shellcheck source=/dev/null
    . "$CLUSTER_DIR/cluster.env"
    set +a
}

record() {  # record KEY VALUE in cluster.env, whose values need no quoting
    [[ $2 =~ ^[^[:space:]\"\'\`\$\\]*$ ]] || die "$1 must have no spaces, quotes, \$ or \\: $2"
    printf '%s=%s\n' "$1" "$2" >>"$CLUSTER_DIR/cluster.env"
}

# --- PostgreSQL --------------------------------------------------------------------------------------------------

pg_bin() {  # the directory of initdb and pg_ctl: on PATH, else Debian's newest /usr/lib/postgresql/*/bin
    local initdb
    initdb=$(command -v initdb || true)
    if [[ -z $initdb ]]; then
        initdb=$(find /usr/lib/postgresql -path '*/bin/initdb' 2>/dev/null | sort -V | tail -n 1)
    fi
    [[ -n $initdb ]] && dirname "$(readlink -f "$initdb")"
}

as_postgres() {  # PostgreSQL refuses to run as root: as root, run its commands as the postgres user, from /
    if ((EUID == 0)); then
        (cd / && runuser -u postgres -- "$@")
    else
        "$@"
    fi
}

start_db() {
    local bin log=$CLUSTER_DIR/pg/postgres.log
    bin=$(pg_bin) || die "PostgreSQL's initdb and pg_ctl are missing"
    as_postgres "$bin/pg_ctl" start --wait --timeout "$READY_TIMEOUT_S" --pgdata "$CLUSTER_PG_DATA" --log "$log" \
        >/dev/null || fail "PostgreSQL did not start" "$log"
    head -n 1 "$CLUSTER_PG_DATA/postmaster.pid" >"$CLUSTER_DIR/pids/postgres.pid"
    wait_until PostgreSQL "$log" "$(pid_of postgres)" "$bin/pg_isready" --quiet --host 127.0.0.1 \
        --port "$CLUSTER_PG_PORT"
}

stop_db() {  # a fast shutdown (sessions cut, then a checkpoint) through pg_ctl, which signals the recorded PID
    local bin pid
    pid=$(pid_of postgres)
    [[ -n $pid ]] || return 0
    if ours "$pid"; then
        bin=$(pg_bin) || die "PostgreSQL's pg_ctl is missing"
        as_postgres "$bin/pg_ctl" stop --wait --timeout "$STOP_TIMEOUT_S" --mode fast --pgdata "$CLUSTER_PG_DATA" \
            >/dev/null || stop_pid postgres KILL
    fi
    rm -f "$CLUSTER_DIR/pids/postgres.pid"
}

init_db() {
    local bin pg_dir=$CLUSTER_DIR/pg password
    bin=$(pg_bin) || die "PostgreSQL's initdb is missing"
    mkdir -p "$pg_dir/socket"
    ((EUID != 0)) || chown -R postgres: "$pg_dir"
    chmod 0700 "$pg_dir"
    # Local (socket) connections are trusted: the socket's directory admits its owner only. TCP needs a password.
    as_postgres "$bin/initdb" --pgdata "$pg_dir/data" --username postgres --auth-local trust \
        --auth-host scram-sha-256 --encoding UTF8 --no-locale >"$CLUSTER_DIR/logs/initdb.log" 2>&1 ||
        fail "initdb" "$CLUSTER_DIR/logs/initdb.log"
    as_postgres tee -a "$pg_dir/data/postgresql.conf" >/dev/null <<EOF
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$pg_dir/socket'
fsync = on
synchronous_commit = on
full_page_writes = on
EOF
    record CLUSTER_PG_PORT "$PG_PORT"
    record CLUSTER_PG_DATA "$pg_dir/data"
    record CLUSTER_PG_SOCKET_DIR "$pg_dir/socket"
    CLUSTER_PG_PORT=$PG_PORT CLUSTER_PG_DATA=$pg_dir/data
    start_db
    password=$(random_hex)
    as_postgres "$bin/psql" --quiet --no-psqlrc --host "$pg_dir/socket" --port "$PG_PORT" --username postgres \
        --dbname postgres --set ON_ERROR_STOP=1 \
        --command "CREATE ROLE camserve LOGIN CREATEDB PASSWORD '$password'" \
        --command "CREATE DATABASE camserve OWNER camserve" >>"$CLUSTER_DIR/logs/initdb.log" 2>&1 ||
        fail "creating the camserve role and database" "$CLUSTER_DIR/logs/initdb.log"
    record CAMSERVE_STORE_URL "postgresql://camserve:$password@127.0.0.1:$PG_PORT/camserve"
    say "PostgreSQL on 127.0.0.1:$PG_PORT (PID $(pid_of postgres))"
}

# --- SeaweedFS -------------------------------------------------------------------------------------------------

# Creates the bucket where it is missing and reads it back: S3 answers boto3, with the cluster's keys.
BUCKET_CHECK='
import sys

import boto3
from botocore.config import Config

s3 = boto3.client("s3", config=Config(connect_timeout=2, read_timeout=5, retries={"max_attempts": 1}))
bucket = sys.argv[1]
if bucket not in {b["Name"] for b in s3.list_buckets()["Buckets"]}:
    s3.create_bucket(Bucket=bucket)
s3.head_bucket(Bucket=bucket)
'

start_s3() {
    local dir=$CLUSTER_DIR/s3 log=$CLUSTER_DIR/logs/weed.log key secret ports
    local master master_grpc volume volume_grpc filer filer_grpc s3_grpc admin admin_grpc
    [[ -x $WEED ]] || die "$WEED is missing: install the test extras (pip install -e '.[test]')"
    mkdir -p "$dir/data"
    key=$(random_hex)
    secret=$(random_hex)
    (umask 077 && cat >"$dir/identities.json") <<EOF
{"identities": [{"name": "camserve", "credentials": [{"accessKey": "$key", "secretKey": "$secret"}],
  "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}
EOF
    ports=$(free_ports 9)
    read -r master master_grpc volume volume_grpc filer filer_grpc s3_grpc admin admin_grpc <<<"$ports"
    "$WEED" mini -dir="$dir/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 -master.telemetry=false \
        -master.port="$master" -master.port.grpc="$master_grpc" \
        -volume.port="$volume" -volume.port.grpc="$volume_grpc" \
        -filer.port="$filer" -filer.port.grpc="$filer_grpc" -filer.localSocket="$dir/filer.sock" \
        -s3.port="$S3_PORT" -s3.port.grpc="$s3_grpc" -s3.localSocket="$dir/s3.sock" -s3.config="$dir/identities.json" \
        -s3.port.iceberg=0 -s3.port.lance=0 -webdav=false \
        -admin.ui=false -admin.port="$admin" -admin.port.grpc="$admin_grpc" -admin.dataDir="$dir/admin" \
        </dev/null >"$log" 2>&1 &
    echo $! >"$CLUSTER_DIR/pids/weed.pid"
    record CLUSTER_S3_PORT "$S3_PORT"
    record CLUSTER_BUCKET "$BUCKET"
    record AWS_ENDPOINT_URL "http://127.0.0.1:$S3_PORT"
    record AWS_ACCESS_KEY_ID "$key"
    record AWS_SECRET_ACCESS_KEY "$secret"
    record AWS_REGION us-east-1
    [[ $BLOBS == db ]] || record CAMSERVE_BLOB_URL "s3://$BUCKET/photos"
    load_env
    wait_until "SeaweedFS's S3 gateway" "$log" "$(pid_of weed)" "$PYTHON" -c "$BUCKET_CHECK" "$BUCKET"
    say "SeaweedFS S3 on 127.0.0.1:$S3_PORT, bucket $BUCKET (PID $(pid_of weed))"
}

# --- camserve replicas -------------------------------------------------------------------------------------------

start_replica() {  # start_replica N: camserve serve on its recorded port, with the cluster's settings
    local n=$1 port_key=CLUSTER_REPLICA_$1_PORT log=$CLUSTER_DIR/logs/replica-$1.log
    [[ -n ${!port_key:-} ]] || die "no replica $n in this cluster"
    (
        if [[ $CLUSTER_STORE == sqlite ]]; then
            unset CAMSERVE_STORE_URL CAMSERVE_BLOB_URL
            export CAMSERVE_STORE_PATH=$CLUSTER_DIR/replica-$n.sqlite3
        fi
        exec "$CAMSERVE" serve --host 127.0.0.1 --port "${!port_key}" </dev/null >>"$log" 2>&1
    ) &
    echo $! >"$CLUSTER_DIR/pids/replica-$n.pid"
}

wait_replica() {
    local n=$1 url_key=CLUSTER_REPLICA_$1_URL
    wait_until "replica $n" "$CLUSTER_DIR/logs/replica-$n.log" "$(pid_of "replica-$n")" http_ok "${!url_key}/readyz"
    say "replica $n ready at ${!url_key} (PID $(pid_of "replica-$n"))"
}

start_replicas() {
    local ports n
    ports=${REPLICA_PORTS:-$(free_ports "$REPLICAS")}
    read -r -a ports <<<"$ports"
    ((${#ports[@]} == REPLICAS)) || die "REPLICA_PORTS names ${#ports[@]} ports for $REPLICAS replicas"
    record CLUSTER_REPLICAS "$REPLICAS"
    for n in $(seq "$REPLICAS"); do
        record "CLUSTER_REPLICA_${n}_PORT" "${ports[n - 1]}"
        record "CLUSTER_REPLICA_${n}_URL" "http://127.0.0.1:${ports[n - 1]}"
    done
    load_env
    start_replica 1
    wait_replica 1
    for n in $(seq 2 "$REPLICAS"); do start_replica "$n"; done
    for n in $(seq 2 "$REPLICAS"); do wait_replica "$n"; done
}

# --- HAProxy -----------------------------------------------------------------------------------------------------

start_balancer() {
    local config=$CLUSTER_DIR/haproxy.cfg log=$CLUSTER_DIR/logs/haproxy.log n port_key
    sed "s/@LB_PORT@/$LB_PORT/g" "$TEMPLATE" >"$config"
    for n in $(seq "$REPLICAS"); do
        port_key=CLUSTER_REPLICA_${n}_PORT
        printf '    server replica-%s 127.0.0.1:%s check\n' "$n" "${!port_key}" >>"$config"
    done
    haproxy -c -q -f "$config" >"$log" 2>&1 || fail "HAProxy refused its configuration" "$log"
    haproxy -db -f "$config" </dev/null >>"$log" 2>&1 &
    echo $! >"$CLUSTER_DIR/pids/haproxy.pid"
    record CLUSTER_LB_PORT "$LB_PORT"
    record CLUSTER_URL "http://127.0.0.1:$LB_PORT"
    wait_until HAProxy "$log" "$(pid_of haproxy)" http_ok "http://127.0.0.1:$LB_PORT/readyz"
    say "HAProxy at http://127.0.0.1:$LB_PORT (PID $(pid_of haproxy))"
}

# --- commands ----------------------------------------------------------------------------------------------------

install_missing() {  # services_only: 0 or 1
    local missing=()
    pg_bin >/dev/null || missing+=(postgresql)
    command -v curl >/dev/null || missing+=(curl)
    (($1)) || command -v haproxy >/dev/null || missing+=(haproxy)
    ((${#missing[@]})) || return 0
    ((EUID == 0)) || die "missing ${missing[*]}: install them, or run as root to have them installed"
    say "installing ${missing[*]}"
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 ||
        { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }
}

stop_all() {
    local name
    stop_pid haproxy
    for name in "$CLUSTER_DIR"/pids/replica-*.pid; do
        [[ -e $name ]] && stop_pid "$(basename "$name" .pid)"
    done
    stop_pid weed
    stop_db
}

up() {
    local services_only=0 created
    case ${1:-} in
        --services-only) services_only=1 ;;
        "") ;;
        *) die "up takes --services-only or nothing" ;;
    esac
    REPLICAS=${REPLICAS:-2}
    BLOBS=${BLOBS:-s3}
    STORE=${STORE:-postgresql}
    [[ $REPLICAS =~ ^[1-9][0-9]*$ ]] || die "REPLICAS must be a positive number"
    [[ $BLOBS == s3 || $BLOBS == db ]] || die "BLOBS must be s3 or db"
    [[ $STORE == postgresql || $STORE == sqlite ]] || die "STORE must be postgresql or sqlite"
    [[ -x $CAMSERVE ]] || die "$CAMSERVE is missing: make a venv first (make test does)"
    install_missing "$services_only"

    if [[ -n ${CLUSTER_DIR:-} ]]; then
        mkdir -p "$CLUSTER_DIR"
        [[ -z $(ls -A "$CLUSTER_DIR") ]] || die "CLUSTER_DIR $CLUSTER_DIR is not empty"
        CLUSTER_DIR=$(cd "$CLUSTER_DIR" && pwd)
    else
        CLUSTER_DIR=$(mktemp -d /tmp/camserve-cluster.XXXXXX)
    fi
    [[ $CLUSTER_DIR =~ ^[A-Za-z0-9_./-]+$ ]] || die "CLUSTER_DIR must have no spaces or special characters"
    export CLUSTER_DIR
    # As root, the postgres user must pass through to its data directory inside.
    chmod 0711 "$CLUSTER_DIR"
    if ((EUID == 0)) && ! runuser -u postgres -- test -x "$CLUSTER_DIR"; then
        die "the postgres user cannot reach $CLUSTER_DIR: choose a CLUSTER_DIR under /tmp"
    fi
    mkdir -p "$CLUSTER_DIR/logs" "$CLUSTER_DIR/pids"
    trap 'stop_all; say "left $CLUSTER_DIR for its logs; scripts/cluster.sh down removes it" >&2' EXIT
    trap 'exit 1' INT TERM HUP  # so that a signal, too, stops what was started

    local ports
    ports=$(free_ports 3)
    read -r free_lb free_pg free_s3 <<<"$ports"
    LB_PORT=${LB_PORT:-$free_lb} PG_PORT=${PG_PORT:-$free_pg} S3_PORT=${S3_PORT:-$free_s3}
    record CLUSTER_DIR "$CLUSTER_DIR"
    record CLUSTER_STORE "$STORE"
    record CAMSERVE_RUNTIME_CACHE_DIR "${CAMSERVE_RUNTIME_CACHE_DIR:-$CLUSTER_DIR/runtime-choice}"
    record CAMSERVE_ONNX_CACHE_DIR "${CAMSERVE_ONNX_CACHE_DIR:-$CLUSTER_DIR/onnx}"

    created=$SECONDS
    init_db
    start_s3
    if ((!services_only)); then
        start_replicas
        start_balancer
    fi
    trap - EXIT INT TERM HUP
    say "up in $((SECONDS - created)) s: CLUSTER_DIR=$CLUSTER_DIR"
    say "environment: $CLUSTER_DIR/cluster.env"
}

down() {
    local keep=0
    case ${1:-} in
        --keep) keep=1 ;;
        "") ;;
        *) die "down takes --keep or nothing" ;;
    esac
    load_env
    stop_all
    if ((keep)); then
        say "stopped; kept $CLUSTER_DIR"
    else
        rm -rf "$CLUSTER_DIR"
        say "stopped and removed $CLUSTER_DIR"
    fi
}

status() {  # every process up started, alive or not, and each /readyz; 1 when any has stopped
    local name names=(postgres weed) n pid stopped=0 url
    load_env
    if [[ -n ${CLUSTER_REPLICAS:-} ]]; then
        for n in $(seq "$CLUSTER_REPLICAS"); do names+=("replica-$n"); done
        names+=(haproxy)
    fi
    for name in "${names[@]}"; do
        pid=$(pid_of "$name")
        if [[ -n $pid ]] && ours "$pid"; then
            say "$name: PID $pid running"
        else
            say "$name: not running"
            stopped=1
        fi
    done
    for url in $(compgen -A variable | grep -E '^CLUSTER_(REPLICA_[0-9]+_URL|URL)$' | sort); do
        say "${!url}/readyz: $(curl --silent --max-time 5 --output /dev/null --write-out '%{http_code}' \
            "${!url}/readyz" || true)"
    done
    return "$stopped"
}

replica_number() {
    [[ ${1:-} =~ ^[1-9][0-9]*$ ]] || die "name a replica by its number, from 1"
    echo "$1"
}

command=${1:-}
shift || true
case $command in
    up) up "$@" ;;
    down) down "$@" ;;
    status) status ;;
    stop-db)
        load_env
        stop_db
        say "PostgreSQL stopped"
        ;;
    start-db)
        load_env
        start_db
        say "PostgreSQL started (PID $(pid_of postgres))"
        ;;
    restart-db)
        load_env
        stop_db
        start_db
        say "PostgreSQL restarted (PID $(pid_of postgres))"
        ;;
    kill-replica)
        n=$(replica_number "${1:-}")
        load_env
        stop_pid "replica-$n" KILL
        say "replica $n killed"
        ;;
    start-replica)
        n=$(replica_number "${1:-}")
        load_env
        ! ours "$(pid_of "replica-$n")" || die "replica $n is running"
        start_replica "$n"
        wait_replica "$n"
        ;;
    *)
        sed -n '/^# Usage/,/^# Every/p' "$0" >&2
        exit 2
        ;;
esac
