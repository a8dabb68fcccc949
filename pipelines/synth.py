"""Synthetic test clips that need no downloaded data: `make_astronaut_clip`.

The frames are views of ``skimage.data.astronaut()`` (512x512, public domain
NASA photo shipped inside scikit-image) through a smoothly moving virtual camera
(pan, zoom and a slight roll), so the face moves like in a hand-held clip while
staying fully in frame at 40-50 % of the frame height. With ``audio=True`` a
sine tone (ffmpeg's lavfi ``sine`` source) is muxed in, so audio handling can
be tested on a fresh machine.
"""

from __future__ import annotations

import math
import os
import subprocess
import tempfile
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from stitchtime.config import EncodeConfig
from stitchtime.errors import VideoError
from stitchtime.io.encode import VideoWriter
from stitchtime.io.ffmpeg import ffmpeg_exe, last_error_line
from stitchtime.types import VideoMeta

#: Centre of the astronaut's face in the 512x512 source image (x, y), from dlib's box (175,76)-(265,166).
FACE_CENTER = (220.0, 121.0)
#: Side of the source window the camera sees, source pixels; the face box (90 px) is ~45 % of it.
VIEW_SIDE = 200.0
PAN_AMPLITUDE = (14.0, 9.0)  # source pixels, x / y
ZOOM_AMPLITUDE = 0.06  # relative change of the window side
ROLL_DEGREES = 4.0
TONE_HZ = 440


def camera_frame(image: np.ndarray, t: float, seconds: float, size: tuple[int, int]) -> np.ndarray:
    """The view of ``image`` at time ``t`` (s) of a ``seconds``-long smooth camera path."""
    w, h = size
    phase = 2 * math.pi * t / max(seconds, 1e-6)
    cx = FACE_CENTER[0] + PAN_AMPLITUDE[0] * math.sin(phase)
    cy = FACE_CENTER[1] + PAN_AMPLITUDE[1] * math.sin(2 * phase)
    side = VIEW_SIDE * (1 + ZOOM_AMPLITUDE * math.cos(phase))
    angle = ROLL_DEGREES * math.sin(phase + 0.5)
    scale = min(w, h) / side
    m = cv2.getRotationMatrix2D((cx, cy), angle, scale)
    m[:, 2] += np.array([(w - 1) / 2 - cx, (h - 1) / 2 - cy])
    return cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def make_astronaut_clip(
    path: str | os.PathLike,
    seconds: float = 2.0,
    fps: int = 25,
    size: tuple[int, int] = (256, 256),
    audio: bool = True,
    overwrite: bool = True,
) -> Path:
    """Write a ``seconds``-long ``size`` = (width, height) H.264 clip of the astronaut; returns its path."""
    from skimage import data  # the demo and tests need it; imported late so stitchtime does not

    path = Path(path)
    n = max(1, round(seconds * fps))
    meta = VideoMeta.constant_rate(path, size[0], size[1], n, fps, sar=Fraction(1, 1), has_audio=audio)
    image = data.astronaut()
    with tempfile.TemporaryDirectory(dir=path.parent if path.parent.is_dir() else None) as tmp:
        tone = None
        if audio:
            tone = Path(tmp) / "tone.m4a"
            cmd = [
                ffmpeg_exe(),
                "-hide_banner",
                "-nostdin",
                "-loglevel",
                "error",
                "-f",
                "lavfi",
                "-i",
                f"sine=frequency={TONE_HZ}:duration={n / fps}",
                "-c:a",
                "aac",
                str(tone),
            ]
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                raise VideoError(f"could not synthesise the tone: {last_error_line(proc.stderr)}")
        with VideoWriter(path, meta, EncodeConfig(), overwrite=overwrite, audio_from=tone) as writer:
            for i in range(n):
                writer.write(camera_frame(image, i / fps, seconds, size))
    return path
