"""The memory limit the default budget is derived from: the container's (cgroup v2 or v1), else the machine's."""

import os
from pathlib import Path

import pytest

from camserve.service.container_memory import memory_limit_bytes

PHYSICAL = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
MIB = 1024 * 1024


def fake(tmp_path: Path, proc_lines: str, files: dict[str, str]) -> tuple[Path, Path]:
    proc = tmp_path / "proc-self-cgroup"
    proc.write_text(proc_lines)
    root = tmp_path / "cgroup"
    for relative, text in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text)
    return proc, root


@pytest.mark.parametrize(
    ("proc_lines", "files"),
    [
        ("0::/\n", {"memory.max": f"{1536 * MIB}\n"}),  # v2 in its own cgroup namespace
        ("0::/kubepods/pod1/c1\n", {"kubepods/pod1/c1/memory.max": f"{1536 * MIB}\n"}),  # v2, the host's view
        ("4:memory:/docker/abc\n0::/\n", {"memory/docker/abc/memory.limit_in_bytes": f"{1536 * MIB}\n"}),  # v1
        ("4:memory:/docker/abc\n", {"memory/memory.limit_in_bytes": f"{1536 * MIB}\n"}),  # v1, namespaced
    ],
)
def test_the_container_limit_is_read_from_either_cgroup_version(
    tmp_path: Path, proc_lines: str, files: dict[str, str]
) -> None:
    proc, root = fake(tmp_path, proc_lines, files)
    assert memory_limit_bytes(proc, root) == min(1536 * MIB, PHYSICAL)


@pytest.mark.parametrize(
    ("proc_lines", "files"),
    [
        ("0::/\n", {"memory.max": "max\n"}),  # v2 without a limit
        ("4:memory:/\n", {"memory/memory.limit_in_bytes": "9223372036854771712\n"}),  # v1 without a limit
        ("0::/\n", {}),  # no cgroup files at all
    ],
)
def test_without_a_container_limit_the_machines_memory_is_the_limit(
    tmp_path: Path, proc_lines: str, files: dict[str, str]
) -> None:
    proc, root = fake(tmp_path, proc_lines, files)
    assert memory_limit_bytes(proc, root) == PHYSICAL
