"""ffmpeg's stderr pipe is read by a drain thread that owns it: no close() from another thread.

``batch --jobs 2`` once printed a thread traceback, ``ValueError: PyMemoryView_FromBuffer():
info->buf must not be NULL``, from `VideoReader`'s stderr thread: ``close()`` closed the
buffered stderr pipe while that thread was between two ``readline()`` calls with unread lines
in the buffer; the close freed the buffer and the next ``readline()`` read into NULL. A clip
that makes ffmpeg write many error lines and many open / read a bit / close cycles hit it in
about one cycle in ten.
"""

from __future__ import annotations

import random
import threading
from pathlib import Path

import numpy as np
import pytest

from pipelines.synth import make_astronaut_clip
from stitchtime.config import EncodeConfig
from stitchtime.errors import VideoError
from stitchtime.io import VideoReader, VideoWriter, probe

CYCLES = 150


@pytest.fixture
def thread_errors(monkeypatch) -> list[str]:
    """Exceptions raised in any thread during the test (they are otherwise only printed)."""
    errors: list[str] = []
    monkeypatch.setattr(threading, "excepthook", lambda a: errors.append(f"{a.exc_type.__name__}: {a.exc_value}"))
    return errors


@pytest.fixture(scope="module")
def noisy(tmp_path_factory) -> Path:
    """A clip damaged after its first frames: ffmpeg writes an error line per broken frame."""
    tmp = tmp_path_factory.mktemp("pipes")
    src = make_astronaut_clip(tmp / "clean.mp4", seconds=4.0, fps=25, size=(128, 128), audio=False)
    data = bytearray(src.read_bytes())
    rng = random.Random(1)
    for _ in range(3000):
        data[rng.randrange(len(data) // 5, len(data))] = rng.randrange(256)
    bad = tmp / "noisy.mp4"
    bad.write_bytes(bytes(data))
    return bad


def test_open_read_close_cycles_leave_no_thread_error(noisy, thread_errors):
    meta = probe(noisy)
    rng = random.Random(0)
    procs, threads = [], []
    for i in range(CYCLES):
        reader = VideoReader(noisy, meta)
        frames = iter(reader)
        try:
            for _ in range(rng.randrange(0, meta.n_frames + 1)):
                next(frames)
        except (StopIteration, VideoError):
            pass
        procs.append(reader._proc)
        threads.append(reader._stderr_thread)
        if i % 2:
            reader.close()
        else:
            frames.close()  # the generator's finally closes the reader (a consumer leaving early)
    assert thread_errors == []
    assert all(p is None or p.poll() is not None for p in procs)  # no ffmpeg left running
    assert not any(t is not None and t.is_alive() for t in threads)  # every drain thread joined


def test_close_right_after_start(noisy, thread_errors):
    """close() before the drain thread has read a byte (the thread starts, ffmpeg is killed)."""
    meta = probe(noisy)
    for _ in range(CYCLES // 3):
        reader = VideoReader(noisy, meta)
        frames = iter(reader)
        next(frames)
        reader.close()
        reader.close()  # twice: a no-op
    assert thread_errors == []


def test_ffmpeg_killed_under_the_reader(noisy, thread_errors):
    """ffmpeg dying mid-stream (OOM killer, kill -9) is one VideoError, no thread traceback."""
    meta = probe(noisy)
    reader = VideoReader(noisy, meta)
    frames = iter(reader)
    next(frames)
    reader._proc.kill()
    with pytest.raises(VideoError, match="decoding stopped before frame"):
        for _ in frames:
            pass
    assert thread_errors == []


def test_decode_error_keeps_ffmpegs_reason(noisy):
    """The drain thread still collects stderr for the error message."""
    meta = probe(noisy)
    # claim more frames than decode: the reader runs dry and says why ffmpeg stopped
    from dataclasses import replace

    more = replace(meta, n_frames=meta.n_frames + 5, timestamps=meta.timestamps + (9.0,) * 5)
    with pytest.raises(VideoError) as err:
        list(VideoReader(noisy, more))
    assert f"before frame {meta.n_frames}" in str(err.value)


def test_writer_cycles_and_failed_start(tmp_path, thread_errors, monkeypatch):
    meta = probe(make_astronaut_clip(tmp_path / "src.mp4", seconds=0.4, fps=25, size=(64, 64), audio=False))
    frame = np.zeros((64, 64, 3), np.uint8)
    out = tmp_path / "out.mp4"
    for i in range(12):
        try:
            with VideoWriter(out, meta, EncodeConfig(), overwrite=True) as w:
                w.write(frame)
                if i % 2:
                    raise KeyboardInterrupt  # discarded mid-write
        except KeyboardInterrupt:
            pass
    assert out.exists() and not list(tmp_path.glob(".*partial*"))

    def broken_send(self, data):
        raise VideoError("ffmpeg stopped at once")

    monkeypatch.setattr(VideoWriter, "_send", broken_send)
    writer = VideoWriter(tmp_path / "never.mp4", meta, EncodeConfig())
    with pytest.raises(VideoError):
        with writer:
            pass  # pragma: no cover - __enter__ raises
    # __exit__ is not called when __enter__ raises: __enter__ itself stops ffmpeg and cleans up
    assert writer._proc is None and not writer._stderr_thread.is_alive()
    assert not (tmp_path / "never.mp4").exists() and not list(tmp_path.glob(".*partial*"))
    assert thread_errors == []
