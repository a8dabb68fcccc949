"""Typed data passed between the pipeline stages.

Conventions used throughout stitchtime:

* Frames are ``uint8`` numpy arrays ``(H, W, 3)`` in **RGB** order, as decoded
  (rotation metadata already applied, so H, W are the displayed orientation in
  stored pixels; non-square pixels are described by ``VideoMeta.sar``).
* Points are ``(x, y)`` in pixel units with pixel centres at integer
  coordinates (the OpenCV / kornia ``align_corners=True`` convention).
* Crop transforms are 2x3 affine matrices mapping **frame -> crop** pixels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from stitchtime.config import MaskConfig


@dataclass(frozen=True)
class VideoMeta:
    """What we know about a video file before decoding its frames."""

    path: Path
    width: int  # decoded frame width (after rotation), stored pixels
    height: int  # decoded frame height (after rotation), stored pixels
    n_frames: int  # frames the decoder will yield
    fps: float  # average rate = n_frames / duration (what a player shows)
    timestamps: tuple[float, ...]  # presentation time of each frame, seconds from stream start 0
    duration: float  # video stream duration, seconds
    start_time: float = 0.0  # video stream start relative to the container (for audio sync)
    sar: Fraction = Fraction(1, 1)  # sample (pixel) aspect ratio
    rotation: int = 0  # degrees from the container's display matrix (applied by decode)
    has_audio: bool = False
    audio_codec: str | None = None
    codec: str = ""
    vfr: bool = False  # True when frame intervals differ by more than a small tolerance
    audio_start_time: float | None = None  # audio stream start when ffmpeg reports one (else container start)
    notes: tuple[str, ...] = ()  # user-facing remarks from probing (e.g. truncated file, frames decoded)
    # the file's start time (ffmpeg's "start:", the earliest stream), which an input -ss is
    # relative to; None: unknown, taken as the earlier of start_time and audio_start_time
    file_start_time: float | None = None

    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height

    @classmethod
    def constant_rate(cls, path: Path, width: int, height: int, n_frames: int, fps: float, **more) -> "VideoMeta":
        """The metadata of a clip about to be written at a constant ``fps`` (synthetic clips, trial
        encodes): frame ``i`` at ``i / fps``; ``more``: the other fields."""
        return cls(
            path=Path(path),
            width=width,
            height=height,
            n_frames=n_frames,
            fps=float(fps),
            timestamps=tuple(i / fps for i in range(n_frames)),
            duration=n_frames / fps,
            **more,
        )


@dataclass
class FaceObservation:
    """One face in one frame: detector box and 68 landmarks, in frame pixels."""

    box: np.ndarray  # (4,) float32: x0, y0, x1, y1
    landmarks: np.ndarray  # (68, 2) float32
    score: float = 1.0


@dataclass
class FaceTrack:
    """One person over a whole video: landmarks per frame (NaN where no face)."""

    landmarks: np.ndarray  # (T, 68, 2) float32, NaN rows for frames without the face
    detected: np.ndarray  # (T,) bool: observed (not interpolated) in this frame
    valid: np.ndarray  # (T,) bool: usable (observed or bridged by interpolation)
    frame_size: tuple[int, int]  # (width, height)
    notes: list[str] = field(default_factory=list)  # user-facing remarks (e.g. several faces seen)

    def __len__(self) -> int:
        return int(self.landmarks.shape[0])


@dataclass
class Quads:
    """Per-frame oriented crop squares (FFHQ-style), centre + half-axis vectors.

    Corners are ``c - x - y, c - x + y, c + x + y, c + x - y`` (top-left, bottom-left,
    bottom-right, top-right in crop space).
    """

    center: np.ndarray  # (T, 2)
    x: np.ndarray  # (T, 2) half-width axis (points right in the crop)
    y: np.ndarray  # (T, 2) half-height axis (points down in the crop)
    valid: np.ndarray  # (T,) bool

    def __len__(self) -> int:
        return int(self.center.shape[0])


@dataclass
class EditResult:
    """What `edit` produced."""

    output: Path
    n_frames: int
    n_face_frames: int
    seconds: float
    notes: list[str] = field(default_factory=list)
    preview: Path | None = None

    def to_json(self) -> dict:
        """The stable keys of ``edit --json``."""
        return {
            "output": str(self.output),
            "frames": self.n_frames,
            "face_frames": self.n_face_frames,
            "seconds": round(self.seconds, 3),
            "notes": list(self.notes),
            "preview": None if self.preview is None else str(self.preview),
        }


@dataclass
class CropPlan:
    """Where to crop each frame: matrices (frame->crop), crop-space landmarks, validity."""

    matrices: np.ndarray  # (T, 2, 3), NaN where invalid
    crop_landmarks: np.ndarray  # (T, 68, 2) in crop pixels (smoothed), NaN where invalid
    valid: np.ndarray  # (T,) bool
    detected: np.ndarray  # (T,) bool: face observed (valid but not detected = bridged gap)
    crop_size: int
    notes: list[str] = field(default_factory=list)
    mask: MaskConfig = MaskConfig()
