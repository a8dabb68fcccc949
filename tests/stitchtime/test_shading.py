"""The smile's skin shading (stitchtime.editors.shading): where it may act, what it learns, how it
is carried onto a face."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from stitchtime.editors.geometry import GeometryModel
from stitchtime.editors.models import WEIGHTS_DIR
from stitchtime.editors.shading import SIZE, ShadingPainter, fit_shading, skin_weight, to_canvas, warp_to_canvas


def _mean_shape() -> np.ndarray:
    return GeometryModel.load_all(WEIGHTS_DIR / "geometry")["Smiling"].mean_shape.astype(np.float64)


def _at(weight: np.ndarray, point: np.ndarray) -> float:
    x, y = np.round(to_canvas(point)).astype(int)
    return float(weight[y, x])


def test_the_skin_weight_covers_the_cheeks_and_keeps_off_eyes_lips_nose_and_background():
    shape = _mean_shape()
    w = skin_weight(shape)
    cheek = (shape[3] + shape[48]) / 2  # between the jaw and the mouth corner
    chin = (shape[8] + shape[57]) / 2
    assert _at(w, cheek) > 0.9 and _at(w, chin) > 0.9
    for off in (shape[37], shape[44], shape[62], shape[66], shape[30], shape[8] + [0, 0.2], shape[0] - [0.2, 0]):
        assert _at(w, off) < 0.05, off
    for edge in (shape[51], shape[57], shape[33]):  # the lips' outer line, under the nose: the soft edge's foot
        assert _at(w, edge) < 0.15, edge


def _face_image(shape: np.ndarray, dark: float) -> tuple[np.ndarray, np.ndarray]:
    """A flat grey 'face' whose landmarks are ``shape`` scaled into a 160-px image, with a dark
    patch of ``dark`` (0..1) at the left cheek."""
    lm = shape * 60 + [80, 50]
    img = np.full((160, 160, 3), 150, np.uint8)
    cheek = (lm[3] + lm[48]) / 2
    patch = np.zeros((160, 160), np.float32)
    cv2.circle(patch, tuple(int(v) for v in cheek), 6, 1.0, -1)
    img = (img * (1 - dark * patch[..., None])).astype(np.uint8)
    return img, lm


def test_the_fitted_shading_is_darker_where_the_attribute_darkens_the_skin_and_mean_free():
    shape = _mean_shape()
    faces = [_face_image(shape, 0.3 if i % 2 else 0.0) for i in range(8)]
    label = np.arange(8) % 2 == 1
    shading, record = fit_shading(iter(faces), label, shape)
    assert record["with"] == [4] and record["without"] == [4]
    w = skin_weight(shape)
    assert shading.shape == (SIZE, SIZE)
    assert _at(shading, (shape[3] + shape[48]) / 2) < -0.1
    assert _at(shading, (shape[13] + shape[54]) / 2) > -0.02  # the other cheek: only the mean's share
    assert abs(float(shading.sum() / w.sum())) < 1e-3  # no overall brightening where it acts
    assert np.abs(shading[w < 1e-6]).max() < 1e-6
    with pytest.raises(ValueError):
        fit_shading(iter(faces[:2]), np.array([True, True]), shape)


def test_strata_keep_a_trait_the_attributes_faces_have_more_often_out_of_the_shading():
    """A dark chin (say, a beard's shadow) that only one stratum has, and that stratum mostly
    without the attribute: pooled, the attribute 'lightens the chin'; within strata it does not."""
    shape = _mean_shape()
    chin = (shape[8] + shape[57]) / 2

    def face(beard: bool):
        img, lm = _face_image(shape, 0.0)
        if beard:
            x, y = np.round(lm[8] * 0.5 + lm[57] * 0.5).astype(int)
            cv2.circle(img, (x, y), 8, (90, 90, 90), -1)
        return img, lm

    # stratum 1 (bearded) is 1 with / 3 without the attribute; stratum 0: 3 with / 1 without
    beards = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    label = np.array([1, 1, 1, 0, 1, 0, 0, 0], bool)
    faces = [face(bool(b)) for b in beards]
    pooled, _ = fit_shading(iter(faces), label, shape)
    within, record = fit_shading(iter(faces), label, shape, strata=beards)
    assert record["with"] == [3, 1] and record["without"] == [1, 3]
    assert _at(pooled, chin) > 0.05
    assert abs(_at(within, chin)) < 0.01


def test_warping_to_the_canvas_puts_the_landmarks_on_the_mean_shape():
    shape = _mean_shape()
    lm = shape * 60 + [80, 50]
    img = np.zeros((160, 160, 3), np.uint8)
    x, y = np.round(lm[30]).astype(int)  # a white dot on the nose tip
    img[y - 1 : y + 2, x - 1 : x + 2] = 255
    canvas = warp_to_canvas(img, lm, shape)
    got = np.array(np.unravel_index(canvas[..., 0].argmax(), canvas.shape[:2]))[::-1]
    assert np.abs(got - to_canvas(shape[30])).max() <= 1.5


def test_the_painter_scales_luminance_only_where_the_shading_is_and_follows_the_face():
    shape = _mean_shape()
    shading = np.zeros((SIZE, SIZE), np.float32)
    x, y = np.round(to_canvas((shape[3] + shape[48]) / 2)).astype(int)
    shading[y - 3 : y + 4, x - 3 : x + 4] = -0.2  # darker on the left cheek
    painter = ShadingPainter(shading, shape)
    rng = np.random.default_rng(0)
    frame = rng.integers(60, 200, (240, 320, 3)).astype(np.uint8)
    lm = shape * 50 + [200, 80]  # the face sits right of centre
    (out,) = painter.paint([frame], lm[None], np.array([1.0]))
    (same,) = painter.paint([frame], lm[None], np.array([0.0]))
    assert same is frame
    changed = np.abs(out.astype(int) - frame.astype(int)).max(-1) > 1
    ys, xs = np.nonzero(changed)
    cheek = (lm[3] + lm[48]) / 2
    assert changed.any() and np.abs(xs.mean() - cheek[0]) < 3 and np.abs(ys.mean() - cheek[1]) < 3
    ratio = out[changed].astype(float) / frame[changed].astype(float)
    assert np.ptp(ratio, axis=1).max() < 0.02  # the same gain on R, G and B: no colour cast
    assert abs(ratio.min() - np.exp(-0.2)) < 0.02  # the full shading at the patch's centre
    assert (out[changed].astype(int) <= frame[changed].astype(int)).all()
    (lighter,) = painter.paint([frame], lm[None], np.array([-1.0]))  # strength -1: the other way
    assert (lighter[changed].astype(int) >= frame[changed].astype(int)).all()


def test_a_geometry_model_keeps_its_shading_through_save_and_load(tmp_path):
    models = GeometryModel.load_all(WEIGHTS_DIR / "geometry")
    assert models["Smiling"].shading is not None  # the shipped smile has its shading
    models["Smiling"].shading = None
    models["Smiling"].mean_shape = None
    GeometryModel.save_all(models, tmp_path / "plain", {})
    assert GeometryModel.load_all(tmp_path / "plain")["Smiling"].shading is None


def test_the_shipped_smile_shades_the_lower_face_skin_only_by_the_edits_amount():
    """After the warp, the geometry editor's paint step shades the astronaut's lower face: by the
    amount without the geometry gain, nothing above the eyes or on the lips, and not at all on a
    frame the edit leaves alone."""
    from stitchtime.editors.attributes import ATTRIBUTES
    from stitchtime.editors.geometry import GeometryEditor, edited_displacement, load_geometry
    from stitchtime.faces.shape import to_frame_vectors
    from tests.stitchtime.test_geometry import _landmarks, paint_astronaut

    editor = GeometryEditor.from_options(
        load_geometry(WEIGHTS_DIR / "geometry"), ATTRIBUTES["smile"], 1.0, None, None, False
    )
    assert editor.shader is not None
    lm = _landmarks()
    gain = ATTRIBUTES["smile"].geometry_gain
    frame, out = paint_astronaut(editor, lm, [gain, 0.0])  # frame 0 smiles, frame 1 is left alone
    painter = ShadingPainter(editor.model.shading, editor.model.mean_shape)
    moved_lm = lm + to_frame_vectors(edited_displacement(editor.model, editor._shape[None], np.array([gain]))[0], lm)
    assert np.array_equal(out[0], painter.paint([frame], moved_lm[None], np.array([1.0]))[0])  # gain-free amount
    assert np.array_equal(out[1], frame)
    change = out[0].astype(float) - frame.astype(float)
    moved = np.abs(change).max(-1) > 1
    assert moved.sum() > 2000
    ys, xs = np.nonzero(moved)
    assert ys.min() > lm[36:48, 1].max()  # nothing at or above the eyes
    lips = np.zeros(frame.shape[:2], np.uint8)
    cv2.fillPoly(lips, [np.round(lm[48:60]).astype(np.int32)], 1)
    assert not (moved & (lips > 0)).any()


def test_a_face_running_off_the_frame_is_shaded_where_it_is_and_nowhere_else():
    shape = _mean_shape()
    shading = np.full((SIZE, SIZE), -0.2, np.float32) * skin_weight(shape)
    painter = ShadingPainter(shading, shape)
    frame = np.full((200, 240, 3), 128, np.uint8)
    for offset in ([-40, 60], [210, 60], [120, -60], [120, 190]):  # half out on each side
        lm = shape * 60 + offset
        (out,) = painter.paint([frame], lm[None], np.array([1.0]))
        changed = np.abs(out.astype(int) - frame.astype(int)).max(-1) > 1
        assert changed.any(), offset
        ys, xs = np.nonzero(changed)
        inside = (lm.min(0) - 0.5 * 60 <= [xs.min(), ys.min()]).all() and ([xs.max(), ys.max()] <= lm.max(0) + 30).all()
        assert inside, offset
    far = shape * 20 + [1000, 1000]  # wholly outside: nothing to do
    assert np.array_equal(painter.paint([frame], far[None], np.array([1.0]))[0], frame)


def test_a_closed_mouth_whose_inner_lips_coincide_is_shaded_as_a_barely_open_one():
    """dlib's integer landmarks often put a closed mouth's facing inner-lip points on one pixel; the
    shading's spline must not depend on them (it goes through the outer lip line only)."""
    from tests.stitchtime.test_geometry import _landmarks

    model = GeometryModel.load_all(WEIGHTS_DIR / "geometry")["Smiling"]
    painter = ShadingPainter(model.shading, model.mean_shape)
    frame = np.full((512, 512, 3), 150, np.uint8)
    closed = _landmarks()
    for a, b in ((61, 67), (62, 66), (63, 65)):
        closed[a] = closed[b] = (closed[a] + closed[b]) / 2
    ajar = closed.copy()
    ajar[61:64, 1] -= 0.05
    ajar[65:68, 1] += 0.05
    (shut,) = painter.paint([frame], closed[None], np.array([1.0]))
    (open_,) = painter.paint([frame], ajar[None], np.array([1.0]))
    assert np.abs(shut.astype(int) - frame.astype(int)).max() >= 8  # shaded, not zero or scattered
    assert np.array_equal(shut, open_)
    canvas = warp_to_canvas(np.ascontiguousarray(np.dstack([frame[..., 0]] * 3)), closed, model.mean_shape)
    assert np.isfinite(canvas).all() and canvas.std() < 1  # the fit's warp too: a flat frame stays flat


def test_fit_smooths_the_landmarks_the_warp_and_the_shading_follow(monkeypatch):
    """``fit`` keeps the video's landmarks smoothed over time, and both the warp's control points and
    the shading's landmarks are those, not a frame's jittered ones."""
    import torch

    from stitchtime.editors.attributes import ATTRIBUTES
    from stitchtime.editors.contract import CropBatch
    from stitchtime.editors.geometry import STEADY_SIGMA, GeometryEditor, load_geometry
    from stitchtime.temporal.smooth import gaussian_smooth
    from tests.stitchtime.test_geometry import _landmarks

    editor = GeometryEditor.from_options(
        load_geometry(WEIGHTS_DIR / "geometry"), ATTRIBUTES["smile"], 1.0, None, None, False
    )
    rng = np.random.default_rng(0)
    lm = _landmarks()
    track = np.stack([lm + rng.normal(0, 1.5, lm.shape) for _ in range(9)]).astype(np.float32)
    batch = CropBatch(
        frame_indices=torch.arange(9),
        crops_source=torch.zeros(9, 3, 512, 512),
        masks=torch.ones(9, 1, 512, 512),
        landmarks=torch.from_numpy(track),
    )
    editor.fit(lambda: iter([batch]), 9)
    smooth = gaussian_smooth(track, np.ones(9, bool), STEADY_SIGMA)
    assert np.allclose(editor._steady, smooth, atol=1e-3)
    assert np.abs(smooth - track).max() > 1  # the jitter is really taken out
    steady, moved = editor._moved(batch, 1.0, steady=True)[:2]
    assert np.allclose(steady, smooth, atol=1e-3)
    seen = {}
    editor.shader.paint = lambda frames, points, amount: seen.setdefault("points", points) is None or frames
    editor.paint([np.zeros((512, 512, 3), np.uint8)] * 9, batch, np.repeat(np.eye(2, 3)[None], 9, 0))
    assert np.allclose(seen["points"], moved, atol=1e-6)  # (the crop is the frame here)
    from stitchtime.editors import geometry

    warped = []
    real = geometry.warp_field
    monkeypatch.setattr(geometry, "warp_field", lambda src, dst, size: warped.append(src) or real(src, dst, size))
    editor.motion(batch)
    assert np.allclose(np.stack(warped)[:, : len(geometry.MOVING)], steady[:, geometry.MOVING], atol=1e-6)
