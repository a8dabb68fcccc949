"""`VideoWriter`: stream RGB frames into an ffmpeg subprocess that encodes H.264.

Convention: ``write(frame)`` takes ``uint8`` ``(H, W, 3)`` RGB frames of exactly
``meta.height x meta.width`` (the displayed orientation, stored pixels; frames
come out of `VideoReader` that way). The output keeps

* **timing**: frame ``i`` gets presentation time ``meta.start_time +
  meta.timestamps[i]`` (exact per-frame timestamps, so VFR input stays VFR; frames
  beyond ``len(meta.timestamps)`` continue at ``meta.fps``). Raw frames reach
  ffmpeg inside a minimal Matroska stream written here (rawvideo, one cluster per
  frame, nanosecond timestamps + block durations), because a plain rawvideo pipe
  carries no timestamps. ``-copyts`` keeps the original offset between video and
  audio (e.g. video starting 0.85 s after audio stays so);
* **size**: exact ``W x H``. 4:2:0 / 4:2:2 H.264 cannot code an odd width or height
  (and SPS cropping works in 2-pixel units), so odd sizes are encoded as
  ``yuv444p`` (High 4:4:4 profile: exact size and colours, less universally
  playable) instead of padding or cropping;
* **pixel aspect**: ``setsar`` = ``meta.sar``; rotation is already applied to the
  pixels, so the file carries no rotation flag;
* **audio**: the first audio stream of ``audio_from`` copied untouched, or
  re-encoded to AAC when its codec cannot go into the output container.

The file appears atomically: ffmpeg writes ``.<name>.partial<ext>`` in the same
directory, renamed over ``path`` only after ffmpeg succeeded; any exception (or a
killed encode) leaves no file at ``path`` and the partial file is removed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections import deque
from fractions import Fraction
from pathlib import Path

import ffmpeg as ffmpeg_py
import numpy as np

from stitchtime.config import EncodeConfig
from stitchtime.errors import BackendError, InputError, VideoError
from stitchtime.io.ffmpeg import STDERR_TAIL_LINES, ffmpeg_exe, has_encoder, last_error_line
from stitchtime.io.paths import partial_path, same_file, writer_of
from stitchtime.io.probe import audio_codec_of
from stitchtime.types import VideoMeta

#: Audio codecs the MP4/MOV muxer takes as they are (others are re-encoded to AAC).
MP4_AUDIO_CODECS = frozenset({"aac", "mp3", "alac", "ac3", "eac3", "opus", "flac"})
MP4_SUFFIXES = frozenset({".mp4", ".m4v", ".mov"})
#: Containers an H.264 output can go in (checked before any work: ``check_video_output``).
VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v", ".mkv")


def check_video_output(path: Path) -> None:
    """Refuse, before any work, an output whose container cannot hold the H.264 stream we write."""
    suffix = Path(path).suffix.lower()
    if suffix not in VIDEO_SUFFIXES:
        what = f"'{suffix}'" if suffix else "no extension"
        raise InputError(f"{path}: {what} is not a container for the H.264 output; use {', '.join(VIDEO_SUFFIXES)}")


#: Fallback audio codec when the original cannot be copied into the container.
FALLBACK_AUDIO_CODEC = "aac"
#: Pixel formats with subsampled chroma that need even sizes, and the exact-size substitute.
SUBSAMPLED_PIX_FMTS = frozenset({"yuv420p", "yuvj420p", "yuv422p", "nv12", "yuv420p10le", "yuv422p10le"})
ODD_SIZE_PIX_FMT = "yuv444p"
#: Encoder time base / mp4 track timescale (ticks per second): exact for 24/25/30/29.97/60 fps and 1 ms clocks.
TRACK_TIMESCALE = 90000
NS_PER_S = 1_000_000_000


# --- minimal Matroska (EBML) writer: rawvideo RGB24 frames with exact timestamps -----------


def _vint_size(n: int) -> bytes:
    for length in range(1, 9):
        if n < (1 << (7 * length)) - 1:
            return ((1 << (7 * length)) | n).to_bytes(length, "big")
    raise ValueError(f"EBML element too large: {n} bytes")


def _element(element_id: int, payload: bytes) -> bytes:
    return element_id.to_bytes((element_id.bit_length() + 7) // 8, "big") + _vint_size(len(payload)) + payload


def _uint(element_id: int, value: int) -> bytes:
    return _element(element_id, value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big"))


def _mkv_header(width: int, height: int) -> bytes:
    ebml = _element(
        0x1A45DFA3,
        _uint(0x4286, 1)
        + _uint(0x42F7, 1)
        + _uint(0x42F2, 4)
        + _uint(0x42F3, 8)
        + _element(0x4282, b"matroska")
        + _uint(0x4287, 4)
        + _uint(0x4285, 2),
    )
    segment_unknown_size = bytes.fromhex("1853806701FFFFFFFFFFFFFF")
    info = _element(0x1549A966, _uint(0x2AD7B1, 1) + _element(0x4D80, b"stitchtime") + _element(0x5741, b"stitchtime"))
    video = _element(0xE0, _uint(0xB0, width) + _uint(0xBA, height) + _element(0x2EB524, b"RGB\x18"))
    track = _element(
        0xAE,
        _uint(0xD7, 1) + _uint(0x73C5, 1) + _uint(0x83, 1) + _element(0x86, b"V_UNCOMPRESSED") + _uint(0x9C, 0) + video,
    )
    return ebml + segment_unknown_size + info + _element(0x1654AE6B, track)


def _mkv_frame_prefix(pts_ns: int, duration_ns: int, frame_bytes: int) -> bytes:
    """Cluster{Timestamp, BlockGroup{BlockDuration, Block(track 1, +0, no lacing)}} up to the pixels."""
    block_head = b"\x81\x00\x00\x00"
    block_len = len(block_head) + frame_bytes
    duration = _uint(0x9B, duration_ns)
    block = b"\xa1" + _vint_size(block_len) + block_head
    group_len = len(block) + frame_bytes + len(duration)
    timestamp = _uint(0xE7, pts_ns)
    # BlockDuration goes before the Block (EBML children may come in any order) so the
    # pixels can follow this prefix directly.
    group = b"\xa0" + _vint_size(group_len) + duration + block
    cluster_len = len(timestamp) + len(group) + frame_bytes
    return bytes.fromhex("1F43B675") + _vint_size(cluster_len) + timestamp + group


class VideoWriter:
    """``with VideoWriter(out, meta, EncodeConfig(), audio_from=src) as w: w.write(frame)``."""

    def __init__(
        self,
        path: str | os.PathLike,
        meta: VideoMeta,
        config: EncodeConfig = EncodeConfig(),
        overwrite: bool = False,
        audio_from: str | os.PathLike | None = None,
    ):
        self.path = Path(path)
        self.meta = meta
        self.config = config
        self.audio_from = Path(audio_from) if audio_from is not None else None
        self.frames_written = 0
        self._check_paths(overwrite)
        if not has_encoder(config.codec):
            raise BackendError(f"this ffmpeg ({ffmpeg_exe()}) has no '{config.codec}' encoder")
        self.partial = partial_path(self.path)  # unique to this process (two runs never share one)
        self._proc: subprocess.Popen | None = None
        self._stderr: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
        self._stderr_thread: threading.Thread | None = None
        self._frame_bytes = meta.width * meta.height * 3

    def _check_paths(self, overwrite: bool) -> None:
        if self.path.is_dir():
            raise InputError(f"{self.path}: is a directory, expected an output video file")
        if self.path.exists() and not overwrite:
            raise InputError(f"{self.path}: already exists (pass overwrite to replace it)")
        parent = self.path.parent
        if not parent.is_dir():
            raise InputError(f"{parent}: output directory does not exist")
        if not os.access(parent, os.W_OK | os.X_OK):
            raise InputError(f"{parent}: output directory is not writable")
        if self.audio_from is not None and not self.audio_from.is_file():
            raise InputError(f"{self.audio_from}: audio source not found")
        if self.audio_from is not None and same_file(self.path, self.audio_from):
            raise InputError(f"{self.path}: this output would replace an input; choose another path")
        pid = writer_of(self.path)
        if pid is not None:
            raise InputError(f"{self.path}: another stitchtime process (pid {pid}) is writing it now")

    @property
    def pix_fmt(self) -> str:
        """The pixel format used: the config's, or yuv444p for odd sizes it cannot code."""
        odd = self.meta.width % 2 or self.meta.height % 2
        return ODD_SIZE_PIX_FMT if odd and self.config.pix_fmt in SUBSAMPLED_PIX_FMTS else self.config.pix_fmt

    def _audio_codec(self) -> str | None:
        if self.audio_from is None:
            return None
        if self.audio_from.resolve() == Path(self.meta.path).resolve():
            codec = self.meta.audio_codec
        else:
            codec = audio_codec_of(self.audio_from)
        if codec is None:
            return None
        copyable = self.path.suffix.lower() not in MP4_SUFFIXES or codec in MP4_AUDIO_CODECS
        return "copy" if copyable else FALLBACK_AUDIO_CODEC

    def _command(self) -> list[str]:
        sar = Fraction(self.meta.sar)
        video = ffmpeg_py.input("pipe:", format="matroska").video.filter("setsar", f"{sar.numerator}/{sar.denominator}")
        streams = [video]
        opts: dict = {
            "c:v": self.config.codec,
            "crf": self.config.crf,
            "preset": self.config.preset.value,
            "pix_fmt": self.pix_fmt,
            "fps_mode": "passthrough",
            # Without this the encoder time base is 1/(guessed frame rate) and VFR / offset
            # timestamps get rounded to it (15 ms off on the hamilton clip).
            "enc_time_base:v": f"1/{TRACK_TIMESCALE}",
        }
        audio_codec = self._audio_codec()
        if audio_codec is not None:
            streams.append(ffmpeg_py.input(str(self.audio_from))["a:0"])
            opts["c:a"] = audio_codec
        if self.path.suffix.lower() in MP4_SUFFIXES:
            opts["video_track_timescale"] = TRACK_TIMESCALE
            opts["movflags"] = "+faststart"
        out = ffmpeg_py.output(*streams, str(self.partial), **opts)
        return out.global_args("-hide_banner", "-nostdin", "-nostats", "-loglevel", "error", "-copyts", "-y").compile(
            cmd=ffmpeg_exe()
        )

    def _drain_stderr(self) -> None:
        assert self._proc is not None and self._proc.stderr is not None
        for line in iter(self._proc.stderr.readline, b""):
            self._stderr.append(line.decode("utf-8", errors="replace"))

    def _fail(self, what: str) -> VideoError:
        if self._stderr_thread is not None:
            self._stderr_thread.join(timeout=5)
        text = "".join(self._stderr)
        rc = self._proc.returncode if self._proc is not None else None
        if "No space left" in text or "Disk quota" in text:
            why = f"the disk is full ({self.path.parent})"
        elif rc is not None and rc in (-signal.SIGXFSZ, 128 + signal.SIGXFSZ) or "File too large" in text:
            why = "the disk is full or the file size limit was reached (ulimit -f)"
        else:
            why = last_error_line(text) if text else "no message"
        return VideoError(f"{self.path.name}: {what}: {why}; nothing was written")

    def __enter__(self) -> VideoWriter:
        self._proc = subprocess.Popen(
            self._command(), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        self._stderr_thread = threading.Thread(target=self._drain_stderr, daemon=True)
        self._stderr_thread.start()
        self._send(_mkv_header(self.meta.width, self.meta.height))
        return self

    def _send(self, data: bytes | memoryview) -> None:
        assert self._proc is not None and self._proc.stdin is not None
        try:
            self._proc.stdin.write(data)
        except (BrokenPipeError, OSError):
            self._proc.wait()
            raise self._fail("ffmpeg stopped while encoding") from None

    def _frame_time(self, i: int) -> tuple[int, int]:
        """(pts, duration) of frame ``i`` in ns, on the source's clock (start offset included)."""
        ts, n = self.meta.timestamps, len(self.meta.timestamps)
        step = 1.0 / self.meta.fps
        t = ts[i] if i < n else (ts[-1] if n else -step) + (i - n + 1) * step
        if i + 1 < n:
            nxt = ts[i + 1]
        elif i + 1 == n:
            nxt = self.meta.duration
        else:
            nxt = t + step
        pts = round((self.meta.start_time + t) * NS_PER_S)
        return pts, max(1, round((self.meta.start_time + nxt) * NS_PER_S) - pts)

    def write(self, frame: np.ndarray) -> None:
        """Append one ``uint8 (H, W, 3)`` RGB frame."""
        if self._proc is None:
            raise RuntimeError("VideoWriter.write() outside its `with` block")
        want = (self.meta.height, self.meta.width, 3)
        if frame.shape != want or frame.dtype != np.uint8:
            raise ValueError(f"expected a uint8 frame of shape {want}, got {frame.dtype} {frame.shape}")
        pts, dur = self._frame_time(self.frames_written)
        self._send(_mkv_frame_prefix(pts, dur, self._frame_bytes))
        self._send(memoryview(np.ascontiguousarray(frame)).cast("B"))
        self.frames_written += 1

    def _discard(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None:
                proc.kill()
            if proc.stdin is not None:
                try:
                    proc.stdin.close()
                except OSError:
                    pass
            proc.wait()
        self.partial.unlink(missing_ok=True)

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self._discard()
            return
        proc = self._proc
        assert proc is not None and proc.stdin is not None
        try:
            proc.stdin.close()
        except OSError:
            pass
        rc = proc.wait()
        if self._stderr_thread is not None:
            self._stderr_thread.join(timeout=5)
        if rc != 0 or self.frames_written == 0:
            err = self._fail("encoding failed" if self.frames_written else "no frames were written")
            self._discard()
            raise err
        self._proc = None
        os.replace(self.partial, self.path)
