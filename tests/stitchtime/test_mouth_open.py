"""mouth_open: the geometry editor parts the lips as CelebA's label does, and paints the inside of
the mouth from a frame of the same video (stitchtime.editors.interior)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from cli import app
from stitchtime.editors.attributes import ATTRIBUTES
from stitchtime.editors.geometry import (
    INNER_PAIRS,
    OPEN_MAX,
    edited_displacement,
    load_geometry,
)
from stitchtime.editors.interior import InteriorPainter
from stitchtime.editors.models import WEIGHTS_DIR
from stitchtime.evaluate import evaluate
from stitchtime.faces.mouth import interior_mask
from stitchtime.faces.shape import normalise
from tests.conftest import shared_video
from tests.stitchtime.test_geometry import _landmarks

runner = CliRunner()


def _gap_change(d: np.ndarray) -> np.ndarray:
    return np.mean([d[:, b, 1] - d[:, a, 1] for a, b in INNER_PAIRS], axis=0)


def test_the_shipped_model_opens_a_closed_mouth_as_celebas_label_does_and_never_past_closed():
    m = load_geometry(WEIGHTS_DIR / "geometry").models["Mouth_Slightly_Open"]
    shape = normalise(_landmarks())[None]
    d = edited_displacement(m, shape, np.ones(1), opening=np.zeros(1), opens=True)  # (a closed mouth's gap)
    assert 0.09 < _gap_change(d)[0] < 0.16  # CelebA's slightly open mouths: 0.127 apart, closed ones 0.017
    assert d[0, 66, 1] > -2 * d[0, 62, 1] > 0  # the lower lip goes down, twice as far as the upper one rises
    # closing: no further than the lips' own gap; opening: up to OPEN_MAX
    shut = edited_displacement(m, shape, np.array([-3.0, -3.0]), opening=np.array([0.05, 0.3]), opens=True)
    np.testing.assert_allclose(_gap_change(shut), [-0.05, -0.3], atol=1e-9)
    wide = edited_displacement(m, shape, np.array([10.0]), opening=np.array([0.2]), opens=True)
    assert _gap_change(wide)[0] == pytest.approx(OPEN_MAX - 0.2)
    # the smile keeps the opening as it is (its own tests); the attribute's default strength is CelebA's mean
    assert ATTRIBUTES["mouth_open"].geometry_gain == 1.0 and ATTRIBUTES["mouth_open"].method == "geometry"


def _mouth(open_by: float, size: int = 256) -> np.ndarray:
    """A face's 68 landmarks in a ``size`` crop with the inner lips ``open_by`` IOD apart."""
    lm = _landmarks().astype(np.float64)
    lm = (lm - lm.mean(0)) * (0.8 * size / np.ptp(lm[:, 0])) + size / 2
    iod = np.linalg.norm(lm[42:48].mean(0) - lm[36:42].mean(0))
    for a, b in INNER_PAIRS:
        mid = (lm[a, 1] + lm[b, 1]) / 2
        lm[a, 1], lm[b, 1] = mid - open_by * iod / 2, mid + open_by * iod / 2
    lm[[60, 64], 1] = (lm[61, 1] + lm[67, 1]) / 2  # the corners between
    return lm


def _crop(lm: np.ndarray, inside: float, lips: float = 150.0, size: int = 256) -> torch.Tensor:
    img = np.full((size, size, 3), 200.0, np.float32)
    outer = interior_mask(lm[48:60], size) > 0.5
    hole = interior_mask(lm[60:68], size) > 0.5
    img[outer] = lips
    img[hole] = inside
    return torch.from_numpy(img).permute(2, 0, 1)


def test_the_reference_is_an_open_mouth_in_shadow_and_its_inside_is_painted_only_between_the_lips():
    painter = InteriorPainter()
    closed, open_ = _mouth(0.0), _mouth(0.16)
    calls = []

    def crops(*c):
        calls.append(1)
        return torch.stack(c)

    painter.observe(lambda: crops(_crop(closed, 40.0)), closed[None])
    assert not painter.has_reference and not calls  # a closed mouth shows no inside: its crop is not even made
    lit, shadow, teeth = _crop(open_, 150.0), _crop(open_, 40.0), _crop(open_, 230.0)
    painter.observe(lambda: crops(lit), open_[None])
    assert not painter.has_reference  # as bright as the lips: lips dlib put apart, or a tongue; not taken
    painter.observe(lambda: crops(teeth, shadow), np.stack([open_, open_]), frames=np.array([7, 8]))
    assert painter.has_reference and painter.crop[interior_mask(open_[60:68], 256) > 0.5, 0].mean() == 40
    assert painter.frame == 8  # the mouth in shadow rather than the lit teeth
    bridged = InteriorPainter()
    bridged.observe(lambda: crops(shadow), open_[None], detected=np.zeros(1, bool))
    assert not bridged.has_reference  # a frame bridged by interpolation is not taken

    frame = np.full((256, 256, 3), 120, np.uint8)
    target = _mouth(0.12)
    untouched = painter.paint([frame], np.stack([target]), np.zeros(1))[0]
    assert untouched is frame
    out = painter.paint([frame], np.stack([target]), np.ones(1))[0].astype(np.float32)
    hole = interior_mask(target[60:68], 256)
    changed = np.abs(out - 120).max(-1) > 1
    assert changed[hole > 0.99].all() and not changed[interior_mask(target[60:68], 256, grow=3) < 0.01].any()
    # the inside is the reference's, its brightness scaled by the lips' (the frame's lips are 120, the
    # reference's 150): 40 * 120 / 150
    assert np.median(out[hole > 0.99][:, 0]) == pytest.approx(40 * 120 / 150, abs=2)


def test_a_video_whose_mouth_never_opens_gets_a_shadow_darker_than_its_lips():
    painter = InteriorPainter()
    target = _mouth(0.12)
    frame = np.full((256, 256, 3), 200, np.uint8)
    frame[interior_mask(target[48:60], 256) > 0.5] = (180, 90, 90)
    out = painter.paint([frame], np.stack([target]), np.ones(1))[0].astype(np.float32)
    inside = out[interior_mask(target[60:68], 256) > 0.99]
    assert np.median(inside[:, 0]) < 0.5 * 180 and (inside[:, 0] > inside[:, 1]).all()  # darker, the lips' hue


def test_mouth_open_on_a_real_clip_parts_the_lips_and_keeps_the_person(tmp_path):
    """d9: a man whose mouth is closed in most of the first 40 frames."""
    from benchmarks.edit_quality import cut

    src = cut(shared_video("liveportrait_driving_d9.mp4"), tmp_path / "d9.mp4", 40)
    out = tmp_path / "open.mp4"
    result = runner.invoke(app, ["edit", str(src), "-o", str(out), "--attr", "mouth_open"])
    assert result.exit_code == 0, result.output
    assert "mouth_open: no frame of this video shows the inside" in result.output  # (his first 40 frames: closed)
    m = evaluate(src, out)
    assert m.mouth_opening_change >= 0.05, m  # dlib, refitted on the edited frames, sees the lips apart
    assert m.identity_distance <= 0.35 and m.tl_id >= 0.995 and m.tg_id >= 0.98 and m.flicker_ratio <= 1.1, m
    assert m.sharpness_ratio >= 0.9 and m.background_psnr >= 40, m
    talking = cut(shared_video("retalking_face_3.mp4"), tmp_path / "rf3.mp4", 40)  # a mouth open mid-word
    closed = tmp_path / "closed.mp4"
    result = runner.invoke(app, ["edit", str(talking), "-o", str(closed), "--attr", "mouth_open", "--strength", "-1"])
    assert result.exit_code == 0, result.output
    assert evaluate(talking, closed).mouth_opening_change <= -0.01  # the lips come together
