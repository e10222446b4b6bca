"""The camserve replicas: ``camserve serve`` on loopback ports of their own, with the cluster's settings."""

import subprocess

from scripts.cluster import processes
from scripts.cluster.cluster_dir import ClusterDir
from scripts.cluster.network import HOST, http_ok
from scripts.cluster.processes import ClusterError, say, wait_until
from scripts.cluster.tools import venv_program


def name(number: int) -> str:
    return f"replica-{number}"


def record(cluster: ClusterDir, ports: list[int]) -> None:
    cluster.record("CLUSTER_REPLICAS", len(ports))
    for number, port in enumerate(ports, start=1):
        cluster.record(f"CLUSTER_REPLICA_{number}_PORT", port)
        cluster.record(f"CLUSTER_REPLICA_{number}_URL", f"http://{HOST}:{port}")


def start_all(cluster: ClusterDir) -> None:
    """Replica 1 alone first: it times the runtimes once for all (the cache dir is shared) and migrates the
    schema; then the others together."""
    start(cluster, 1)
    others = range(2, cluster.replicas + 1)
    waiting = [(number, _launch(cluster, number)) for number in others]
    for number, replica in waiting:
        _wait(cluster, number, replica)


def start(cluster: ClusterDir, number: int) -> None:
    """Replica ``number`` on its recorded port, until its /readyz says 200."""
    _wait(cluster, number, _launch(cluster, number))


def _launch(cluster: ClusterDir, number: int) -> subprocess.Popen[bytes]:
    port = cluster.env.get(f"CLUSTER_REPLICA_{number}_PORT")
    if port is None:
        raise ClusterError(f"no replica {number} in this cluster")
    env = cluster.child_environment()
    if cluster.env["CLUSTER_STORE"] == "sqlite":  # a store of its own: no shared database or bucket
        del env["CAMSERVE_STORE_URL"]
        env.pop("CAMSERVE_BLOB_URL", None)
        env["CAMSERVE_STORE_PATH"] = str(cluster.path / f"{name(number)}.sqlite3")
    command = [str(venv_program("camserve")), "serve", "--host", HOST, "--port", port]
    return processes.start(command, cluster.log(name(number)), cluster.pid_file(name(number)), env)


def _wait(cluster: ClusterDir, number: int, replica: subprocess.Popen[bytes]) -> None:
    url = cluster.env[f"CLUSTER_REPLICA_{number}_URL"]
    wait_until(f"replica {number}", replica, cluster.log(name(number)), lambda: http_ok(f"{url}/readyz"))
    say(f"replica {number} ready at {url} (PID {replica.pid})")
