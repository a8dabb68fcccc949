"""The empty edit (``--attr none``): a round trip through the whole face pipeline."""

from __future__ import annotations

import torch

from stitchtime.editors.contract import CropBatch, CropEditor


class IdentityEditor(CropEditor):
    """Changes nothing: the video comes back bit-identical (``delta`` is zero)."""

    needs_fit = False
    reads_crops = False

    def delta(self, batch: CropBatch, scale: float = 1.0) -> torch.Tensor:
        return torch.zeros(batch.crop_shape)

    def edited(self, batch: CropBatch) -> torch.Tensor:
        return batch.crops
