"""The mouth interior a smile opens: the mouth crop, the painting's reach, the shipped network."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from generative.models.pix2pix import Pix2PixConfig, Pix2PixFamily
from stitchtime.editors.models import WEIGHTS_DIR
from stitchtime.editors.teeth import MOUTH_DIR, MouthPainter, load_mouth_model
from stitchtime.faces.mouth import HOLE, INNER, interior_mask, model_input, mouth_matrix, to_crop
from stitchtime.faces.shape import face_frame


def _landmarks() -> np.ndarray:
    from skimage import data

    from stitchtime.config import DetectConfig
    from stitchtime.faces.detect import make_backend

    return make_backend(DetectConfig()).detect(data.astronaut())[0].landmarks.astype(np.float64)


def test_the_mouth_crop_is_level_centred_and_scaled_by_the_eyes():
    lm = _landmarks()
    m = mouth_matrix(lm, 64)
    pts = to_crop(m, lm)
    assert np.all((pts[48:68] > 4) & (pts[48:68] < 60))  # the whole mouth is inside
    left, right = to_crop(m, lm[36:42].mean(0)[None])[0], to_crop(m, lm[42:48].mean(0)[None])[0]
    assert abs(left[1] - right[1]) < 1e-6  # eyes level in the crop
    _, _, iod = face_frame(lm)
    assert np.linalg.norm(right - left) == pytest.approx(64 / 1.4, rel=1e-6)
    hole = interior_mask(pts[INNER], 64)
    assert 0 < hole.sum() < 64 * 64 / 4
    painted = model_input(np.zeros((64, 64, 3), np.uint8), hole)
    assert np.all(painted[hole > 0.5] == HOLE) and np.all(painted[hole < 0.5] == 0)


def test_painting_reaches_only_between_the_lips_and_nothing_when_asked_for_nothing():
    from skimage import data

    torch.manual_seed(0)
    net = Pix2PixFamily(Pix2PixConfig(ngf=8, ndf=8)).eval()
    painter = MouthPainter(net)
    frame = np.ascontiguousarray(data.astronaut())
    lm = _landmarks()[None]
    untouched = painter.paint([frame], lm, np.zeros(1))[0]
    assert untouched is frame
    out = painter.paint([frame.copy()], lm, np.ones(1))[0]
    changed = np.abs(out.astype(int) - frame).max(-1) > 0
    assert changed.any()
    inner = np.zeros(frame.shape[:2], np.float32)
    import cv2

    cv2.fillPoly(inner, [np.round(lm[0, INNER]).astype(np.int32)], 1)
    near = cv2.dilate(inner, np.ones((9, 9), np.uint8)) > 0  # the lips' polygon and its feathered edge
    assert not changed[~near].any()


def test_a_geometry_folder_with_a_mouth_model_bares_teeth_and_the_shipped_one_does_not(tmp_path):
    """The mouth-interior network is a plug-in of the geometry model's folder (``mouth/``): the
    shipped folder has none (measured: BENCHMARKS.md "Mouth interior for the smile"), a folder
    with one makes the smile open closed lips and paint between them."""
    import shutil

    from generative.training.checkpoint import export
    from stitchtime.editors.attributes import ATTRIBUTES
    from stitchtime.editors.geometry import GeometryEditor, load_geometry
    from tests.stitchtime.test_geometry import paint_astronaut

    shipped = load_geometry(WEIGHTS_DIR / "geometry")
    assert shipped.mouth is None
    assert GeometryEditor.from_options(shipped, ATTRIBUTES["smile"], 1.0, None, None, False).painter is None

    folder = tmp_path / "geometry"
    shutil.copytree(WEIGHTS_DIR / "geometry", folder)
    torch.manual_seed(0)
    export(folder / MOUTH_DIR, Pix2PixFamily(Pix2PixConfig(ngf=8, ndf=8)), None, 1)
    models = load_geometry(folder)
    assert load_mouth_model(folder / MOUTH_DIR) is not None and models.mouth is not None
    editor = GeometryEditor.from_options(models, ATTRIBUTES["smile"], 1.0, None, None, False)
    assert editor.painter is not None

    lm = _landmarks()
    for a, b in ((61, 67), (62, 66), (63, 65)):  # her lips closed: a smile must open them to show teeth
        lm[a] = lm[b] = (lm[a] + lm[b]) / 2
    frame, out = paint_astronaut(editor, lm, [2.0, 0.0])  # frame 0 edited, frame 1 not
    assert not np.array_equal(out[0], frame)  # the parted lips were painted
    assert np.array_equal(out[1], frame)  # no edit, no painting
