"""Whole-or-nothing file writes: a kill at any moment leaves the old file or the new one, never half of one."""

import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path


@contextmanager
def atomic_write(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; write it in the block, and it replaces ``path`` on success.

    The staged file is flushed to disk before the rename, and the rename is atomic on one file system; on an
    error the staged file is removed and ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=f".{path.name}.") as staging:
        staged = Path(staging) / path.name
        yield staged
        with staged.open("rb") as written:
            os.fsync(written.fileno())
        os.replace(staged, path)


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes, read once per version of the file: start-up names the weights by their
    digest in several places (the export, the gate record, auto's timings), and a checkpoint is tens of MB.
    A rewritten file has a new size or modification time, so it is read again."""
    stat = Path(path).stat()
    return _sha256_of(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=32)
def _sha256_of(path: str, size: int, mtime_ns: int) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
