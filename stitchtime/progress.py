"""Progress of the passes over a video: bars on stderr (when asked for), and listeners.

A listener (``with listen(fn):``) is called as ``fn(desc, done, total)`` after each item of every
pass this process runs while it is registered, bars on or off: the web UI shows the pipeline's own
progress this way. Listeners are process-wide (the passes run on prefetch threads).
"""

from __future__ import annotations

import contextlib
import threading
from typing import Callable, Iterable, Iterator, TypeVar

from tqdm import tqdm

T = TypeVar("T")
Listener = Callable[[str, int, int], None]

_listeners: list[Listener] = []
_lock = threading.Lock()


@contextlib.contextmanager
def listen(fn: Listener) -> Iterator[None]:
    with _lock:
        _listeners.append(fn)
    try:
        yield
    finally:
        with _lock:
            _listeners.remove(fn)


def _reporting(items: Iterable[T], total: int, desc: str) -> Iterator[T]:
    for done, item in enumerate(items, 1):
        yield item
        with _lock:
            listeners = list(_listeners)
        for fn in listeners:
            fn(desc, done, total)


def bar(items: Iterable[T], total: int, desc: str, enabled: bool, unit: str = "frame") -> Iterable[T]:
    shown = tqdm(items, total=total, desc=desc, unit=unit, leave=False, disable=not enabled, dynamic_ncols=True)
    return _reporting(shown, total, desc) if _listeners else shown
