"""bench/README.md has a row for every benchmark, and none for a benchmark that is not there."""

import pkgutil
import re
from pathlib import Path

import bench

README = Path(bench.__file__).with_name("README.md")


def benchmarks() -> set[str]:
    """The modules of the package run as ``python -m bench.NAME``: all but the library."""
    return {module.name for module in pkgutil.iter_modules(bench.__path__) if not module.ispkg}


def test_every_benchmark_has_a_row_and_every_row_a_benchmark() -> None:
    rows = set(re.findall(r"^\| `python -m bench\.(\w+)", README.read_text(), flags=re.MULTILINE))

    assert rows == benchmarks()


def test_every_benchmark_says_how_it_is_run() -> None:
    for name in benchmarks():
        source = (README.parent / f"{name}.py").read_text()
        assert f"python -m bench.{name}" in source, f"bench/{name}.py: its docstring and --help say how to run it"
        assert "python bench/" not in source, f"bench/{name}.py still names a script path"
