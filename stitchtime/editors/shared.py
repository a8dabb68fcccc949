"""What the model-backed editors share: moving crops into and out of model space, the region an
attribute owns, and the pass over the video that estimates every frame's attributes.

Convention: crops arrive as ``(B, 3, S, S)`` in ``[0, 255]`` (pipeline units); a model sees
``(B, 3, s, s)`` in ``[-1, 1]`` at its own resolution ``s`` (area-downsampled).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from stitchtime.config import REGION_MASKS, MaskConfig, Region
from stitchtime.editors.attributes import Attribute
from stitchtime.editors.contract import CropBatch, CropSource
from stitchtime.editors.models import LabelledModels


def to_model(crops: torch.Tensor, size: int) -> torch.Tensor:
    """Pipeline crops ``[0, 255]`` -> model input ``[-1, 1]`` at ``size`` (antialiased)."""
    x = crops / 127.5 - 1.0
    if x.shape[-1] != size:
        x = F.interpolate(x, size=(size, size), mode="area")
    return x


def to_crop(x: torch.Tensor, size: int) -> torch.Tensor:
    """Model images ``[-1, 1]`` -> whole crops ``[0, 255]`` at ``size`` (bicubic), what
    ``--blend replace`` pastes."""
    return F.interpolate((x.clamp(-1, 1) + 1) * 127.5, size=(size, size), mode="bicubic", align_corners=False).clamp(
        0, 255
    )


def region_mask(attribute: Attribute) -> MaskConfig | None:
    """The mask an attribute's edit needs; None for the whole face (the pipeline's own mask,
    which callers may have set, applies)."""
    return None if attribute.region is Region.face else REGION_MASKS[attribute.region]


@dataclass
class FrameAttributes:
    """The classifier's estimate of the model's attributes on every frame (NaN where no face)."""

    cond: np.ndarray  # (T, C) probabilities, in the generative model's attribute order
    valid: np.ndarray  # (T,) bool: a crop was seen
    detected: np.ndarray  # (T,) bool: the face was observed (not a bridged gap)


# Called once per batch with the batch, its model-space images, their attribute estimates, frame
# indices and which of them had the face observed; for what an editor keeps beside the estimates.
BatchHook = Callable[[CropBatch, torch.Tensor, torch.Tensor, np.ndarray, np.ndarray], None]


@torch.no_grad()
def estimate_attributes(
    models: LabelledModels, source: CropSource, n_frames: int, on_batch: BatchHook | None = None
) -> FrameAttributes:
    """One pass over the video's crops: the classifier's attribute estimates per frame."""
    columns = models.classifier_columns()
    device = next(models.classifier.parameters()).device
    out = FrameAttributes(
        cond=np.full((n_frames, len(columns)), np.nan, np.float32),
        valid=np.zeros(n_frames, bool),
        detected=np.zeros(n_frames, bool),
    )
    for batch in source():
        x = to_model(batch.crops, models.image_size).to(device)
        c = models.classifier.predict(x)[:, columns]
        idx = batch.frame_indices.numpy()
        out.cond[idx] = c.cpu().numpy()
        out.valid[idx] = True
        out.detected[idx] = True if batch.detected is None else batch.detected.numpy()
        if on_batch is not None:
            on_batch(batch, x, c, idx, out.detected[idx])
    return out
