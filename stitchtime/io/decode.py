"""`VideoReader`: stream decoded frames from an ffmpeg subprocess.

Convention: frames are ``uint8`` numpy arrays ``(H, W, 3)`` in RGB order, one
per decoded frame (``-fps_mode passthrough``: no duplication or dropping, so a
VFR file yields each stored frame once, exactly ``meta.n_frames`` of them),
rotation metadata applied (H, W are the displayed orientation), pixels as stored
(non-square pixels are *not* resampled; ``meta.sar`` describes them). Memory is
bounded: one frame is read from the pipe at a time.
"""

from __future__ import annotations

import os
import subprocess
import threading
from collections import deque
from collections.abc import Iterator
from pathlib import Path

import ffmpeg as ffmpeg_py
import numpy as np

from stitchtime.errors import InputError, VideoError
from stitchtime.io.ffmpeg import STDERR_TAIL_LINES, ffmpeg_exe, last_error_line
from stitchtime.io.probe import VIDEO_STREAM, probe
from stitchtime.types import VideoMeta

#: Bytes of decoded RGB frames ffmpeg may run ahead of the reader (the pipe buffer).
PIPE_BUFFER_FRAMES = 4


class VideoReader:
    """Iterate a video's frames; ``with VideoReader(p) as r: for f in r: ...``.

    ``start`` / ``stop`` select frames ``[start, stop)`` by index (stop None: to
    the end). ``start`` seeks by the frame's timestamp (fast, decodes from the
    preceding keyframe); the yielded count is always ``stop - start``.
    """

    def __init__(self, path: str | os.PathLike, meta: VideoMeta | None = None, start: int = 0, stop: int | None = None):
        self._proc: subprocess.Popen | None = None
        self._stderr_thread: threading.Thread | None = None
        self.path = Path(path)
        self.meta = meta if meta is not None else probe(self.path)
        n = self.meta.n_frames
        stop = n if stop is None else stop
        if not 0 <= start <= stop <= n:
            raise InputError(f"frame range [{start}, {stop}) outside the video's {n} frames")
        self.start, self.stop = start, stop
        self._stderr: deque[str] = deque(maxlen=STDERR_TAIL_LINES)

    def __len__(self) -> int:
        return self.stop - self.start

    def _command(self) -> list[str]:
        input_args = {}
        if self.start > 0:
            # Seek to half a frame before the wanted frame: ffmpeg decodes from the keyframe
            # before and drops frames earlier than this time, so the first frame yielded is `start`.
            ts = self.meta.timestamps
            half = (ts[self.start] - ts[self.start - 1]) / 2
            input_args["ss"] = f"{self.meta.start_time + ts[self.start] - half:.6f}"
        inp = ffmpeg_py.input(str(self.path), **input_args)
        out = ffmpeg_py.output(
            inp[VIDEO_STREAM],
            "pipe:",
            format="rawvideo",
            pix_fmt="rgb24",
            fps_mode="passthrough",
            **{"frames:v": self.stop - self.start},
        )
        args = ["-hide_banner", "-nostdin", "-nostats", "-loglevel", "error"]
        if self.start > 0:
            args.append("-copyts")  # so -ss refers to the stream's own timestamps
        return out.global_args(*args).compile(cmd=ffmpeg_exe())

    def _drain_stderr(self) -> None:
        assert self._proc is not None and self._proc.stderr is not None
        for line in iter(self._proc.stderr.readline, b""):
            self._stderr.append(line.decode("utf-8", errors="replace"))

    def __iter__(self) -> Iterator[np.ndarray]:
        self.close()
        w, h = self.meta.width, self.meta.height
        frame_bytes = w * h * 3
        self._proc = subprocess.Popen(
            self._command(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            bufsize=frame_bytes * PIPE_BUFFER_FRAMES,
        )
        self._stderr_thread = threading.Thread(target=self._drain_stderr, daemon=True)
        self._stderr_thread.start()
        stdout = self._proc.stdout
        assert stdout is not None
        try:
            for _ in range(len(self)):
                frame = np.empty((h, w, 3), np.uint8)
                view = memoryview(frame).cast("B")
                got = 0
                while got < frame_bytes:
                    n = stdout.readinto(view[got:])
                    if not n:
                        break
                    got += n
                if got < frame_bytes:
                    self._proc.wait()
                    self._stderr_thread.join(timeout=1)
                    why = last_error_line("".join(self._stderr)) if self._stderr else "stream ended early"
                    raise VideoError(f"{self.path.name}: decoding stopped before frame {_ + self.start}: {why}")
                yield frame
        finally:
            self.close()

    def close(self) -> None:
        """Stop the ffmpeg subprocess (if running) and release its pipes."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.kill()
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
        proc.wait()
        if self._stderr_thread is not None:
            self._stderr_thread.join(timeout=1)

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()


def read_frames(path: str | os.PathLike) -> tuple[VideoMeta, np.ndarray]:
    """Whole video in memory as ``(T, H, W, 3)`` uint8 — for short clips and tests only."""
    reader = VideoReader(path)
    frames = (
        np.stack(list(reader)) if len(reader) else np.zeros((0, reader.meta.height, reader.meta.width, 3), np.uint8)
    )
    return reader.meta, frames
