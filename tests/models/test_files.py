"""atomic_write: the new file replaces the old one whole, or not at all; file_sha256 names a file's bytes."""

import hashlib
from pathlib import Path

import pytest

from camserve.models.files import atomic_write, file_sha256


def test_the_written_file_replaces_the_old_one(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "state.json"
    with atomic_write(path) as staged:
        staged.write_text("first")
    with atomic_write(path) as staged:
        assert path.read_text() == "first"  # untouched while the new one is written
        staged.write_text("second")
    assert path.read_text() == "second"
    assert [p.name for p in path.parent.iterdir()] == ["state.json"]  # no staging left behind


def test_a_failed_write_leaves_the_old_file_and_no_debris(tmp_path: Path) -> None:
    path = tmp_path / "weights.safetensors"
    path.write_text("old")
    with pytest.raises(RuntimeError, match="disk on fire"), atomic_write(path) as staged:
        staged.write_text("half")
        raise RuntimeError("disk on fire")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["weights.safetensors"]


def test_file_sha256_is_the_digest_of_the_bytes_and_follows_rewrites(tmp_path: Path) -> None:
    path = tmp_path / "weights.bin"
    path.write_bytes(b"first")
    assert file_sha256(path) == hashlib.sha256(b"first").hexdigest()
    path.write_bytes(b"second, longer")
    assert file_sha256(path) == hashlib.sha256(b"second, longer").hexdigest()
