"""Alignment, smoothing, masks and paste-back, tested by property (kornia style)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stitchtime.config import AlignConfig, MaskConfig
from stitchtime.faces.align import (
    crop_matrices,
    invert_affine,
    quads_from_landmarks,
    smooth_quads,
    transform_points,
    warp_to_crops,
)
from stitchtime.render.blend import BlendMode, paste
from stitchtime.render.mask import face_masks
from stitchtime.temporal.smooth import gaussian_smooth, gaussian_smooth_inplace, interpolate_gaps, segments


def _canonical_landmarks() -> np.ndarray:
    """A plausible upright 68-point face centred at (100, 100), eyes 40 px apart."""
    lm = np.zeros((68, 2), np.float32)
    t = np.linspace(-1, 1, 17)
    lm[0:17] = np.stack([100 + 45 * t, 100 + 50 * (1 - t**2) ** 0.5 * 0.2 + 40 * np.abs(t) ** 3 * -1 + 40], 1)
    lm[17:27] = np.stack([np.linspace(65, 135, 10), np.full(10, 75.0)], 1)
    lm[27:36] = np.stack([np.full(9, 100.0), np.linspace(80, 115, 9)], 1)
    lm[36:42] = np.stack(
        [
            80 + 6 * np.cos(np.linspace(0, 2 * np.pi, 6, endpoint=False)),
            85 + 3 * np.sin(np.linspace(0, 2 * np.pi, 6, endpoint=False)),
        ],
        1,
    )
    lm[42:48] = lm[36:42] + np.array([40, 0])
    lm[48:68] = np.stack(
        [100 + 20 * np.cos(np.linspace(0, 2 * np.pi, 20)), 130 + 6 * np.sin(np.linspace(0, 2 * np.pi, 20))], 1
    )
    lm[48], lm[54] = (80.0, 130.0), (120.0, 130.0)  # mouth corners
    return lm


def _track(t: int = 20) -> np.ndarray:
    return np.repeat(_canonical_landmarks()[None], t, axis=0)


class TestQuads:
    def test_shapes_and_upright_face(self):
        q = quads_from_landmarks(_track(5))
        assert q.center.shape == (5, 2) and q.x.shape == (5, 2) and q.y.shape == (5, 2)
        # upright face: x axis points right, y points down, square
        assert q.x[0, 0] > 0 and abs(q.x[0, 1]) < 1e-6
        assert q.y[0, 1] > 0 and abs(q.y[0, 0]) < 1e-6
        assert np.allclose(np.linalg.norm(q.x, axis=1), np.linalg.norm(q.y, axis=1))
        # centre = eye_avg + 0.1 * eye_to_mouth
        assert np.allclose(q.center[0], [100, 85 + 0.1 * 45], atol=0.5)

    def test_rotation_equivariance(self):
        lm = _canonical_landmarks()
        a = np.deg2rad(20)
        r = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        rot = (lm - 100) @ r.T + 100
        q0, q1 = quads_from_landmarks(lm[None]), quads_from_landmarks(rot[None])
        assert np.allclose(q1.x[0], r @ q0.x[0], atol=1e-4)
        assert np.allclose(q1.center[0], r @ (q0.center[0] - 100) + 100, atol=1e-4)

    def test_non_square_pixels_give_a_square_in_display_space(self):
        lm = _canonical_landmarks()
        sar = 15 / 16
        stored = lm * np.array([1 / sar, 1])  # what the stored (squeezed) frame holds
        q = quads_from_landmarks(stored[None], sar=sar)
        ref = quads_from_landmarks(lm[None])
        assert np.allclose(q.x[0] * [sar, 1], ref.x[0], atol=1e-4)

    def test_bad_shape_is_loud(self):
        with pytest.raises(ValueError, match=r"\(T, 68, 2\)"):
            quads_from_landmarks(np.zeros((4, 5, 2)))

    def test_invalid_frames_stay_invalid(self):
        lm = _track(6)
        valid = np.array([1, 1, 0, 1, 1, 1], bool)
        q = quads_from_landmarks(lm, valid)
        assert not q.valid[2] and np.isnan(q.center[2]).all()
        m = crop_matrices(q, 64)
        assert np.isnan(m[2]).all() and np.isfinite(m[[0, 1, 3]]).all()


class TestSmoothing:
    def test_constant_track_is_unchanged(self):
        q = quads_from_landmarks(_track(30))
        s = smooth_quads(q, AlignConfig())
        assert np.allclose(s.center, q.center) and np.allclose(s.x, q.x)

    def test_centre_follows_fast_motion_and_smooths_jitter(self):
        rng = np.random.default_rng(0)
        lm = _track(60)
        shift = np.where(np.arange(60) < 30, 0.0, 40.0)[:, None] + rng.normal(scale=0.3, size=(60, 2))
        q = quads_from_landmarks(lm + shift[:, None, :])
        config = AlignConfig(sigma_center=3.0)
        s = smooth_quads(q, config)
        side = 2 * np.linalg.norm(q.x, axis=1)
        lag = np.linalg.norm(s.center - q.center, axis=1)
        assert (lag <= config.max_center_lag * side + 1e-9).all()  # the 40-px jump is followed
        still = slice(5, 25)
        assert np.abs(np.diff(s.center[still], axis=0)).mean() < 0.5 * np.abs(np.diff(q.center[still], axis=0)).mean()
        free = smooth_quads(q, AlignConfig(sigma_center=3.0, max_center_lag=0))
        assert np.linalg.norm(free.center - q.center, axis=1).max() > 10  # without the limit it lags

    def test_linear_motion_is_kept_in_the_interior(self):
        t = np.arange(40, dtype=float)
        values = np.stack([t, 2 * t], 1)
        out = gaussian_smooth(values, None, 3.0)
        assert np.allclose(out[10:30], values[10:30], atol=1e-9)

    def test_jitter_is_reduced(self):
        rng = np.random.default_rng(0)
        values = rng.normal(size=(200, 2))
        out = gaussian_smooth(values, None, 2.0)
        assert np.abs(np.diff(out, axis=0)).mean() < 0.3 * np.abs(np.diff(values, axis=0)).mean()

    def test_never_crosses_an_invalid_frame(self):
        values = np.array([[0.0]] * 5 + [[np.nan]] + [[10.0]] * 5)
        valid = np.isfinite(values[:, 0])
        out = gaussian_smooth(values, valid, 3.0)
        assert np.allclose(out[:5], 0) and np.allclose(out[6:], 10) and np.isnan(out[5, 0])

    @pytest.mark.parametrize("n,chunk,sigma", [(1, 4, 1.0), (5, 2, 1.0), (37, 8, 1.0), (37, 5, 2.5), (300, 256, 1.0)])
    def test_in_place_chunked_smoothing_equals_the_reference(self, n, chunk, sigma):
        """The diffusion editor's keyframe smoothing (chunks smaller than the kernel too)."""
        import torch

        x = np.random.default_rng(n).normal(size=(n, 3, 4, 4)).astype(np.float32)
        got = gaussian_smooth_inplace(torch.from_numpy(x.copy()), sigma, chunk)
        assert np.abs(got.numpy() - gaussian_smooth(x, None, sigma)).max() < 1e-5
        half = gaussian_smooth_inplace(torch.from_numpy(x).half(), sigma, chunk)
        assert (
            half.dtype == torch.float16 and np.abs(half.float().numpy() - gaussian_smooth(x, None, sigma)).max() < 5e-3
        )

    def test_segments_and_gap_bridging(self):
        valid = np.array([1, 1, 0, 0, 1, 0, 0, 0, 0, 1], bool)
        assert segments(valid) == [(0, 2), (4, 5), (9, 10)]
        values = np.arange(10, dtype=float)[:, None] * valid[:, None]
        filled, ok = interpolate_gaps(values, valid, max_gap=2)
        assert ok[:5].all() and not ok[5:9].any()
        assert np.allclose(filled[2:4, 0], [2, 3])

    def test_wrong_valid_shape_is_loud(self):
        with pytest.raises(ValueError, match="valid must have shape"):
            gaussian_smooth(np.zeros((5, 2)), np.ones(4, bool), 1.0)


def _test_image(h: int = 200, w: int = 220) -> torch.Tensor:
    yy, xx = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    img = torch.stack([128 + 100 * torch.sin(6 * xx), 128 + 100 * torch.cos(5 * yy), 255 * xx * yy])
    return img[None].float()


class TestWarps:
    def test_crop_shape_and_corner_mapping(self):
        q = quads_from_landmarks(_track(1))
        m = crop_matrices(q, 64)
        corners = np.stack([q.center - q.x - q.y, q.center + q.x - q.y, q.center - q.x + q.y], 1)
        mapped = transform_points(m, corners)
        assert np.allclose(mapped[0], [[-0.5, -0.5], [63.5, -0.5], [-0.5, 63.5]], atol=1e-6)
        crops = warp_to_crops(_test_image(), torch.from_numpy(m).float(), 64)
        assert crops.shape == (1, 3, 64, 64)

    def test_inverse_affine_round_trip(self):
        m = crop_matrices(quads_from_landmarks(_track(3)), 128)
        pts = np.random.default_rng(1).uniform(0, 200, (3, 10, 2))
        back = transform_points(invert_affine(m), transform_points(m, pts))
        assert np.allclose(back, pts, atol=1e-8)

    def test_align_then_paste_round_trip(self):
        frame = _test_image()
        q = quads_from_landmarks(_track(1))
        m = crop_matrices(q, 256)  # upsampling crop: little is lost
        crops = warp_to_crops(frame, torch.from_numpy(m).float(), 256)
        ones = torch.ones(1, 1, 256, 256)
        out = paste(frame.clone(), crops, ones, m, BlendMode.replace)
        covered = paste(torch.zeros_like(frame), torch.ones(1, 3, 256, 256), ones, m, BlendMode.delta) > 0.999
        err = (out - frame)[covered]
        psnr = 10 * np.log10(255**2 / float((err**2).mean()))
        assert covered.float().mean() > 0.3
        assert psnr > 38, psnr

    def test_zero_delta_leaves_frames_bit_identical(self):
        frame = _test_image()
        m = crop_matrices(quads_from_landmarks(_track(1)), 64)
        out = paste(frame.clone(), torch.zeros(1, 3, 64, 64), torch.rand(1, 1, 64, 64), m, BlendMode.delta)
        assert torch.equal(out, frame)

    def test_delta_lands_inside_the_face_only(self):
        frame = torch.zeros(1, 3, 200, 220)
        lm = _track(1)
        m = crop_matrices(quads_from_landmarks(lm), 64)
        crop_lm = transform_points(m, lm)
        masks = face_masks(crop_lm, 64, MaskConfig())
        out = paste(frame.clone(), torch.full((1, 3, 64, 64), 50.0), masks, m, BlendMode.delta)
        assert out[0, :, 100, 100].min() > 45  # face centre: full delta
        assert out[0, :, 5, 5].abs().max() == 0  # far corner: untouched

    def test_batch_mismatch_is_loud(self):
        with pytest.raises(ValueError, match=r"\(2, 2, 3\)"):
            warp_to_crops(torch.zeros(2, 3, 10, 10), torch.zeros(1, 2, 3), 8)


class TestMask:
    def test_shape_range_and_feather(self):
        lm = _track(2)
        m = crop_matrices(quads_from_landmarks(lm), 128)
        masks = face_masks(transform_points(m, lm), 128)
        assert masks.shape == (2, 1, 128, 128)
        assert masks.min() >= 0 and masks.max() <= 1
        assert masks[0, 0, 64, 64] > 0.99 and masks[0, 0, 0, 0] < 0.01
        # feathered: some values strictly between 0 and 1
        assert ((masks > 0.05) & (masks < 0.95)).any()

    @pytest.mark.parametrize("angle", [0.0, 25.0])
    def test_regions_cover_their_part_of_the_face_only(self, angle):
        from stitchtime.config import REGION_MASKS

        lm = _canonical_landmarks()
        lm[27:31, 1] = np.linspace(85, 110, 4)  # a real nose bridge: eye level (27) to tip (30)
        a = np.deg2rad(angle)
        rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        lm = (lm - 100) @ rot.T + 100  # a tilted face: regions follow the face's own axes
        mouth, eyes = lm[48:68].mean(0), lm[36:48].mean(0)
        at = lambda masks, p: float(masks[0, 0, int(round(p[1])), int(round(p[0]))])
        lower = face_masks(lm[None], 200, REGION_MASKS["lower"])
        band = face_masks(lm[None], 200, REGION_MASKS["eyes"])
        face = face_masks(lm[None], 200, REGION_MASKS["face"])
        assert at(lower, mouth) > 0.95 and at(lower, eyes) < 0.3
        assert at(band, eyes) > 0.95 and at(band, mouth) < 0.05
        assert at(face, mouth) > 0.95 and at(face, eyes) > 0.95
        with pytest.raises(ValueError, match="valid: face, head, lower, eyes"):
            face_masks(lm[None], 200, MaskConfig(region="ears"))

    def test_missing_landmarks_give_an_empty_mask(self):
        lm = np.full((1, 68, 2), np.nan)
        assert face_masks(lm, 32).sum() == 0


class TestWarpEngines:
    @pytest.mark.parametrize("border", ["reflection", "zeros"])
    def test_kornia_and_opencv_agree(self, border):
        from stitchtime.faces.warp import warp_affine as warp

        img = _test_image(60, 70).repeat(2, 1, 1, 1)
        a = np.deg2rad(10)
        m = np.array([[[0.8 * np.cos(a), -0.8 * np.sin(a), 5.0], [0.8 * np.sin(a), 0.8 * np.cos(a), -3.0]]] * 2)
        k = warp(img, m, (50, 40), border, engine="kornia")
        c = warp(img, m, (50, 40), border, engine="opencv")
        assert k.shape == c.shape == (2, 3, 50, 40)
        # OpenCV interpolates with 5-bit fixed-point weights: agreement within ~1 grey level
        assert (k - c).abs().mean() < 0.5 and (k - c).abs().max() < 4.0

    def test_unknown_engine_and_border_are_loud(self):
        from stitchtime.faces.warp import warp_affine as warp

        with pytest.raises(ValueError, match="engine"):
            warp(torch.zeros(1, 3, 4, 4), np.zeros((1, 2, 3)), (4, 4), engine="magic")
        with pytest.raises(ValueError, match="border"):
            warp(torch.zeros(1, 3, 4, 4), np.zeros((1, 2, 3)), (4, 4), border="wrap")


def test_cpu_delta_fast_path_matches_the_tensor_paste():
    from stitchtime.render.blend import paste_frames

    frame = _test_image().round().clamp(0, 255)
    lm = _track(1)
    m = crop_matrices(quads_from_landmarks(lm), 64)
    masks = face_masks(transform_points(m, lm), 64)
    delta = torch.linspace(-40, 40, 64).expand(1, 3, 64, 64).contiguous()
    ref = paste(frame.clone(), delta, masks, m, BlendMode.delta).round().clamp(0, 255)
    fast = paste_frames([frame[0].permute(1, 2, 0).byte().numpy().copy()], delta, masks, m, BlendMode.delta)[0]
    diff = (torch.from_numpy(fast).permute(2, 0, 1).float() - ref[0]).abs()
    assert diff.max() <= 2 and diff.mean() < 0.05


def test_delta_paste_bounded_by_the_nonzero_delta_matches_a_whole_frame_warp():
    """The paste rectangle follows where mask * delta is non-zero (a local edit warps a small
    region), and the result equals warping the masked delta over the whole frame."""
    from stitchtime.faces.warp import warp_affine as warp
    from stitchtime.render.blend import paste_frames

    frame = _test_image().round().clamp(0, 255)
    lm = _track(1)
    m = crop_matrices(quads_from_landmarks(lm), 64)
    masks = face_masks(transform_points(m, lm), 64)
    delta = torch.zeros(1, 3, 64, 64)
    delta[..., 40:50, 20:44] = 30.0  # a "mouth" edit
    h, w = frame.shape[-2:]
    whole = warp(delta * masks, invert_affine(m), (h, w), border="zeros")
    ref = (frame + whole).round().clamp(0, 255)
    out = paste_frames([frame[0].permute(1, 2, 0).byte().numpy().copy()], delta, masks, m, BlendMode.delta)[0]
    diff = (torch.from_numpy(out).permute(2, 0, 1).float() - ref[0]).abs()
    assert diff.max() <= 1 and (ref[0] != frame[0]).any()
    zero = paste_frames(
        [frame[0].permute(1, 2, 0).byte().numpy().copy()], torch.zeros_like(delta), masks, m, BlendMode.delta
    )[0]
    assert np.array_equal(zero, frame[0].permute(1, 2, 0).byte().numpy())
