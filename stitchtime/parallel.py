"""Concurrency helpers of the video passes: work produced ahead on a background thread, and
forked worker processes (where the platform has ``fork``: the workers inherit loaded models)."""

from __future__ import annotations

import multiprocessing
import queue
import threading
from concurrent.futures import ProcessPoolExecutor
from typing import Iterator, TypeVar

import torch

T = TypeVar("T")
_END = object()


def can_fork() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


def fork_pool(workers: int) -> ProcessPoolExecutor:
    """A pool of ``workers`` forked processes (callers check :func:`can_fork`)."""
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"))


def prefetch(items: Iterator[T], depth: int = 1) -> Iterator[T]:
    """``items``, produced ahead on a background thread (the decode and the crop warps release
    the GIL, so they overlap the editor's work). At most ``depth`` items wait, one more is being
    made: with groups of frames that is the memory it costs (16 frames of 4K are 400 MB).
    Errors are raised here; leaving early stops the producer and closes ``items``."""
    q: queue.Queue = queue.Queue(depth)
    stop = threading.Event()
    threads = torch.get_num_threads()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        torch.set_num_threads(threads)  # OpenMP's thread count is per thread: match the caller's
        try:
            for item in items:
                if not put(item):
                    break
            else:
                put(_END)
        except BaseException as err:  # noqa: BLE001 - handed to the consumer
            put(err)
        finally:
            close = getattr(items, "close", None)  # a generator's; a plain iterator has none
            if close is not None:
                close()

    worker = threading.Thread(target=produce, name="prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item = q.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join()
