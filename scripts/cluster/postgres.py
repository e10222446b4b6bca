"""PostgreSQL for the cluster: a throwaway server of its own, run in the foreground so that its recorded PID is
the postmaster's, and stopped by signalling that PID as pg_ctl would."""

import secrets
import shutil
import signal
import subprocess

import psycopg
from psycopg import sql

from scripts.cluster import processes
from scripts.cluster.cluster_dir import ClusterDir
from scripts.cluster.network import HOST
from scripts.cluster.processes import ClusterError, run, say, wait_until
from scripts.cluster.tools import require_postgres_bin, running_as_root

NAME = "postgres"
# PostgreSQL refuses to run as root: as root, its programs run as this user.
SYSTEM_USER = "postgres"


def _user() -> str | None:
    return SYSTEM_USER if running_as_root() else None


def check_reachable(cluster: ClusterDir) -> None:
    """As root, the postgres user must pass through the cluster dir to the data dir inside."""
    if not running_as_root():
        return
    command = ["test", "-x", str(cluster.path)]
    if subprocess.run(command, check=False, user=SYSTEM_USER, group=SYSTEM_USER, extra_groups=[]).returncode:
        raise ClusterError(f"the postgres user cannot reach {cluster.path}: choose a CLUSTER_DIR under /tmp")


def init(cluster: ClusterDir, port: int) -> None:
    """A new database cluster with the role and database "camserve", started; their URL in cluster.env.

    Local (socket) connections are trusted: the socket's directory admits its owner only. TCP needs a password.
    """
    bin_dir = require_postgres_bin()
    pg_dir = cluster.path / "pg"
    socket_dir = pg_dir / "socket"
    data = pg_dir / "data"
    socket_dir.mkdir(parents=True)
    if running_as_root():
        for path in (pg_dir, socket_dir):
            shutil.chown(path, SYSTEM_USER, SYSTEM_USER)
    pg_dir.chmod(0o700)
    log = cluster.log("initdb")
    initdb = [str(bin_dir / "initdb"), "--pgdata", str(data), "--username", "postgres", "--auth-local", "trust"]
    initdb += ["--auth-host", "scram-sha-256", "--encoding", "UTF8", "--no-locale"]
    run("initdb", initdb, log, user=_user())
    with (data / "postgresql.conf").open("a") as conf:
        conf.write(
            f"listen_addresses = '{HOST}'\nport = {port}\nunix_socket_directories = '{socket_dir}'\n"
            "fsync = on\nsynchronous_commit = on\nfull_page_writes = on\n"
        )
    cluster.record("CLUSTER_PG_PORT", port)
    cluster.record("CLUSTER_PG_DATA", data)
    cluster.record("CLUSTER_PG_SOCKET_DIR", socket_dir)
    start(cluster)
    password = secrets.token_hex(16)
    try:
        with psycopg.connect(host=str(socket_dir), port=port, user="postgres", dbname="postgres") as admin:
            admin.autocommit = True
            role = sql.SQL("CREATE ROLE camserve LOGIN CREATEDB PASSWORD {}").format(sql.Literal(password))
            admin.execute(role)
            admin.execute("CREATE DATABASE camserve OWNER camserve")
    except psycopg.Error as error:
        raise ClusterError(f"creating the camserve role and database: {error}", cluster.log(NAME)) from error
    cluster.record("CAMSERVE_STORE_URL", f"postgresql://camserve:{password}@{HOST}:{port}/camserve")
    say(f"PostgreSQL on {HOST}:{port} (PID {cluster.recorded_pid(NAME)})")


def start(cluster: ClusterDir) -> None:
    """The server on its recorded data dir and port, until it accepts connections over TCP."""
    bin_dir = require_postgres_bin()
    log = cluster.log(NAME)
    command = [str(bin_dir / "postgres"), "-D", cluster.env["CLUSTER_PG_DATA"]]
    server = processes.start(command, log, cluster.pid_file(NAME), cluster.child_environment(), user=_user())
    is_ready = [str(bin_dir / "pg_isready"), "--quiet", "--host", HOST, "--port", cluster.env["CLUSTER_PG_PORT"]]
    wait_until("PostgreSQL", server, log, lambda: subprocess.run(is_ready, check=False).returncode == 0)


def stop(cluster: ClusterDir) -> None:
    """A fast shutdown (sessions cut, then a checkpoint): SIGINT, as ``pg_ctl stop --mode fast`` sends."""
    cluster.stop(NAME, signal.SIGINT)
