"""Locate the ffmpeg binary and run it.

The system ``ffmpeg`` on ``PATH`` wins; otherwise the static build shipped by the
``imageio-ffmpeg`` wheel (which has libx264). There is deliberately no ffprobe
dependency: stream facts are read from ``ffmpeg -i`` output (see probe.py).
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
import threading
from collections import deque
from dataclasses import dataclass
from typing import IO

from stitchtime.errors import BackendError

#: How many trailing stderr lines of a failed ffmpeg run we keep for the error message.
STDERR_TAIL_LINES = 40
#: libswscale flags of the YUV -> RGB conversion (`VideoReader`) and of the RGB -> YUV one
#: (`VideoWriter`), read when each builds its command ("": ffmpeg's defaults). ffmpeg's default
#: yuv420p -> rgb24 path rounds with coarse fixed-point coefficients: YUV -> RGB -> YUV with no
#: encoding at all gave luma back at 46.9 dB (d10), capping every round trip near a plain CRF-18
#: re-encode. ``accurate_rnd`` + ``full_chroma_int`` (both: either alone is no better) make it
#: exact to rounding; ``neighbor`` chroma upsampling (each chroma sample on its 2x2 pixels, as
#: ffmpeg's default path did) and ``area`` downsampling (their mean) are inverses, so chroma
#: the edit leaves alone comes back as it was, sharp edges included (bicubic both ways blurs
#: a colour edge twice: 10 levels off on colour bars). YUV -> RGB -> YUV alone: 77 dB luma,
#: 68 dB chroma on d10 (out-of-gamut pixels clip in RGB); BENCHMARKS.md, issue 15.
SWS_DECODE_FLAGS = "neighbor+accurate_rnd+full_chroma_int"
SWS_ENCODE_FLAGS = "area+accurate_rnd"


def drain_stderr(pipe: IO[bytes], sink: deque[str]) -> threading.Thread:
    """Start a daemon thread that reads ``pipe`` (a subprocess's stderr) line by line into
    ``sink`` until EOF, then closes it.

    The thread owns the pipe: nothing else may read or close it. Closing a buffered pipe from
    another thread while this one is inside ``readline()`` frees the buffer under the read
    (CPython: ``ValueError: PyMemoryView_FromBuffer(): info->buf must not be NULL``, or "readline
    of closed file"); to stop it, end the process (EOF) and ``join()`` the thread."""

    def run() -> None:
        try:
            for line in iter(pipe.readline, b""):
                sink.append(line.decode("utf-8", errors="replace"))
        except OSError:  # pragma: no cover - the pipe broke under us: keep what we have
            pass
        finally:
            pipe.close()

    thread = threading.Thread(target=run, name="ffmpeg-stderr", daemon=True)
    thread.start()
    return thread


@functools.lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary: ``ffmpeg`` on PATH, else imageio-ffmpeg's build."""
    found = shutil.which("ffmpeg")
    if found:
        return found
    try:
        import imageio_ffmpeg
    except ImportError as err:  # pragma: no cover - a dependency of the package
        raise BackendError("ffmpeg not found: install ffmpeg or the imageio-ffmpeg package") from err
    try:
        return imageio_ffmpeg.get_ffmpeg_exe()
    except RuntimeError as err:  # pragma: no cover - broken wheel
        raise BackendError(f"ffmpeg not found: {err}") from err


@dataclass(frozen=True)
class Encoder:
    """One line of ``ffmpeg -encoders``: the encoder's name, what it encodes and the codec it writes."""

    name: str
    kind: str  # "video", "audio" or "subtitle"
    codec: str  # the codec id it writes ("hevc" for libx265; its own name when ffmpeg names none)


_ENCODER_RE = re.compile(r"^ ([VAS])[A-Z.]{5} (\S+)\s+(.*)$")
_ENCODER_CODEC_RE = re.compile(r"\(codec (\w+)\)\s*$")
_KINDS = {"V": "video", "A": "audio", "S": "subtitle"}


@functools.lru_cache(maxsize=1)
def encoders() -> dict[str, Encoder]:
    """Every encoder of this ffmpeg build, by name, in ffmpeg's order."""
    out = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-encoders"], capture_output=True, text=True, check=False
    ).stdout
    found: dict[str, Encoder] = {}
    for line in out.splitlines():
        m = _ENCODER_RE.match(line)
        if m and m.group(2) != "=":  # the legend (" V..... = Video") is not an encoder
            codec = _ENCODER_CODEC_RE.search(m.group(3))
            found[m.group(2)] = Encoder(m.group(2), _KINDS[m.group(1)], codec.group(1) if codec else m.group(2))
    return found


def has_encoder(name: str) -> bool:
    """True when this ffmpeg build has the encoder ``name`` (e.g. ``libx264``)."""
    return name in encoders()


@dataclass(frozen=True)
class EncoderHelp:
    """What ``ffmpeg -h encoder=NAME`` says: its pixel formats and its own options (``crf``, ``preset``)."""

    pix_fmts: frozenset[str]
    options: frozenset[str]


_OPTION_RE = re.compile(r"^\s+-([\w-]+)\s+<\w+>")


@functools.lru_cache(maxsize=None)
def encoder_help(name: str) -> EncoderHelp:
    out = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-h", f"encoder={name}"], capture_output=True, text=True, check=False
    ).stdout
    pix_fmts: frozenset[str] = frozenset()
    options = set()
    for line in out.splitlines():
        if line.strip().startswith("Supported pixel formats:"):
            pix_fmts = frozenset(line.split(":", 1)[1].split())
        m = _OPTION_RE.match(line)
        if m:
            options.add(m.group(1))
    return EncoderHelp(pix_fmts, frozenset(options))


def last_error_line(stderr: str) -> str:
    """The most telling line of ffmpeg's stderr: the last non-empty one, tags stripped."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    if not lines:
        return "ffmpeg failed without a message"
    return re.sub(r"^(\[[^\]]*\]\s*)+", "", lines[-1]) or lines[-1]


def first_error_line(stderr: str) -> str:
    """The first non-empty line of ffmpeg's stderr, tags stripped: where one failure (an encoder
    that cannot open) sets off a cascade, the cause (the last line is the cascade's end)."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    if not lines:
        return "ffmpeg failed without a message"
    return re.sub(r"^(\[[^\]]*\]\s*)+", "", lines[0]) or lines[0]
