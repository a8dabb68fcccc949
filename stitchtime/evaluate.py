"""Quality numbers for an edited video against its original.

* TL-ID / TG-ID (temporal local / global identity preservation, as defined for "Stitch it
  in Time"): ``E`` = L2-normalised identity descriptors per face frame (dlib's 128-D),
  ``S = E E^T`` for source and edit, ``R = S_edit / S_src``; TL-ID = mean of ``R``'s first
  off-diagonal (consecutive frames), TG-ID = mean of ``R`` over all off-diagonal pairs.
  1.0 means the edit kept identity consistency exactly as the source had it.
* identity distance: mean L2 distance original <-> edited descriptors (dlib: < 0.6 = same person).
* background PSNR: over pixels outside the dilated face region (and whole frames without a face).
* flicker ratio: mean absolute frame-to-frame change inside the face region, edited / original.
* sharpness ratio: variance of the Laplacian over the inner face (the mask region, not dilated),
  edited / original, summed over face frames (< 1: the edit blurred the face).
* mouth geometry: dlib's landmarks of the edited frame fitted in the original's face box; the
  mean lift of the mouth corners and change of the mouth's width against the original's, in
  inter-ocular distances (a smile edit should lift and widen; other edits should leave them).
* integrity: frame count, frame rate, size, duration, audio of the edited file vs the original.

Descriptors are computed at the original video's tracked landmarks in both videos, so the
geometry is the same and only the pixels differ. Frames are streamed (bounded memory).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from stitchtime.config import DetectConfig, MaskConfig, TrackConfig
from stitchtime.errors import InputError, NoFaceError
from stitchtime.faces.detect import face_descriptor, make_backend
from stitchtime.faces.mouth import mouth_opening
from stitchtime.faces.shape import mouth_change, normalise
from stitchtime.faces.track import FaceTracker, face_span
from stitchtime.io.decode import VideoReader
from stitchtime.io.probe import probe
from stitchtime.render.mask import mask_polygon

# The face region is dilated by this fraction of the face span before measuring the background.
BACKGROUND_MARGIN = 0.25


@dataclass
class Integrity:
    frames: bool
    fps: bool
    size: bool
    duration: bool
    audio: bool

    @property
    def ok(self) -> bool:
        return all(asdict(self).values())


@dataclass
class Metrics:
    tl_id: float
    tg_id: float
    identity_distance: float
    background_psnr: float
    flicker_ratio: float
    n_frames: int
    n_face_frames: int
    integrity: Integrity
    notes: list[str] = field(default_factory=list)
    sharpness_ratio: float = 1.0  # Laplacian variance of the inner face, edited / original
    mouth_corner_lift: float = 0.0  # inter-ocular distances, up is positive
    mouth_width_change: float = 0.0  # inter-ocular distances
    mouth_opening_change: float = 0.0  # the inner lips' gap, inter-ocular distances (open is positive)

    def to_json(self) -> dict:
        d = asdict(self)
        d["integrity"]["ok"] = self.integrity.ok
        return {k: ("inf" if isinstance(v, float) and math.isinf(v) else v) for k, v in d.items()}

    def table(self) -> str:
        rows = [
            ("TL-ID", f"{self.tl_id:.4f}"),
            ("TG-ID", f"{self.tg_id:.4f}"),
            ("identity distance", f"{self.identity_distance:.4f}"),
            ("background PSNR (dB)", "inf" if math.isinf(self.background_psnr) else f"{self.background_psnr:.2f}"),
            ("flicker ratio", f"{self.flicker_ratio:.4f}"),
            ("sharpness ratio", f"{self.sharpness_ratio:.3f}"),
            ("mouth corner lift (IOD)", f"{self.mouth_corner_lift:+.3f}"),
            ("mouth width change (IOD)", f"{self.mouth_width_change:+.3f}"),
            ("mouth opening change (IOD)", f"{self.mouth_opening_change:+.3f}"),
            ("frames (with face)", f"{self.n_frames} ({self.n_face_frames})"),
            (
                "integrity",
                "ok"
                if self.integrity.ok
                else ", ".join(k for k, v in asdict(self.integrity).items() if not v) + " differ",
            ),
        ]
        w = max(len(r[0]) for r in rows)
        return "\n".join(f"{k:<{w}}  {v}" for k, v in rows)


def temporal_identity(src: np.ndarray, edit: np.ndarray) -> tuple[float, float]:
    """TL-ID and TG-ID from per-frame descriptors ``(T, D)`` of source and edit."""
    if len(src) < 2:
        return 1.0, 1.0
    e_s = src / np.linalg.norm(src, axis=1, keepdims=True)
    e_e = edit / np.linalg.norm(edit, axis=1, keepdims=True)
    s_src = e_s @ e_s.T
    s_edit = e_e @ e_e.T
    r = s_edit / s_src
    tl = float(np.mean(np.diagonal(r, offset=1)))
    off = ~np.eye(len(r), dtype=bool)
    tg = float(np.mean(r[off]))
    return tl, tg


def _face_region(landmarks: np.ndarray, shape: tuple[int, int], margin: float = BACKGROUND_MARGIN) -> np.ndarray:
    """The face's mask polygon (forehead included), dilated by ``margin`` x the face span."""
    m = np.zeros(shape, np.uint8)
    cv2.fillConvexPoly(m, np.round(mask_polygon(landmarks, MaskConfig())).astype(np.int32), 1)
    if margin <= 0:
        return m.astype(bool)
    r = max(1, int(margin * face_span(landmarks)))
    return cv2.dilate(m, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))).astype(bool)


def _laplacian_variance(frame: np.ndarray, region: np.ndarray) -> float:
    lap = cv2.Laplacian(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), cv2.CV_32F)
    return float(lap[region].var()) if region.any() else 0.0


def evaluate(original: Path, edited: Path, progress: bool = False, detect: DetectConfig = DetectConfig()) -> Metrics:
    original, edited = Path(original), Path(edited)
    m_src, m_edit = probe(original), probe(edited)
    integrity = Integrity(
        frames=m_src.n_frames == m_edit.n_frames,
        fps=abs(m_src.fps - m_edit.fps) <= 0.01 * m_src.fps,
        size=(m_src.width, m_src.height) == (m_edit.width, m_edit.height),
        duration=abs(m_src.duration - m_edit.duration) <= 1.0 / m_src.fps + 1e-6,
        audio=m_src.has_audio == m_edit.has_audio,
    )
    if not integrity.frames or not integrity.size:
        raise InputError(
            f"{edited.name} does not match {original.name}: {m_edit.n_frames} vs {m_src.n_frames} frames, "
            f"{m_edit.width}x{m_edit.height} vs {m_src.width}x{m_src.height}"
        )
    backend = make_backend(detect)
    tracker = FaceTracker(backend, detect, TrackConfig())
    d_src, d_edit = [], []
    lm_src, lm_edit = [], []
    sharp_src, sharp_edit = 0.0, 0.0
    bg_se, bg_n = 0.0, 0
    flick_src, flick_edit, flick_n = 0.0, 0.0, 0
    prev: tuple[np.ndarray, np.ndarray] | None = None
    with VideoReader(original, m_src) as ra, VideoReader(edited, m_edit) as rb:
        bar = tqdm(zip(ra, rb), total=m_src.n_frames, desc="evaluate", unit="frame", leave=False, disable=not progress)
        for a, b in bar:
            obs = tracker.update(a)
            af, bf = a.astype(np.float32), b.astype(np.float32)
            diff = af - bf
            if obs is None:
                region = np.zeros(a.shape[:2], bool)
                prev = None
            else:
                region = _face_region(obs.landmarks, a.shape[:2])
                inner = _face_region(obs.landmarks, a.shape[:2], margin=0.0)
                sharp_src += _laplacian_variance(a, inner)
                sharp_edit += _laplacian_variance(b, inner)
                d_src.append(face_descriptor(a, obs.landmarks))
                d_edit.append(face_descriptor(b, obs.landmarks))
                fitted = backend.landmarks_in_box(b, obs.box)
                if fitted is not None:
                    lm_src.append(obs.landmarks)
                    lm_edit.append(fitted)
                if prev is not None:
                    both = region & prev[2]
                    if both.any():
                        flick_src += float(np.abs(af - prev[0])[both].mean())
                        flick_edit += float(np.abs(bf - prev[1])[both].mean())
                        flick_n += 1
                prev = (af, bf, region)
            bg = ~region
            bg_se += float((diff[bg] ** 2).sum())
            bg_n += int(bg.sum()) * 3
    if not d_src:
        raise NoFaceError(f"{original.name}: no face found, nothing to evaluate")
    src, edit = np.stack(d_src), np.stack(d_edit)
    tl, tg = temporal_identity(src, edit)
    mse = bg_se / max(bg_n, 1)
    lift, width = mouth_change(np.stack(lm_src), np.stack(lm_edit)) if lm_src else (np.zeros(1), np.zeros(1))
    opened = mouth_opening(normalise(np.stack(lm_edit))) - mouth_opening(normalise(np.stack(lm_src))) if lm_src else 0.0
    return Metrics(
        tl_id=tl,
        tg_id=tg,
        identity_distance=float(np.linalg.norm(src - edit, axis=1).mean()),
        background_psnr=math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse),
        flicker_ratio=1.0 if flick_src == 0 else flick_edit / flick_src,
        n_frames=m_src.n_frames,
        n_face_frames=len(d_src),
        integrity=integrity,
        notes=list(tracker.notes),
        sharpness_ratio=1.0 if sharp_src == 0 else sharp_edit / sharp_src,
        mouth_corner_lift=float(lift.mean()),
        mouth_width_change=float(width.mean()),
        mouth_opening_change=float(np.mean(opened)),
    )
