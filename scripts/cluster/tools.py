"""The programs the cluster runs: PostgreSQL's and HAProxy from the system (installed with apt where missing, as
root), camserve and weed from the venv."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

from scripts.cluster.processes import ClusterError, say

# haproxy and runuser live here, which some users' PATH leaves out.
_SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])


def running_as_root() -> bool:
    return os.geteuid() == 0


def postgres_bin() -> Path | None:
    """The directory of initdb, postgres and pg_isready: initdb's on PATH, else Debian's newest
    /usr/lib/postgresql/*/bin."""
    initdb = shutil.which("initdb", path=_SEARCH_PATH)
    if initdb is not None:
        return Path(initdb).resolve().parent
    installed = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda path: _version(path.parts[-3]))
    return installed[-1].parent if installed else None


def _version(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in name.split(".") if part.isdigit())


def require_postgres_bin() -> Path:
    directory = postgres_bin()
    if directory is None:
        raise ClusterError("PostgreSQL's initdb and postgres are missing")
    return directory


def haproxy() -> str:
    found = shutil.which("haproxy", path=_SEARCH_PATH)
    if found is None:
        raise ClusterError("haproxy is missing")
    return found


def venv_program(name: str) -> Path:
    """A program of the venv: VENV's, else the running interpreter's."""
    program = Path(os.environ.get("VENV", sys.prefix)) / "bin" / name
    if not program.exists():
        raise ClusterError(f"{program} is missing: make the venv with the test extras (make test does)")
    return program


def install_missing(services_only: bool) -> None:
    """PostgreSQL, and HAProxy unless ``services_only``, with apt where missing; only root may install them."""
    missing = [] if postgres_bin() is not None else ["postgresql"]
    if not services_only and shutil.which("haproxy", path=_SEARCH_PATH) is None:
        missing.append("haproxy")
    if not missing:
        return
    if not running_as_root():
        raise ClusterError(f"missing {' '.join(missing)}: install them, or run as root to have them installed")
    say(f"installing {' '.join(missing)}")
    install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing]
    if subprocess.run(install, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0:
        return
    updated = subprocess.run(["apt-get", "update", "-qq"], check=False).returncode == 0
    if not updated or subprocess.run(install, check=False, stdout=subprocess.DEVNULL).returncode != 0:
        raise ClusterError(f"apt-get could not install {' '.join(missing)}")
