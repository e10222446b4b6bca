"""The cluster directory: its cluster.env, which callers read, and where each piece keeps its log and PID."""

import os
import re
import signal
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from scripts.cluster.processes import ClusterError, recorded_pid, stop_recorded

# Values go unquoted into cluster.env, which callers may source in a shell.
_PLAIN_VALUE = re.compile(r"^[^\s\"'`$\\]*$")
_PLAIN_PATH = re.compile(r"^[A-Za-z0-9_./-]+$")


def read_env(path: Path) -> dict[str, str]:
    """KEY=value lines, split on the first "="."""
    lines = path.read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line)


@dataclass
class ClusterDir:
    """A cluster's directory and what its cluster.env holds so far."""

    path: Path
    env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def create(cls, requested: str | None) -> "ClusterDir":
        """``requested`` (made if absent, refused unless empty), else a new directory under /tmp: /tmp, not a
        private temporary dir, since as root PostgreSQL runs as the postgres user, who must pass through."""
        if requested:
            path = Path(requested).resolve()
            path.mkdir(parents=True, exist_ok=True)
            if any(path.iterdir()):
                raise ClusterError(f"CLUSTER_DIR {path} is not empty")
        else:
            path = Path(tempfile.mkdtemp(prefix="camserve-cluster.", dir="/tmp"))
        if not _PLAIN_PATH.match(str(path)):
            raise ClusterError("CLUSTER_DIR must have no spaces or special characters")
        path.chmod(0o711)
        for part in ("logs", "pids"):
            (path / part).mkdir()
        return cls(path)

    @classmethod
    def load(cls) -> "ClusterDir":
        """The cluster that CLUSTER_DIR names, as ``up`` left it."""
        requested = os.environ.get("CLUSTER_DIR")
        if not requested:
            raise ClusterError("set CLUSTER_DIR to the directory 'up' printed")
        path = Path(requested)
        env_file = path / "cluster.env"
        if not env_file.is_file() or env_file.stat().st_size == 0:
            raise ClusterError(f"{env_file} is missing: not a cluster dir")
        return cls(path, read_env(env_file))

    def record(self, key: str, value: str | int | Path) -> None:
        """One KEY=value line more in cluster.env."""
        text = str(value)
        if not _PLAIN_VALUE.match(text):
            raise ClusterError(f"{key} must have no spaces, quotes, $ or \\: {text}")
        with (self.path / "cluster.env").open("a") as env_file:
            env_file.write(f"{key}={text}\n")
        self.env[key] = text

    def log(self, name: str) -> Path:
        return self.path / "logs" / f"{name}.log"

    def pid_file(self, name: str) -> Path:
        return self.path / "pids" / f"{name}.pid"

    def recorded_pid(self, name: str) -> int | None:
        return recorded_pid(self.pid_file(name))

    def stop(self, name: str, signal_number: int = signal.SIGTERM) -> None:
        """The process recorded as ``name``, by its PID, if it is still this cluster's."""
        stop_recorded(name, self.pid_file(name), self.path, signal_number)

    def child_environment(self) -> dict[str, str]:
        """What every process of the cluster runs with: the caller's environment and cluster.env. CLUSTER_DIR in
        it is how ``owned`` tells the cluster's processes from others that reuse a recorded PID."""
        return {**os.environ, **self.env, "CLUSTER_DIR": str(self.path)}

    @property
    def replicas(self) -> int:
        return int(self.env.get("CLUSTER_REPLICAS", "0"))
