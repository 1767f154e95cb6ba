"""Write-once blob storage under the model store (and, later, the document store).

`BlobStore` is the seam: the filesystem store is the default; an S3-compatible store only
has to implement the same three operations. Keys are ``/``-separated relative paths.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path, PurePosixPath
from typing import Protocol

__all__ = ["BlobStore", "FileBlobStore"]


class BlobStore(Protocol):
    """Write-once storage of byte strings by key."""

    def put_if_absent(self, key: str, data: bytes) -> bool:
        """Store ``data`` under ``key`` unless the key exists; True if this call wrote it.

        Atomic: a reader never sees a partly written blob, and of two concurrent writers
        exactly one wins.
        """
        ...

    def get(self, key: str) -> bytes:
        """The bytes stored under ``key``; `KeyError` if there are none."""
        ...

    def list(self, prefix: str) -> list[str]:
        """Every key under ``prefix`` (a folder-like prefix ending in ``/``), sorted."""
        ...


class FileBlobStore:
    """A `BlobStore` in a directory; the default under ``niva dev``'s data directory."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        parts = PurePosixPath(key).parts
        if not parts or key.startswith("/") or any(p in ("..", ".") for p in parts):
            raise ValueError(f"invalid store key {key!r}")
        return self.root.joinpath(*parts)

    def put_if_absent(self, key: str, data: bytes) -> bool:
        """Write via a temporary file and a hard link, which fails if the key exists."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            try:
                os.link(tmp, path)
            except FileExistsError:
                return False
            return True
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)

    def get(self, key: str) -> bytes:
        """Read the blob; `KeyError` names the key when it is missing."""
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise KeyError(key) from None

    def list(self, prefix: str) -> list[str]:
        """Keys below ``prefix``, skipping temporary files of writes in progress."""
        base = self._path(prefix.rstrip("/")) if prefix.strip("/") else self.root
        if not base.is_dir():
            return []
        keys = [
            p.relative_to(self.root).as_posix()
            for p in base.rglob("*")
            if p.is_file() and not p.name.startswith(".tmp-")
        ]
        return sorted(keys)
