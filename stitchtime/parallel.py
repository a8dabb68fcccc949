"""Concurrency helpers of the video passes: work produced ahead on a background thread, and
forked worker processes (where the platform has ``fork``: the workers inherit loaded models)."""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import queue
import signal
import sys
import threading
from concurrent.futures import ProcessPoolExecutor
from typing import Iterator, TypeVar

import cv2
import torch

T = TypeVar("T")
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_END = object()


def can_fork() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


def die_with_parent() -> None:
    """In a worker process: ask the kernel to kill it when its parent dies (Linux
    ``PR_SET_PDEATHSIG``), so a ``kill -9`` of stitchtime leaves no worker behind. Elsewhere a no-op
    (the workers then end when they find their pipe to the parent closed)."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() == 1:  # the parent died before the call: nobody will kill us
        os._exit(1)


def fork_pool(workers: int) -> ProcessPoolExecutor:
    """A pool of ``workers`` forked processes (callers check :func:`can_fork`) that die with this one."""
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"), initializer=die_with_parent)


def spawn_pool(workers: int) -> ProcessPoolExecutor:
    """A pool of ``workers`` fresh interpreters (nothing of this process's state, CUDA included,
    is inherited) that die with this one."""
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), initializer=die_with_parent)


_cv2_lock = threading.Lock()
_cv2_outer: list[int] = []  # OpenCV's thread count before the first cv2_threads() still open


@contextlib.contextmanager
def cv2_threads(n: int) -> Iterator[None]:
    """Run the block with ``n`` OpenCV threads, restored when the last block still open ends
    (OpenCV's count is the process's, shared by every thread). For work spread over threads of
    its own: OpenCV's workers would only spin against them (measured: a head crop's hair paint
    38 -> 22 ms of CPU with 1 instead of 2, on 2 cores)."""
    with _cv2_lock:
        _cv2_outer.append(cv2.getNumThreads())
        cv2.setNumThreads(max(1, n))
    try:
        yield
    finally:
        with _cv2_lock:
            before = _cv2_outer.pop()
            if not _cv2_outer:
                cv2.setNumThreads(before)


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
