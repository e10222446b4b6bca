"""Hardware facts read from Linux's own files, without torch."""

from pathlib import Path

import pytest

from camserve.models.selection import hardware


@pytest.fixture(autouse=True)
def fresh_caches() -> None:
    hardware.cpu_flags.cache_clear()
    hardware.cpu_model_name.cache_clear()
    hardware.cuda_available.cache_clear()


def test_cpu_flags_are_read_from_cpuinfo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: Test CPU\nflags\t\t: fpu avx2 amx_tile avx512_bf16\n\n")
    monkeypatch.setattr(hardware, "CPUINFO", cpuinfo)
    assert hardware.cpu_flags() == {"fpu", "avx2", "amx_tile", "avx512_bf16"}
    assert hardware.cpu_has_amx()
    assert hardware.cpu_model_name() == "Test CPU"


def test_no_amx_without_the_flag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("flags\t\t: fpu avx2 avx512_bf16 avx512_vnni\n")
    monkeypatch.setattr(hardware, "CPUINFO", cpuinfo)
    assert not hardware.cpu_has_amx()


def test_no_cpuinfo_means_no_flags(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hardware, "CPUINFO", tmp_path / "absent")
    assert hardware.cpu_flags() == frozenset()
    assert hardware.cpu_model_name() == ""


def test_no_nvidia_driver_means_no_cuda(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hardware, "NVIDIA_DRIVER", tmp_path / "absent")
    assert not hardware.cuda_available()


# The CPU quota a container's cgroup sets caps the thread pools, on cgroup v2 and v1, at any depth.


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_v2_quota_in_the_processs_own_cgroup(tmp_path: Path) -> None:
    write(tmp_path / "proc-cgroup", "0::/kubepods/pod1/container\n")
    write(tmp_path / "fs" / "kubepods" / "pod1" / "container" / "cpu.max", "max 100000\n")
    write(tmp_path / "fs" / "kubepods" / "pod1" / "cpu.max", "250000 100000\n")  # the pod's limit, one level up
    assert hardware.cpu_quota(tmp_path / "fs", tmp_path / "proc-cgroup") == 2.5


def test_v2_quota_at_a_containers_mounted_root(tmp_path: Path) -> None:
    write(tmp_path / "proc-cgroup", "0::/\n")
    write(tmp_path / "fs" / "cpu.max", "150000 100000\n")
    assert hardware.cpu_quota(tmp_path / "fs", tmp_path / "proc-cgroup") == 1.5


def test_v1_quota_under_the_cpu_controller(tmp_path: Path) -> None:
    write(tmp_path / "proc-cgroup", "4:memory:/docker/abc\n3:cpu,cpuacct:/docker/abc\n")
    write(tmp_path / "fs" / "cpu" / "docker" / "abc" / "cpu.cfs_quota_us", "300000\n")
    write(tmp_path / "fs" / "cpu" / "docker" / "abc" / "cpu.cfs_period_us", "100000\n")
    assert hardware.cpu_quota(tmp_path / "fs", tmp_path / "proc-cgroup") == 3.0


@pytest.mark.parametrize(("v2", "v1"), [("max 100000\n", None), (None, "-1\n"), (None, None)])
def test_no_limit_is_none(tmp_path: Path, v2: str | None, v1: str | None) -> None:
    write(tmp_path / "proc-cgroup", "0::/\n1:cpu:/\n")
    if v2:
        write(tmp_path / "fs" / "cpu.max", v2)
    if v1:
        write(tmp_path / "fs" / "cpu" / "cpu.cfs_quota_us", v1)
        write(tmp_path / "fs" / "cpu" / "cpu.cfs_period_us", "100000\n")
    assert hardware.cpu_quota(tmp_path / "fs", tmp_path / "proc-cgroup") is None
    assert hardware.cpu_quota(tmp_path / "nowhere", tmp_path / "no-such-file") is None


@pytest.mark.parametrize(("quota", "expected"), [(None, 8), (2.0, 2), (2.5, 2), (0.5, 1), (64.0, 8)])
def test_usable_cores_is_the_affinity_capped_by_the_quota_rounded_down(
    monkeypatch: pytest.MonkeyPatch, quota: float | None, expected: int
) -> None:
    monkeypatch.setattr(hardware.os, "sched_getaffinity", lambda _pid: set(range(8)))
    monkeypatch.setattr(hardware, "cpu_quota", lambda: quota)
    assert hardware.usable_cores() == expected
