"""Carry a model-space edit onto the sharp crop: the motion the edit makes in the model's small
output moves the original's own pixels, and only the colour change the motion does not explain
is added (softly limited). Shared by the cVAE and diffusion editors."""

from __future__ import annotations

import cv2
import numpy as np
import torch

# Farneback optical flow on the decoder's small images (pyramid scale, levels, window, iterations,
# polynomial neighbourhood and sigma): small windows, the edits move features by a few pixels.
_FLOW_ARGS = (0.5, 3, 9, 5, 5, 1.1, 0)


def _gray(img: torch.Tensor) -> np.ndarray:
    """``(3, s, s)`` in ``[-1, 1]`` -> uint8 grey for OpenCV's optical flow."""
    g = ((img.clamp(-1, 1) + 1) * 127.5).mean(0)
    return g.round().byte().numpy()


def soft_limit(x: torch.Tensor | np.ndarray, limit: float) -> torch.Tensor | np.ndarray:
    """``limit * tanh(x / limit)``: about ``x`` where small, never beyond ``limit`` (0: ``x``)."""
    tanh = torch.tanh if isinstance(x, torch.Tensor) else np.tanh
    return x if limit <= 0 else limit * tanh(x / limit)


def flow_transfer(
    crops: torch.Tensor, rec: torch.Tensor, out: torch.Tensor, colour_limit: float = 0.0, amount: float = 1.0
) -> torch.Tensor:
    """Carry a model-space edit (``rec`` -> ``out``, ``(B, 3, s, s)`` in ``[-1, 1]``) onto sharp
    crops ``(B, 3, S, S)`` in ``[0, 255]``: move the crop's pixels by the flow that maps ``out``
    back to ``rec`` (so the shape change is made with the original's own detail), then add the
    colour change the motion does not explain, softly limited to ``colour_limit`` grey levels
    (:func:`soft_limit`). ``amount`` < 1 makes a smaller edit: the motion and the colour change are
    both shrunk (not a cross-fade between the original and the moved crop, which would show
    double contours). Returns the change of each crop."""
    b, _, size, _ = crops.shape
    s = rec.shape[-1]
    deltas = np.zeros((b, size, size, 3), np.float32)
    # no edit (strength 0): no motion, no colour change
    todo = [i for i in range(b) if amount != 0 and not torch.equal(out[i], rec[i])]
    grid_x, grid_y = np.meshgrid(np.arange(size, dtype=np.float32), np.arange(size, dtype=np.float32))
    small_x, small_y = np.meshgrid(np.arange(s, dtype=np.float32), np.arange(s, dtype=np.float32))
    # (OpenCV per image, channels last: its bicubic resize equals torch's, 3x faster on one core)
    rec_hwc = rec.permute(0, 2, 3, 1).contiguous().numpy()
    target_hwc = (
        (rec + amount * (out - rec)).permute(0, 2, 3, 1).contiguous().numpy()
    )  # the decode of the smaller edit, approximately
    crops_hwc = crops.permute(0, 2, 3, 1).contiguous().numpy()
    for i in todo:
        flow = (
            cv2.calcOpticalFlowFarneback(_gray(out[i]), _gray(rec[i]), None, *_FLOW_ARGS) * amount
        )  # out(p) ~ rec(p + flow)
        moved_rec = cv2.remap(
            rec_hwc[i],
            small_x + flow[..., 0],
            small_y + flow[..., 1],
            cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REFLECT_101,
        )
        colour = cv2.resize((target_hwc[i] - moved_rec) * 127.5, (size, size), interpolation=cv2.INTER_CUBIC)
        big = cv2.resize(flow, (size, size), interpolation=cv2.INTER_LINEAR) * (size / s)
        moved = cv2.remap(
            crops_hwc[i],
            grid_x + big[..., 0],
            grid_y + big[..., 1],
            cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REFLECT_101,
        )
        deltas[i] = moved - crops_hwc[i] + soft_limit(colour, colour_limit)
    return torch.from_numpy(deltas).permute(0, 3, 1, 2).contiguous()
