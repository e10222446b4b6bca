"""Hardware facts read from Linux's own files, without torch."""

from pathlib import Path

import pytest

from camserve.models import hardware


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
