"""Detector backends: the offline default works, face-alignment fails loudly, choices are listed."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from stitchtime.config import DetectConfig, DetectorBackend
from stitchtime.errors import BackendError
from stitchtime.faces.detect import DlibBackend, make_backend
from stitchtime.faces.track import FaceTracker


def _astronaut() -> np.ndarray:
    from skimage import data

    return data.astronaut()


def test_dlib_finds_the_astronaut_with_68_landmarks():
    faces = make_backend(DetectConfig()).detect(_astronaut())
    assert len(faces) == 1
    f = faces[0]
    assert f.landmarks.shape == (68, 2)
    x0, y0, x1, y1 = f.box
    inside = (
        (f.landmarks[:, 0] > x0 - 20)
        & (f.landmarks[:, 0] < x1 + 20)
        & (f.landmarks[:, 1] > y0 - 20)
        & (f.landmarks[:, 1] < y1 + 20)
    )
    assert inside.all()
    # eyes above mouth
    assert f.landmarks[36:48, 1].mean() < f.landmarks[48:68, 1].mean()


def test_window_detection_agrees_with_full_detection():
    backend = DlibBackend()
    img = _astronaut()
    full = backend.detect(img)[0]
    near = backend.detect_near(img, full.box)
    assert near and np.abs(near[0].landmarks - full.landmarks).mean() < 3.0


@pytest.mark.skipif(importlib.util.find_spec("face_alignment") is not None, reason="face-alignment is installed here")
def test_face_alignment_backend_names_the_fix():
    with pytest.raises(BackendError, match="pip install"):
        make_backend(DetectConfig(backend=DetectorBackend.face_alignment))


def test_unknown_backend_lists_valid_ones():
    # refused where it enters: the config itself (the CLI refuses it even earlier, as a choice)
    with pytest.raises(ValueError, match="valid: dlib, face-alignment"):
        make_backend(DetectConfig(backend="mtcnn"))


def test_face_index_picks_the_second_face_from_the_left():
    img = _astronaut()[:300, 100:350]
    two = np.concatenate([img, img[:, ::-1]], axis=1)  # the same face twice, side by side
    for index, side in ((0, "left"), (1, "right")):
        tracker = FaceTracker(make_backend(), DetectConfig(face_index=index))
        obs = tracker.update(np.ascontiguousarray(two))
        assert obs is not None
        cx = obs.landmarks[:, 0].mean()
        assert (cx < img.shape[1]) == (side == "left")
        assert any("faces found" in n for n in tracker.notes)
