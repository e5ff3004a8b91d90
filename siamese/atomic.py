"""Atomic artefact writes: a temporary file in the target's folder, fsync, then ``os.replace``.

A crash or Ctrl-C during the write leaves the previous file (if any) untouched and no half file.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def stage(path: Path, write) -> str:
    """A temporary file beside ``path`` holding what ``write(file_object)`` wrote, fsync'd, with the
    permissions a plain ``open`` would give (``0o666`` less the umask, not ``mkstemp``'s ``0o600``).
    Returns its name; on a failure it is removed and the error raised."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return tmp


def atomic_write_many(files: dict[Path, bytes]) -> None:
    """Write several files (one or more) so that none is replaced before all are fully written.

    Every file is first written to a temporary file beside it (``stage``); only then are they
    renamed into place, one after the other. A failure while writing leaves every previous file
    untouched and no temporary file behind.
    """
    staged: list[tuple[str, Path]] = []
    try:
        for path, data in files.items():
            path = Path(path)
            staged.append((stage(path, lambda f, data=data: f.write(data)), path))
        for tmp, path in staged:
            os.replace(tmp, path)
    except BaseException:
        for tmp, _ in staged:
            Path(tmp).unlink(missing_ok=True)
        raise


def atomic_save(path: Path, write) -> None:
    """Write one file through ``write(file_object)`` atomically: into a temporary file beside ``path``
    (fsync'd), then renamed over it. A failure (a full disk, a kill) leaves the previous file whole
    and no temporary file behind (a kill can leave one, which the next run of the writer replaces)."""
    path = Path(path)
    commit(stage(path, write), path)


def commit(tmp: str, path: Path) -> None:
    """Rename the staged file ``tmp`` (``stage``) to ``path``; on a failure it is removed and the error raised."""
    try:
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def json_bytes(obj) -> bytes:
    return (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode()


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()
