"""Output-path rules shared by every command: never overwrite without permission, never write
over a file the command reads (resolved, symlinks and hard links included), never delete a folder
stitchtime did not make, never leave anything half-written (write to a temporary sibling that
names its process, rename at the end), and refuse an output another live process is writing."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import secrets
import shutil
import socket
import tempfile
import time
from pathlib import Path
from typing import Iterable, Iterator

from stitchtime.errors import InputError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# Files and folders get the modes any tool gives them (mkstemp/mkdtemp would leave 0600/0700).
FILE_MODE = 0o666 & ~_umask()
DIR_MODE = 0o777 & ~_umask()

# A folder stitchtime made (``align``) holds this file; ``--overwrite`` replaces only such folders.
FOLDER_MARK = ".stitchtime-output"
_PARTIAL = re.compile(r"\.partial-([0-9a-f]{8})-(\d+)-\w+")
HOST = socket.gethostname()
_HOST_TAG = hashlib.sha1(HOST.encode()).hexdigest()[:8]  # (a host name may hold any character)
NAME_MAX = 255  # bytes in one path component (ext4, XFS, APFS, NTFS)
# Another host's temporary file (or claim) untouched for this long is taken to be abandoned.
STALE_S = 60.0


def loop_in(path: Path) -> Path | None:
    """The first part of ``path`` that is a symbolic link loop (``ln -s a b; ln -s b a``, or a chain
    of more links than the system follows: ELOOP), or None when there is none."""
    try:
        os.stat(path)
        return None
    except OSError as err:
        if err.errno != errno.ELOOP:
            return None
    path = Path(path)
    for part in [*reversed(path.parents), path]:
        try:
            os.stat(part)
        except OSError as err:
            if err.errno == errno.ELOOP:
                return part
    return path


def check_not_a_loop(path: Path, label: str = "") -> None:
    """Refuse, with one line, a path that is or goes through a symbolic link loop: it names no file
    and never will (``Path.resolve`` raises a RuntimeError there, ``exists()`` says False)."""
    loop = loop_in(path)
    if loop is None:
        return
    path = Path(path)
    what = "is a symbolic link loop" if loop == path else f"goes through a symbolic link loop ({loop})"
    raise InputError(f"{label + ' ' if label else ''}{path}: {what}; its links lead to each other, never to a file")


def real_path(path: Path) -> Path:
    """``path`` with every symbolic link resolved (where it exists); never raises, a loop is left as it is."""
    return Path(os.path.realpath(path))


def same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one file: the same inode (hard links, symlinks) or the same
    resolved path (when one does not exist yet)."""
    a, b = Path(a), Path(b)
    with contextlib.suppress(OSError):
        return os.path.samefile(a, b)
    return real_path(a) == real_path(b)


def partial_path(path: Path) -> Path:
    """A temporary sibling of ``path`` unique to this process: ``.NAME.partial-HOST-PID-TOKEN.SUFFIX``
    (HOST: 8 hex digits of the host name's hash)."""
    path = Path(path)
    return path.with_name(f".{path.stem}.{_partial_tag()}{secrets.token_hex(4)}{path.suffix}")


def _partial_tag() -> str:
    return f"partial-{_HOST_TAG}-{os.getpid()}-"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True


def partial_owner(path: Path) -> int | None:
    """The pid a temporary file from :func:`partial_path` names, or None (not one of ours)."""
    m = _PARTIAL.search(Path(path).name)
    return int(m.group(2)) if m else None


def partial_alive(path: Path) -> bool:
    """Whether the process that writes temporary file ``path`` may still be at it: on this host,
    its pid is alive; from another host, the file changed within :data:`STALE_S`."""
    m = _PARTIAL.search(Path(path).name)
    if m is None:
        return False
    if m.group(1) == _HOST_TAG:
        return int(m.group(2)) != os.getpid() and pid_alive(int(m.group(2)))
    with contextlib.suppress(OSError):
        return time.time() - Path(path).stat().st_mtime < STALE_S
    return False


def writer_of(path: Path) -> int | None:
    """The pid of a live process writing ``path`` now (its temporary sibling exists), or None."""
    path = Path(path)
    for p in path.parent.glob(f".{path.stem}.partial-*{path.suffix}"):
        if partial_alive(p):
            return partial_owner(p)
    return None


def check_output_path(path: Path, overwrite: bool = False, inputs: Iterable[Path] = ()) -> None:
    """Refuse, before any work: an output that is one of ``inputs``, an existing output (unless
    ``overwrite``), one another live process is writing, or an unwritable parent."""
    path = Path(path)
    check_not_a_loop(path)
    for src in inputs:
        if same_file(path, src):
            raise InputError(f"{path}: this output would replace an input ({src}); choose another path")
    longest = len(partial_path(path).name.encode())  # the temporary sibling's name is the longest we write
    if longest > NAME_MAX:
        room = NAME_MAX - (longest - len(path.name.encode()))
        raise InputError(
            f"{path.name[:40]}...: file name too long ({len(path.name.encode())} bytes; at most {room} here)"
        )
    if path.exists() and not overwrite:
        raise InputError(f"{path}: already exists (use --overwrite to replace it)")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, expected a file path")
    if path.exists() and not path.is_file():
        raise InputError(f"{path}: not a regular file (a device, pipe or socket); choose a file path")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.exists():
        raise InputError(f"{parent}: output directory does not exist")
    if not os.access(parent, os.W_OK):
        raise InputError(f"{parent}: output directory is not writable")
    pid = writer_of(path)
    if pid is not None:
        raise InputError(f"{path}: another stitchtime process (pid {pid}) is writing it now")


def check_output_dir(path: Path, overwrite: bool = False, inputs: Iterable[Path] = ()) -> None:
    """Refuse, before any work, an output folder that is not new or empty (unless ``overwrite``
    and stitchtime made it: it holds :data:`FOLDER_MARK`) or that holds any of ``inputs``."""
    path = Path(path)
    check_not_a_loop(path)
    if path.exists() and not path.is_dir():
        raise InputError(f"{path}: exists and is not a directory")
    for src in inputs:
        if real_path(src).is_relative_to(real_path(path)):
            raise InputError(f"{path}: the output folder holds an input ({src}); choose another folder")
    if path.exists() and any(path.iterdir()):
        if not overwrite:
            raise InputError(f"{path}: directory exists and is not empty (use --overwrite to replace it)")
        if not (path / FOLDER_MARK).is_file():
            raise InputError(f"{path}: not a folder stitchtime made; --overwrite replaces only those (choose another)")
    parent = path.parent if str(path.parent) else Path(".")
    if parent.exists() and not os.access(parent, os.W_OK):
        raise InputError(f"{parent}: output directory is not writable")


@contextlib.contextmanager
def atomic_directory(path: Path, overwrite: bool = False, inputs: Iterable[Path] = ()) -> Iterator[Path]:
    """Yield a temporary directory beside ``path`` (after :func:`check_output_dir`); on success it
    replaces ``path``, on error it is removed (``path`` untouched)."""
    path = Path(path)
    check_output_dir(path, overwrite, inputs)
    parent = path.parent if str(path.parent) else Path(".")
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.{_partial_tag()}", dir=parent))
    os.chmod(tmp, DIR_MODE)
    try:
        (tmp / FOLDER_MARK).write_text("made by stitchtime; --overwrite may replace this folder\n")
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
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{_partial_tag()}", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
