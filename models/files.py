"""Whole-or-nothing file writes: a kill at any moment leaves the old file or the new one, never half of one."""

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
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
