"""Write a file or a folder whole or not at all (a leaf): the one atomic write of the course."""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_path"]


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success it is renamed onto ``target``.

    Write a file, or make and fill a folder, at the yielded path. When the block ends without an
    exception the path replaces ``target`` in one rename (an existing folder ``target`` is removed
    first), so a reader never sees half a file; on an exception it is deleted and ``target`` is
    left as it was. The parent folder is created.

    Args:
        target: the file or folder to write.
        suffix: end of the temporary name, for writers that check it (``".weights.h5"``).

    Yields:
        The temporary path (unique to this call, in the same folder, so the rename is atomic).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp{suffix}"
    try:
        yield tmp
        if tmp.is_dir() and target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
