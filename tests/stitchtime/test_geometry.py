"""The geometry editor: the face frame, the warp, the shipped displacement model, and real edits
measured by refitted landmarks (smile lifts and widens the mouth; -1 takes a smile away)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from cli import app
from stitchtime.editors.geometry import (
    FIXED,
    INNER_PAIRS,
    MOVING,
    RIGID,
    SMILE_GAP,
    SMILE_OPENING,
    GeometryModel,
    added_opening,
    edited_displacement,
    load_geometry,
    mouth_opening,
    warp_field,
)
from stitchtime.editors.models import WEIGHTS_DIR
from stitchtime.evaluate import evaluate
from stitchtime.faces.shape import face_frame, mouth_change, normalise, to_frame_vectors
from tests.conftest import shared_video
from tests.pipelines.test_edit import clip  # noqa: F401 (the astronaut clip fixture)

runner = CliRunner()


def _landmarks() -> np.ndarray:
    from skimage import data

    from stitchtime.config import DetectConfig
    from stitchtime.faces.detect import make_backend

    return make_backend(DetectConfig()).detect(data.astronaut())[0].landmarks.astype(np.float64)


def paint_astronaut(editor, lm: np.ndarray, amounts) -> tuple[np.ndarray, list[np.ndarray]]:
    """skimage's astronaut and the geometry ``editor``'s paint step on copies of it, one per edit
    amount in ``amounts``, with her face at ``lm`` (the crop is the frame itself)."""
    import torch
    from skimage import data

    from stitchtime.editors.contract import CropBatch

    frame = np.ascontiguousarray(data.astronaut())
    n = len(amounts)
    editor._shape = normalise(lm)
    editor._amount = np.asarray(amounts, np.float32)
    batch = CropBatch(
        frame_indices=torch.arange(n),
        crops_source=torch.zeros(n, 3, 512, 512),
        masks=torch.ones(n, 1, 512, 512),
        landmarks=torch.from_numpy(np.stack([lm] * n).astype(np.float32)),
    )
    identity = np.repeat(np.array([[[1.0, 0, 0], [0, 1.0, 0]]]), n, 0)
    return frame, editor.paint([frame.copy() for _ in range(n)], batch, identity)


def test_the_face_frame_ignores_position_size_and_roll():
    lm = _landmarks()
    a = np.deg2rad(17)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    moved = 2.5 * lm @ rot.T + np.array([40.0, -13.0])
    np.testing.assert_allclose(normalise(moved), normalise(lm), atol=1e-9)
    centre, axis, iod = face_frame(normalise(lm))
    np.testing.assert_allclose(centre, 0, atol=1e-9)
    np.testing.assert_allclose(axis, [1, 0], atol=1e-9)
    assert iod == pytest.approx(1.0)


def test_face_frame_vectors_round_trip():
    lm = _landmarks()
    d = np.random.default_rng(0).normal(0, 0.05, (68, 2))
    d[RIGID] = 0  # the eyes stay, so the frame stays
    moved = lm + to_frame_vectors(d, lm)
    np.testing.assert_allclose(normalise(moved), normalise(lm) + d, atol=1e-9)
    lift, width = mouth_change(lm[None], moved[None])
    assert lift[0] == pytest.approx(-(d[48, 1] + d[54, 1]) / 2) and width[0] == pytest.approx(d[54, 0] - d[48, 0])


def test_the_warp_is_the_identity_without_a_move_and_moves_a_feature_where_asked():
    size = 96
    src = np.array([[30.0, 40.0], [60.0, 50.0], [45.0, 70.0], [50.0, 30.0]])
    mx, my = warp_field(src, src, size)
    gx, gy = np.meshgrid(np.arange(size), np.arange(size))
    assert np.abs(mx - gx).max() < 1e-3 and np.abs(my - gy).max() < 1e-3
    img = np.zeros((size, size), np.float32)
    cv2.circle(img, (60, 50), 3, 1.0, -1)
    dst = src.copy()
    dst[1] += (5.0, -4.0)
    mx, my = warp_field(src, dst, size)
    out = cv2.remap(img, mx, my, cv2.INTER_LINEAR)
    ys, xs = np.nonzero(out > 0.5)
    assert abs(xs.mean() - 65) < 0.7 and abs(ys.mean() - 46) < 0.7
    # the border is held (within the coarse grid's interpolation: its samples sit half a cell inside)
    assert mx[0, 0] == pytest.approx(0, abs=0.05) and my[-1, -1] == pytest.approx(size - 1, abs=0.05)


def test_the_shipped_smile_lifts_and_widens_and_keeps_the_mouth_closed():
    models = load_geometry(WEIGHTS_DIR / "geometry")
    assert models.attributes == ["Mouth_Slightly_Open", "Smiling"]
    m: GeometryModel = models.models["Smiling"]
    shape = normalise(_landmarks())[None]
    d = edited_displacement(m, shape, np.ones(1))
    assert np.all(d[0, RIGID] == 0)
    for a, b in INNER_PAIRS:
        np.testing.assert_allclose(d[0, a], d[0, b])  # the opening between the lips is kept
    lift, width = m.corner_change(np.repeat(shape, 2, 0))
    assert lift > 0.04 and width > 0.05
    assert 0 <= m.probability(shape)[0] <= 1


def test_the_opening_between_the_lips_is_kept_either_way():
    m = load_geometry(WEIGHTS_DIR / "geometry").models["Smiling"]
    shape = normalise(_landmarks())[None]

    def gap_change(d):
        return float(np.mean([d[0, b, 1] - d[0, a, 1] for a, b in INNER_PAIRS]))

    for s in (1.0, -1.0):
        for gap in (0.0, 0.3):
            assert gap_change(edited_displacement(m, shape, np.array([s]), opening=np.array([gap]))) == 0
    assert mouth_opening(shape).shape == (1,)


def test_a_toothy_smile_opens_any_mouth_up_to_the_smiling_median():
    m = load_geometry(WEIGHTS_DIR / "geometry").models["Smiling"]
    shape = normalise(_landmarks())[None]

    def gap_change(d):
        return float(np.mean([d[0, b, 1] - d[0, a, 1] for a, b in INNER_PAIRS]))

    closed = edited_displacement(m, shape, np.array([2.0]), opening=np.zeros(1), teeth=True)
    assert gap_change(closed) == pytest.approx(SMILE_OPENING, abs=1e-6)  # amount 2: strength 1, gain 2
    assert float(closed[0, 62, 1] - closed[0, 66, 1]) < 0  # the lips part: the upper one up, the lower down
    wide = edited_displacement(m, shape, np.array([2.0]), opening=np.array([0.15]), teeth=True)
    assert gap_change(wide) == pytest.approx(SMILE_GAP - 0.15, abs=1e-6)
    assert gap_change(edited_displacement(m, shape, np.array([2.0]), opening=np.array([0.2]), teeth=True)) == 0
    np.testing.assert_allclose(added_opening(np.array([2.0, 0.0]), np.zeros(2)), [SMILE_OPENING, 0.0])


def _edit(src, out, *args):
    result = runner.invoke(app, ["edit", str(src), "-o", str(out), "-q", *args])
    assert result.exit_code == 0, result.output


def test_smile_on_a_real_clip_lifts_and_widens_the_mouth_and_keeps_the_person(tmp_path):
    from benchmarks.edit_quality import cut

    src = cut(shared_video("retalking_face_3.mp4"), tmp_path / "rf3.mp4", 50)  # 2 s of a woman talking
    out = tmp_path / "smile.mp4"
    _edit(src, out, "--attr", "smile")
    m = evaluate(src, out)
    assert m.mouth_corner_lift >= 0.04 and m.mouth_width_change >= 0.05, m
    assert m.identity_distance <= 0.35 and m.tl_id >= 0.995 and m.tg_id >= 0.98 and m.flicker_ratio <= 1.1, m
    assert m.sharpness_ratio >= 0.9 and m.background_psnr >= 40, m
    zero = tmp_path / "zero.mp4"
    _edit(src, zero, "--attr", "smile", "--strength", "0")
    z = evaluate(src, zero)
    assert abs(z.mouth_corner_lift) < 0.01 and abs(z.mouth_width_change) < 0.01


def test_minus_one_takes_the_astronauts_smile_away(clip, tmp_path):
    out = tmp_path / "no_smile.mp4"
    _edit(clip, out, "--attr", "smile", "--strength", "-1")
    m = evaluate(clip, out)
    assert m.mouth_corner_lift < -0.02 and m.mouth_width_change < -0.03, m


def test_the_warp_of_a_closed_mouth_whose_inner_lips_coincide_is_the_barely_open_ones():
    """dlib often puts a closed mouth's facing inner-lip points on one pixel; a spline through one
    point twice has no solution (scipy returned maps thousands of pixels off): they are merged."""
    model = GeometryModel.load_all(WEIGHTS_DIR / "geometry")["Smiling"]
    closed = _landmarks()
    for a, b in INNER_PAIRS:
        closed[a] = closed[b] = (closed[a] + closed[b]) / 2
    ajar = closed.copy()
    ajar[61:64, 1] -= 0.05
    ajar[65:68, 1] += 0.05
    maps = []
    for lm in (closed, ajar):
        d = edited_displacement(model, normalise(lm)[None], np.array([2.0]))[0]
        moved = lm + to_frame_vectors(d, lm)
        maps.append(
            warp_field(np.concatenate([lm[MOVING], lm[FIXED]]), np.concatenate([moved[MOVING], lm[FIXED]]), 512)
        )
    for a, b in zip(*maps):
        assert np.abs(a - b).max() < 0.5
    assert np.abs(maps[0][1] - np.arange(512)[:, None]).max() < 30  # a smile's few pixels, not thousands
