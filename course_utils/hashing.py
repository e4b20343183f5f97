"""File digests (a leaf): the one place the course hashes a file."""

from __future__ import annotations

import hashlib
import os

__all__ = ["file_hash", "matches"]


def file_hash(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    """Return the hex digest of a file (``"sha256"``, ``"md5"``, any :mod:`hashlib` name).

    Raises:
        OSError: the file cannot be read.
    """
    with open(path, "rb") as f:
        return hashlib.file_digest(f, algorithm).hexdigest()


def matches(path: str | os.PathLike, expected: str) -> bool:
    """True when ``path`` has the published hash ``expected`` (32 hex digits: MD5, else SHA-256).

    Raises:
        OSError: the file cannot be read.
    """
    return file_hash(path, "md5" if len(expected) == 32 else "sha256") == expected.lower()
