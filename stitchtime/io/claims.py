"""Per-file claims, so several batch runs on one output folder (on one machine, or on several that
share it) edit each file exactly once.

A claim is a small JSON file ``NAME.claim`` created with ``O_CREAT | O_EXCL`` (atomic on local and
NFSv3+ file systems): who owns it (pid, host) and since when. While the owner works, a heartbeat
thread touches it every :data:`HEARTBEAT_S` seconds. Another run takes a claim over only when its
owner is dead: on the same host, the pid is gone; on another host, the heartbeat is older than
:data:`STALE_S`. Taking over renames the stale claim first (only one of several racers can), then
creates a fresh one.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from stitchtime.io.paths import HOST, STALE_S, pid_alive

HEARTBEAT_S = 5.0


@dataclass(frozen=True)
class Owner:
    pid: int
    host: str

    def alive(self, heartbeat_age: float) -> bool:
        if self.host == HOST:
            return pid_alive(self.pid)
        return heartbeat_age < STALE_S


def read_owner(path: Path) -> tuple[Owner, float] | None:
    """The owner of claim ``path`` and the age of its heartbeat (s), or None if there is no claim."""
    try:
        record = json.loads(Path(path).read_text() or "{}")
        age = time.time() - Path(path).stat().st_mtime
    except (OSError, ValueError):
        return None
    return Owner(int(record.get("pid", -1)), str(record.get("host", ""))), age


def _create(path: Path) -> bool:
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as f:
        json.dump({"pid": os.getpid(), "host": HOST, "since": time.time()}, f)
    return True


def try_claim(path: Path) -> Owner | None:
    """Claim ``path`` for this process. Returns None when it is ours now, else the live owner."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(3):  # (a racer may create or take over between our steps)
        if _create(path):
            return None
        found = read_owner(path)
        if found is None:
            continue  # released meanwhile
        owner, age = found
        if owner.alive(age):
            return owner
        stale = path.with_name(f"{path.name}.stale-{os.getpid()}")
        with contextlib.suppress(FileNotFoundError):
            os.rename(path, stale)  # only one racer wins this rename
            stale.unlink(missing_ok=True)
    found = read_owner(path)
    return found[0] if found is not None else Owner(-1, "unknown")  # lost every race: someone has it


def release(path: Path) -> None:
    """Give up a claim this process holds (a claim of another owner is left alone)."""
    found = read_owner(path)
    if found is not None and found[0] == Owner(os.getpid(), HOST):
        Path(path).unlink(missing_ok=True)


@contextlib.contextmanager
def heartbeat(path: Path, every: float = HEARTBEAT_S) -> Iterator[None]:
    """Keep touching claim ``path`` while the block runs (so other hosts see the owner working)."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(every):
            with contextlib.suppress(OSError):
                os.utime(path)

    thread = threading.Thread(target=beat, name="claim-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
