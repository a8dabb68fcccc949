"""Output-path rules shared by every command: never overwrite without permission, never
leave anything half-written (write to a temporary sibling, rename at the end)."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from stitchtime.errors import InputError


def check_output_path(path: Path, overwrite: bool = False) -> None:
    """Refuse an existing output (unless ``overwrite``) or an unwritable parent, before any work."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise InputError(f"{path}: already exists (use --overwrite to replace it)")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, expected a file path")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.exists():
        raise InputError(f"{parent}: output directory does not exist")
    if not os.access(parent, os.W_OK):
        raise InputError(f"{parent}: output directory is not writable")


@contextlib.contextmanager
def atomic_directory(path: Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary directory beside ``path``; on success it replaces ``path``, on error it
    is removed (``path`` untouched)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError(f"{path}: exists and is not a directory")
    if path.exists() and any(path.iterdir()) and not overwrite:
        raise InputError(f"{path}: directory exists and is not empty (use --overwrite to replace it)")
    parent = path.parent if str(path.parent) else Path(".")
    parent.mkdir(parents=True, exist_ok=True)
    if not os.access(parent, os.W_OK):
        raise InputError(f"{parent}: output directory is not writable")
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".partial", dir=parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if path.exists():
        shutil.rmtree(path)
    os.replace(tmp, path)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary sibling and a rename."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
