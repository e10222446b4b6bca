"""The test cluster (``python -m scripts.cluster``) for the benchmarks that measure camserve beside its backing
services."""

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.lib.paths import REPOSITORY
from scripts.cluster.cluster_dir import read_env

HARNESS = [sys.executable, "-m", "scripts.cluster"]
UP_TIMEOUT_S = 900


@contextmanager
def cluster(*args: str, **env: str) -> Iterator[dict[str, str]]:
    """The harness's ``up ARGS`` with ``env``; its cluster.env (with CLUSTER_DIR); ``down`` afterwards."""
    directory = tempfile.mkdtemp(prefix="camserve-bench-cluster-")
    env = {**env, "CLUSTER_DIR": directory}
    try:
        subprocess.run([*HARNESS, "up", *args], cwd=REPOSITORY, env=_with(env), check=True, timeout=UP_TIMEOUT_S)
        yield read_env(Path(directory) / "cluster.env")
    finally:
        if (Path(directory) / "cluster.env").exists():
            subprocess.run([*HARNESS, "down"], cwd=REPOSITORY, env=_with(env), check=False, timeout=300)


def _with(env: dict[str, str]) -> dict[str, str]:
    return {**os.environ, **env}
