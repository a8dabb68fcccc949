"""The tracker with a detect-only backend: every call it makes exists on the base class."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from stitchtime.config import DetectConfig
from stitchtime.faces.detect import FaceBackend, box_from_landmarks
from stitchtime.faces.track import FaceTracker, face_span
from stitchtime.types import FaceObservation

_H, _W = 240, 320


def _template() -> np.ndarray:
    """68 plausible (x, y) points: a jaw/brow/nose scatter, eyes (36-47) above the mouth (48-67)."""
    rng = np.random.default_rng(0)
    lm = rng.uniform([100, 80], [180, 180], size=(68, 2))
    lm[36:42] = [130, 120] + rng.normal(0, 2, (6, 2))
    lm[42:48] = [160, 120] + rng.normal(0, 2, (6, 2))
    lm[48:68] = [145, 165] + rng.normal(0, 3, (20, 2))
    lm[48], lm[54] = [132, 165], [158, 165]
    return lm.astype(np.float32)


class DetectOnly(FaceBackend):
    """Implements only the abstract ``detect``: the canned face of the frame whose index is in
    pixel (0, 0), or nothing. Counts its calls."""

    name = "detect-only"

    def __init__(self, faces: dict[int, np.ndarray]):
        super().__init__(DetectConfig())
        self.faces = faces
        self.calls = 0

    def detect(self, frame: np.ndarray) -> list[FaceObservation]:
        self.calls += 1
        lm = self.faces.get(int(frame[0, 0, 0]))
        if lm is None:
            return []
        box = box_from_landmarks(lm) + np.array([-10, -10, 10, 10], np.float32)
        return [FaceObservation(box=box, landmarks=lm.copy(), score=1.0)]


def _video(n: int, face_from: int, shift: float = 1.0) -> tuple[list[np.ndarray], dict[int, np.ndarray]]:
    """``n`` frames of one smooth texture moving ``shift`` px right per frame (the face with it),
    the frame index written into pixel (0, 0); the face is there from frame ``face_from`` on."""
    rng = np.random.default_rng(1)
    tex = cv2.GaussianBlur(rng.uniform(0, 255, (_H, _W + n + 8)).astype(np.float32), (0, 0), 6)
    tex = cv2.normalize(tex, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    template = _template()
    frames, faces = [], {}
    for t in range(n):
        x = int(round(t * shift))
        frame = np.repeat(tex[:, n + 8 - x : n + 8 - x + _W, None], 3, axis=2).copy()
        frame[0, 0] = t
        frames.append(frame)
        if t >= face_from:
            faces[t] = template + np.array([x, 0], np.float32)
    return frames, faces


def test_the_base_class_declares_every_call_the_tracker_makes():
    assert FaceBackend.__abstractmethods__ == frozenset({"detect"})
    for method in ("detect", "detect_near", "landmarks_in_box", "descriptor"):
        assert callable(getattr(FaceBackend, method))
    assert FaceBackend.cheap_landmarks is False


def test_default_landmarks_in_box_is_the_detected_face_there_or_none():
    frames, faces = _video(2, face_from=1)
    backend = DetectOnly(faces)
    box = box_from_landmarks(faces[1])
    assert backend.landmarks_in_box(frames[0], box) is None  # no face at all
    np.testing.assert_array_equal(backend.landmarks_in_box(frames[1], box), faces[1])
    assert backend.landmarks_in_box(frames[1], box + np.float32(150)) is None  # a face, but elsewhere


@pytest.mark.parametrize("face_from", [1, 3])
def test_detect_only_backend_backfills_frames_the_lost_tracker_skipped(face_from):
    every = 6
    frames, faces = _video(12, face_from)
    assert face_span(faces[face_from]) >= DetectConfig().min_face
    tracker = FaceTracker(DetectOnly(faces), DetectConfig(lost_detect_every=every))
    for frame in frames:
        tracker.update(frame)
    # frame 0 was searched (nothing), frames 1-5 waited, frame 6 found the face and followed it back
    # through the waiting frames down to the first with a face
    assert tracker.stats["full"] == 2
    assert tracker.stats["backfill"] == every - face_from
    assert tracker.stats["follow"] == 0  # detect-only: window detection every frame, no following
    track = tracker.finish()
    assert not track.detected[:face_from].any() and track.detected[face_from:].all()
    for t in range(face_from, len(frames)):
        np.testing.assert_allclose(track.landmarks[t], faces[t], atol=1e-5)
    assert np.isnan(track.landmarks[:face_from]).all()
