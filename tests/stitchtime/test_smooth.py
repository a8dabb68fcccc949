"""Temporal smoothing against a straightforward reference: per valid segment, each frame is the
Gaussian-weighted mean of the frames of its segment within ``ceil(3 sigma)`` (at least 1) of it."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from stitchtime.temporal.smooth import gaussian_smooth, gaussian_smooth_inplace, gaussian_smooth_tensor

SIGMAS = [0.0, 0.3, 0.5, 1.0, 1.1, 2.5, 3.0, 4.0]  # 1.1: ceil(3.3) = 4 but scipy's default radius is 3


def _reference(values: np.ndarray, valid: np.ndarray | None, sigma: float) -> np.ndarray:
    values = np.asarray(values, np.float64)
    out = values.copy()
    if sigma <= 0:
        return out
    valid = np.ones(len(values), bool) if valid is None else valid
    radius = max(1, math.ceil(3 * sigma))
    for i in np.flatnonzero(valid):
        lo = hi = i
        while lo > 0 and valid[lo - 1] and i - lo < radius:
            lo -= 1
        while hi < len(values) - 1 and valid[hi + 1] and hi - i < radius:
            hi += 1
        j = np.arange(lo, hi + 1)
        w = np.exp(-0.5 * ((j - i) / sigma) ** 2)
        out[i] = np.tensordot(w / w.sum(), values[lo : hi + 1], axes=1)
    return out


def _masks(t: int, rng: np.random.Generator):
    yield None
    yield rng.random(t) > 0.3  # random gaps, often one frame
    ends = np.ones(t, bool)
    ends[: max(1, t // 5)] = False
    ends[-max(1, t // 4) :] = False
    yield ends  # invalid runs at both ends
    alternate = np.ones(t, bool)
    alternate[::3] = False
    yield alternate  # segments of two frames


@pytest.mark.parametrize("t", [1, 2, 5, 13, 300])
@pytest.mark.parametrize("tail", [(), (3,), (68, 2)])
def test_gaussian_smooth_matches_the_reference(t, tail):
    rng = np.random.default_rng(t * 100 + len(tail))
    for valid in _masks(t, rng):
        values = rng.normal(size=(t, *tail)) * 40 + 200
        if valid is not None:
            values[~valid] = np.nan  # invalid frames: not read, returned as they are
        for sigma in SIGMAS:
            got = gaussian_smooth(values, valid, sigma)
            want = _reference(values, valid, sigma)
            assert got.shape == values.shape and got.dtype == np.float64
            np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
            np.testing.assert_allclose(got, want, rtol=1e-9, atol=0)


def test_gaussian_smooth_leaves_invalid_values_and_reads_none_of_them():
    rng = np.random.default_rng(3)
    values = rng.normal(size=(30, 2, 3))
    valid = np.ones(30, bool)
    valid[[0, 9, 10, 20, 29]] = False
    changed = values.copy()
    changed[~valid] = 1e6  # not read
    for sigma in SIGMAS:
        got = gaussian_smooth(changed, valid, sigma)
        np.testing.assert_array_equal(got[~valid], changed[~valid])
        np.testing.assert_allclose(got[valid], _reference(values, valid, sigma)[valid], rtol=1e-9)


@pytest.mark.parametrize("n,chunk", [(2, 4), (5, 1), (37, 5), (37, 8), (300, 256), (600, 256)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16])
def test_in_place_smoothing_matches_the_reference(n, chunk, dtype):
    """One valid run, chunks smaller and larger than the kernel; rounded once to ``dtype``."""
    rng = np.random.default_rng(n + chunk)
    x = torch.from_numpy(rng.normal(size=(n, 3, 4)) * 3).to(dtype)
    for sigma in SIGMAS:
        got = gaussian_smooth_inplace(y := x.clone(), sigma, chunk)
        assert got is y and got.dtype == dtype
        want = _reference(x.double().numpy(), None, sigma)
        err = np.abs(got.double().numpy() - want)
        if dtype in (torch.float32, torch.float64):
            assert err.max() <= 1e-6 * np.abs(want).max()
        else:  # at most one rounding to the half type: half its spacing, plus the float32 sums
            spacing = 2.0**-10 if dtype == torch.float16 else 2.0**-7
            assert (err <= spacing * np.abs(want) + 1e-6).all()


def test_tensor_twin_keeps_dtype_and_matches_the_reference():
    rng = np.random.default_rng(5)
    x = torch.from_numpy(rng.normal(size=(50, 3)).astype(np.float32))
    valid = torch.from_numpy(rng.random(50) > 0.2)
    got = gaussian_smooth_tensor(x, valid, 2.0)
    assert got.dtype == torch.float32
    np.testing.assert_allclose(got.numpy(), _reference(x.double().numpy(), valid.numpy(), 2.0), rtol=1e-6, atol=1e-6)
