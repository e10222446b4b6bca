"""The harness's commands (see the package's docstring): ``python -m scripts.cluster COMMAND``."""

import argparse
import os
import shutil
import signal
import sys
import time
from types import FrameType

from scripts.cluster import haproxy, postgres, processes, replicas, seaweedfs
from scripts.cluster.cluster_dir import ClusterDir
from scripts.cluster.network import free_ports, http_status
from scripts.cluster.processes import ClusterError, say, warn
from scripts.cluster.tools import install_missing, venv_program


def main(arguments: list[str] | None = None) -> int:
    parser = _parser()
    options = parser.parse_args(arguments)
    try:
        return int(options.command(options) or 0)
    except ClusterError as error:
        print(error.report(), file=sys.stderr, flush=True)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.cluster", description="A local camserve cluster on 127.0.0.1."
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")
    up_command = commands.add_parser("up", help="start it; prints its CLUSTER_DIR")
    up_command.add_argument("--services-only", action="store_true", help="PostgreSQL and S3 alone")
    up_command.set_defaults(command=up)
    down_command = commands.add_parser("down", help="stop all it started and remove its dir")
    down_command.add_argument("--keep", action="store_true", help="keep the dir")
    down_command.set_defaults(command=down)
    commands.add_parser("status", help="each process alive or not, each /readyz").set_defaults(command=status)
    commands.add_parser("stop-db", help="stop PostgreSQL").set_defaults(command=stop_db)
    commands.add_parser("start-db", help="start PostgreSQL again").set_defaults(command=start_db)
    commands.add_parser("restart-db", help="stop PostgreSQL and start it again").set_defaults(command=restart_db)
    for name, command, action in (
        ("kill-replica", kill_replica, "SIGKILL replica N"),
        ("start-replica", start_replica, "start replica N again and wait for /readyz"),
    ):
        replica_command = commands.add_parser(name, help=action)
        replica_command.add_argument("number", type=_replica_number, metavar="N", help="from 1")
        replica_command.set_defaults(command=command)
    return parser


def _replica_number(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError("name a replica by its number, from 1")
    return int(text)


def _choice(name: str, default: str, allowed: tuple[str, ...]) -> str:
    value = os.environ.get(name, default)
    if value not in allowed:
        raise ClusterError(f"{name} must be {' or '.join(allowed)}")
    return value


def _port(name: str, free: int) -> int:
    return int(os.environ.get(name) or free)


def _replica_ports(count: int) -> list[int]:
    named = os.environ.get("REPLICA_PORTS", "").split()
    if not named:
        return free_ports(count)
    if len(named) != count:
        raise ClusterError(f"REPLICA_PORTS names {len(named)} ports for {count} replicas")
    return [int(port) for port in named]


def _exit_on_signal(number: int, frame: FrameType | None) -> None:
    raise SystemExit(1)


def up(options: argparse.Namespace) -> int:
    count = os.environ.get("REPLICAS", "2")
    if not count.isdigit() or int(count) < 1:
        raise ClusterError("REPLICAS must be a positive number")
    blobs = _choice("BLOBS", "s3", ("s3", "db"))
    store = _choice("STORE", "postgresql", ("postgresql", "sqlite"))
    venv_program("camserve")
    install_missing(options.services_only)
    cluster = ClusterDir.create(os.environ.get("CLUSTER_DIR"))
    # A signal, too, stops what was started.
    for number in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(number, _exit_on_signal)
    started = time.monotonic()
    try:
        postgres.check_reachable(cluster)
        free_lb, free_pg, free_s3 = free_ports(3)
        cluster.record("CLUSTER_DIR", cluster.path)
        cluster.record("CLUSTER_STORE", store)
        cache_dir = os.environ.get("CAMSERVE_RUNTIME_CACHE_DIR") or cluster.path / "runtime-choice"
        cluster.record("CAMSERVE_RUNTIME_CACHE_DIR", cache_dir)
        cluster.record("CAMSERVE_ONNX_CACHE_DIR", os.environ.get("CAMSERVE_ONNX_CACHE_DIR") or cluster.path / "onnx")
        postgres.init(cluster, _port("PG_PORT", free_pg))
        seaweedfs.start(cluster, _port("S3_PORT", free_s3), blobs_in_s3=blobs == "s3")
        if not options.services_only:
            replicas.record(cluster, _replica_ports(int(count)))
            replicas.start_all(cluster)
            haproxy.start(cluster, _port("LB_PORT", free_lb))
    except BaseException as failure:
        if isinstance(failure, ClusterError):
            print(failure.report(), file=sys.stderr, flush=True)
        _stop_all(cluster)
        warn(f"left {cluster.path} for its logs; python -m scripts.cluster down removes it")
        if isinstance(failure, ClusterError):
            return 1
        raise
    say(f"up in {time.monotonic() - started:.0f} s: CLUSTER_DIR={cluster.path}")
    say(f"environment: {cluster.path / 'cluster.env'}")
    return 0


def _stop_all(cluster: ClusterDir) -> None:
    """The balancer first, the database last, so that nothing running loses what it depends on."""
    cluster.stop(haproxy.NAME)
    for pid_file in sorted((cluster.path / "pids").glob("replica-*.pid")):
        cluster.stop(pid_file.stem)
    cluster.stop(seaweedfs.NAME)
    postgres.stop(cluster)


def down(options: argparse.Namespace) -> int:
    cluster = ClusterDir.load()
    _stop_all(cluster)
    if options.keep:
        say(f"stopped; kept {cluster.path}")
    else:
        shutil.rmtree(cluster.path)
        say(f"stopped and removed {cluster.path}")
    return 0


def status(options: argparse.Namespace) -> int:
    """Every process up started, running or not, and each /readyz; 1 when any has stopped."""
    cluster = ClusterDir.load()
    names = [postgres.NAME, seaweedfs.NAME]
    if cluster.replicas:
        names += [replicas.name(number) for number in range(1, cluster.replicas + 1)] + [haproxy.NAME]
    stopped = False
    for name in names:
        process = processes.owned(cluster.recorded_pid(name), cluster.path)
        say(f"{name}: PID {process.pid} running" if process else f"{name}: not running")
        stopped = stopped or process is None
    urls = [cluster.env[f"CLUSTER_REPLICA_{number}_URL"] for number in range(1, cluster.replicas + 1)]
    for url in [*urls, *([cluster.env["CLUSTER_URL"]] if "CLUSTER_URL" in cluster.env else [])]:
        say(f"{url}/readyz: {http_status(f'{url}/readyz') or 'no answer'}")
    return 1 if stopped else 0


def stop_db(options: argparse.Namespace) -> int:
    postgres.stop(ClusterDir.load())
    say("PostgreSQL stopped")
    return 0


def start_db(options: argparse.Namespace) -> int:
    cluster = ClusterDir.load()
    postgres.start(cluster)
    say(f"PostgreSQL started (PID {cluster.recorded_pid(postgres.NAME)})")
    return 0


def restart_db(options: argparse.Namespace) -> int:
    cluster = ClusterDir.load()
    postgres.stop(cluster)
    postgres.start(cluster)
    say(f"PostgreSQL restarted (PID {cluster.recorded_pid(postgres.NAME)})")
    return 0


def kill_replica(options: argparse.Namespace) -> int:
    cluster = ClusterDir.load()
    cluster.stop(replicas.name(options.number), signal.SIGKILL)
    say(f"replica {options.number} killed")
    return 0


def start_replica(options: argparse.Namespace) -> int:
    cluster = ClusterDir.load()
    name = replicas.name(options.number)
    if processes.owned(cluster.recorded_pid(name), cluster.path) is not None:
        raise ClusterError(f"replica {options.number} is running")
    replicas.start(cluster, options.number)
    return 0


if __name__ == "__main__":
    sys.exit(main())
