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

from stitchtime.errors import BackendError

#: How many trailing stderr lines of a failed ffmpeg run we keep for the error message.
STDERR_TAIL_LINES = 40


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


@functools.lru_cache(maxsize=None)
def has_encoder(name: str) -> bool:
    """True when this ffmpeg build has the encoder ``name`` (e.g. ``libx264``)."""
    out = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-encoders"], capture_output=True, text=True, check=False
    ).stdout
    return any(line.split()[1:2] == [name] for line in out.splitlines() if line.strip())


def last_error_line(stderr: str) -> str:
    """The most telling line of ffmpeg's stderr: the last non-empty one, tags stripped."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    if not lines:
        return "ffmpeg failed without a message"
    return re.sub(r"^(\[[^\]]*\]\s*)+", "", lines[-1]) or lines[-1]
