"""Convolutional blocks. Convention: tensors are ``(B, C, H, W)``; spatial sizes halve/double exactly."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

MAX_GROUPS = 32  # GroupNorm groups, reduced to a divisor of the channel count


def group_norm(channels: int) -> nn.GroupNorm:
    """GroupNorm with up to 32 groups (the largest divisor of ``channels`` not above it)."""
    groups = min(MAX_GROUPS, channels)
    while channels % groups:
        groups -= 1
    return nn.GroupNorm(groups, channels)


class ResBlock(nn.Module):
    """Pre-activation residual block (GN-SiLU-conv x2) with an optional per-sample embedding.

    ``emb`` (``(B, emb_dim)``, e.g. a condition vector or a timestep embedding) is projected and
    added to the hidden features between the two convolutions, as in diffusion U-Nets.
    """

    def __init__(
        self, in_channels: int, out_channels: int | None = None, emb_dim: int = 0, dropout: float = 0.0
    ) -> None:
        super().__init__()
        out_channels = out_channels or in_channels
        self.norm1 = group_norm(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.emb = nn.Linear(emb_dim, out_channels) if emb_dim else None
        self.norm2 = group_norm(out_channels)
        self.dropout = nn.Dropout(dropout) if dropout else nn.Identity()
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.skip = nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor | None = None) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        if self.emb is not None:
            if emb is None:
                raise ValueError("this ResBlock was built with emb_dim > 0 and needs an embedding")
            h = h + self.emb(F.silu(emb))[:, :, None, None]
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return self.skip(x) + h


class Downsample(nn.Module):
    """Strided 3x3 convolution: ``(B, C, H, W) -> (B, C_out, H/2, W/2)``."""

    def __init__(self, in_channels: int, out_channels: int | None = None) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels or in_channels, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class Upsample(nn.Module):
    """Nearest-neighbour x2 then 3x3 convolution (no checkerboard): ``(B, C, H, W) -> (B, C_out, 2H, 2W)``."""

    def __init__(self, in_channels: int, out_channels: int | None = None) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels or in_channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


def check_image_size(image_size: int, n_halvings: int) -> int:
    """The spatial size after ``n_halvings``; raises if ``image_size`` is not divisible by ``2**n_halvings``."""
    factor = 2**n_halvings
    if image_size < factor or image_size % factor:
        raise ValueError(f"image_size {image_size} must be a multiple of {factor} ({n_halvings} down-sampling levels)")
    return image_size // factor
