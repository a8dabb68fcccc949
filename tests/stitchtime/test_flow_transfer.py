"""The model-space edit carried onto the sharp crop: motion by optical flow, colour by residual."""

from __future__ import annotations

import numpy as np
import torch

from stitchtime.editors.transfer import flow_transfer, soft_limit


def _blob_image(size: int, cx: float) -> torch.Tensor:
    """A smooth bright blob on grey, ``(3, size, size)`` in [-1, 1]."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    g = np.exp(-((x - cx) ** 2 + (y - size / 2) ** 2) / (2 * (size / 8) ** 2))
    return torch.from_numpy(np.stack([g, g, g]) * 1.2 - 0.6)


def test_soft_limit_keeps_small_changes_and_caps_large_ones():
    x = torch.tensor([-80.0, -3.0, 0.0, 2.0, 80.0])
    y = soft_limit(x, 10.0)
    assert torch.allclose(y[1:4], x[1:4], atol=0.1)
    assert y.abs().max() <= 10.0 and y[0] < -9.9 and y[4] > 9.9
    assert torch.equal(soft_limit(x, 0.0), x)


def test_colour_change_is_added_and_limited():
    rec = _blob_image(32, 16)[None]
    out = rec + 30 / 127.5  # the edit brightens everything by 30 levels, no motion
    crops = (rec + 1) * 127.5
    crops = torch.nn.functional.interpolate(crops, size=(64, 64), mode="bilinear", align_corners=False)
    free = flow_transfer(crops, rec, out)
    assert abs(float(free[:, :, 8:-8, 8:-8].mean()) - 30) < 2
    capped = flow_transfer(crops, rec, out, colour_limit=10.0)
    assert float(capped.abs().max()) <= 10.5 and float(capped[:, :, 8:-8, 8:-8].mean()) > 9


def test_motion_moves_the_crops_own_pixels():
    rec, out = _blob_image(32, 14)[None], _blob_image(32, 18)[None]  # the edit moves the blob right
    crop = (torch.nn.functional.interpolate(rec, size=(64, 64), mode="bilinear", align_corners=False) + 1) * 127.5
    moved = crop + flow_transfer(crop, rec, out, colour_limit=10.0)
    col = lambda img: float((img[0, 0].sum(0) * torch.arange(64)).sum() / img[0, 0].sum(0).sum())
    shift = col(moved - 127.5 * 0.4) - col(crop - 127.5 * 0.4)  # centre of mass of the bright part
    assert 4 < shift < 12  # 4 model pixels = 8 crop pixels to the right
    assert torch.equal(flow_transfer(crop, rec, rec), torch.zeros_like(crop))  # no edit, no change


def test_a_scaled_edit_moves_less_instead_of_fading():
    """The identity guard's smaller edit: half the scale moves the blob half as far (a cross-fade
    would leave two half-bright blobs with the same centre of mass shift but a lower peak)."""
    rec, out = _blob_image(32, 12)[None], _blob_image(32, 20)[None]
    crop = (torch.nn.functional.interpolate(rec, size=(64, 64), mode="bilinear", align_corners=False) + 1) * 127.5
    col = lambda img: float((img[0, 0].sum(0) * torch.arange(64)).sum() / img[0, 0].sum(0).sum())
    shifts, peaks = {}, {}
    for s in (1.0, 0.5):
        moved = crop + flow_transfer(crop, rec, out, colour_limit=10.0, amount=s)
        shifts[s] = col(moved - 127.5 * 0.4) - col(crop - 127.5 * 0.4)
        peaks[s] = float(moved[0, 0].max())
    assert 0.3 < shifts[0.5] / shifts[1.0] < 0.7, shifts
    assert peaks[0.5] > 0.9 * float(crop[0, 0].max()), peaks  # one blob, still as bright: moved, not faded
    assert float(flow_transfer(crop, rec, out, amount=0.0).abs().max()) < 1.0  # scale 0: no edit
