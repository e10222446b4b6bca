"""HAProxy in front of the replicas, configured from scripts/haproxy.cfg.template."""

from pathlib import Path

from scripts.cluster import processes
from scripts.cluster.cluster_dir import ClusterDir
from scripts.cluster.network import HOST, http_ok
from scripts.cluster.processes import say, wait_until
from scripts.cluster.replicas import name as replica_name
from scripts.cluster.tools import haproxy

NAME = "haproxy"
TEMPLATE = Path(__file__).resolve().parents[1] / "haproxy.cfg.template"


def configuration(cluster: ClusterDir, port: int) -> str:
    """The template with the balancer's port, and one server line per replica appended to its last backend."""
    text = TEMPLATE.read_text().replace("@LB_PORT@", str(port))
    for number in range(1, cluster.replicas + 1):
        text += f"    server {replica_name(number)} {HOST}:{cluster.env[f'CLUSTER_REPLICA_{number}_PORT']} check\n"
    return text


def start(cluster: ClusterDir, port: int) -> None:
    """HAProxy on ``port``, until the balancer's /readyz says 200 (some replica is ready behind it)."""
    config = cluster.path / "haproxy.cfg"
    config.write_text(configuration(cluster, port))
    log = cluster.log(NAME)
    processes.run("HAProxy refused its configuration", [haproxy(), "-c", "-q", "-f", str(config)], log)
    balancer = processes.start(
        [haproxy(), "-db", "-f", str(config)], log, cluster.pid_file(NAME), cluster.child_environment()
    )
    url = f"http://{HOST}:{port}"
    cluster.record("CLUSTER_LB_PORT", port)
    cluster.record("CLUSTER_URL", url)
    wait_until("HAProxy", balancer, log, lambda: http_ok(f"{url}/readyz"))
    say(f"HAProxy at {url} (PID {balancer.pid})")
