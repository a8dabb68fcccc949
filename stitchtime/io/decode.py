"""`VideoReader`: stream decoded frames from an ffmpeg subprocess.

Convention: frames are ``uint8`` numpy arrays ``(H, W, 3)`` in RGB order, one
per decoded frame (``-fps_mode passthrough``: no duplication or dropping, so a
VFR file yields each stored frame once, exactly ``meta.n_frames`` of them),
rotation metadata applied (H, W are the displayed orientation), pixels as stored
(non-square pixels are *not* resampled; ``meta.sar`` describes them). Memory is
bounded: one frame is read from the pipe at a time.

Colour: YUV is converted with the stream's own matrix and range (its tags, `colour_of`;
untagged: BT.601 limited, what ffmpeg assumes) and ``SWS_DECODE_FLAGS`` (exact rounding; each
chroma sample on its 2x2 pixels). `VideoWriter` converts back with the same matrix and range,
the inverse chroma filter, and tags its output like the source, so pixels no edit touches come
back as the source's YUV within rounding (YUV -> RGB -> YUV alone: 77 dB luma, 68 dB chroma on
d10; with ffmpeg's default conversions 47 / 62 dB: issue 15, BENCHMARKS.md).
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

import stitchtime.io.ffmpeg as ffmpeg_io
from stitchtime.errors import InputError, VideoError
from stitchtime.io.ffmpeg import STDERR_TAIL_LINES, drain_stderr, ffmpeg_exe, last_error_line
from stitchtime.io.probe import VIDEO_STREAM, Colour, colour_of, probe
from stitchtime.types import VideoMeta

#: Bytes of decoded RGB frames ffmpeg may run ahead of the reader (the pipe buffer).
PIPE_BUFFER_FRAMES = 4
#: How long close() waits for the stderr thread after ffmpeg is gone (EOF is immediate then).
STDERR_JOIN_S = 5.0


def rgb_scale_options(colour: Colour) -> dict[str, str]:
    """The ``scale`` filter's options that turn a ``colour`` stream into RGB: ``SWS_DECODE_FLAGS``,
    the stream's matrix (BT.601 where it has no tag swscale knows, as `VideoWriter` assumes too)
    and its range (untagged: ffmpeg's default for the format, limited; yuvj: full)."""
    opts = {"flags": ffmpeg_io.SWS_DECODE_FLAGS} if ffmpeg_io.SWS_DECODE_FLAGS else {}
    if not colour.rgb:
        opts["in_color_matrix"] = colour.matrix or "bt601"
        if colour.full_range:
            opts["in_range"] = "full"
        elif colour.range == "tv":
            opts["in_range"] = "limited"
    return opts


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
        self.colour: Colour = colour_of(self.path)  # the matrix and range frames are converted with
        self._stderr: deque[str] = deque(maxlen=STDERR_TAIL_LINES)

    def __len__(self) -> int:
        return self.stop - self.start

    def _command(self) -> list[str]:
        input_args = {}
        if self.start > 0:
            # Seek to half a frame before the wanted frame: ffmpeg decodes from the keyframe
            # before and drops frames earlier than this time, so the first frame yielded is `start`.
            # An input -ss is relative to the *file's* start time (ffmpeg adds the earliest stream's
            # start to it, -copyts or not), which is not the video's start when the file has
            # audio starting earlier, or none: a video-only cut whose video starts at 0.85 s was
            # sought 0.85 s too far and ran out of frames ("stream ended early").
            ts = self.meta.timestamps
            half = (ts[self.start] - ts[self.start - 1]) / 2
            file_start = self.meta.file_start_time
            if file_start is None:  # a VideoMeta built by hand: the earliest stream we know of
                audio = self.meta.audio_start_time
                file_start = self.meta.start_time if audio is None else min(self.meta.start_time, audio)
            input_args["ss"] = f"{self.meta.start_time - file_start + ts[self.start] - half:.6f}"
        inp = ffmpeg_py.input(str(self.path), **input_args)
        out = ffmpeg_py.output(
            inp[VIDEO_STREAM].filter("scale", **rgb_scale_options(self.colour)),
            "pipe:",
            format="rawvideo",
            pix_fmt="rgb24",
            fps_mode="passthrough",
            **{"frames:v": self.stop - self.start},
        )
        args = ["-hide_banner", "-nostdin", "-nostats", "-loglevel", "error"]
        if self.start > 0:
            args.append("-copyts")  # keep the stream's own timestamps (the drop before -ss uses them)
        return out.global_args(*args).compile(cmd=ffmpeg_exe())

    def __iter__(self) -> Iterator[np.ndarray]:
        self.close()
        if not len(self):  # an empty range (e.g. start == stop == n_frames): no ffmpeg, no seek
            return
        w, h = self.meta.width, self.meta.height
        frame_bytes = w * h * 3
        self._proc = proc = subprocess.Popen(
            self._command(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            bufsize=frame_bytes * PIPE_BUFFER_FRAMES,
        )
        assert proc.stderr is not None and proc.stdout is not None
        self._stderr = stderr = deque(maxlen=STDERR_TAIL_LINES)  # fresh: an old thread cannot add to it
        self._stderr_thread = thread = drain_stderr(proc.stderr, stderr)  # it owns (and closes) stderr
        stdout = proc.stdout
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
                    proc.wait()
                    thread.join(timeout=STDERR_JOIN_S)
                    why = last_error_line("".join(stderr)) if stderr else "stream ended early"
                    raise VideoError(f"{self.path.name}: decoding stopped before frame {_ + self.start}: {why}")
                yield frame
        finally:
            self.close()

    def close(self) -> None:
        """Stop the ffmpeg subprocess (if running) and release its pipes.

        stdout is read only by the frame generator (this thread); stderr belongs to its drain
        thread, which closes it at EOF: killing ffmpeg gives that EOF, then we join. Closing
        stderr here raced the thread's ``readline()`` (a thread traceback under ``batch --jobs 2``)."""
        proc, self._proc = self._proc, None
        thread, self._stderr_thread = self._stderr_thread, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.kill()
        if proc.stdout is not None:
            proc.stdout.close()
        proc.wait()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=STDERR_JOIN_S)

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
