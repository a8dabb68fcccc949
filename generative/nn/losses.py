"""Losses shared by the families. All return a scalar mean over the batch."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

LAPLACIAN_LEVELS = 4  # pyramid levels for laplacian_pyramid_loss (64 px -> 8 px)
RANDOM_FEATURE_SEED = 1234  # the fixed random feature net is regenerated from this seed, never saved


def gaussian_kl(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, exp(logvar)) || N(0, I)) summed over latent dims, ``(B,)``."""
    return 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar).flatten(1).sum(1)


def _blur_down(x: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(x, 2)


def laplacian_pyramid_loss(x: torch.Tensor, y: torch.Tensor, levels: int = LAPLACIAN_LEVELS) -> torch.Tensor:
    """L1 between Laplacian pyramids: band-pass detail at each scale, plus the coarsest low-pass.

    Cheap (no network) and it penalises lost edges and texture much more than plain L1,
    which is dominated by the low frequencies; it sharpens VAE reconstructions.
    """
    loss = x.new_zeros(())
    for _ in range(levels):
        if min(x.shape[-2:]) < 2:
            break
        x_down, y_down = _blur_down(x), _blur_down(y)
        x_band = x - F.interpolate(x_down, scale_factor=2.0, mode="nearest")
        y_band = y - F.interpolate(y_down, scale_factor=2.0, mode="nearest")
        loss = loss + (x_band - y_band).abs().mean()
        x, y = x_down, y_down
    return loss + (x - y).abs().mean()


class RandomFeatureLoss(nn.Module):
    """L1 between features of a fixed, randomly initialised conv net (no downloaded weights).

    Random conv features are a known cheap stand-in for a perceptual loss. The net is rebuilt
    from :data:`RANDOM_FEATURE_SEED` on construction; its weights are non-persistent buffers,
    so they are never saved and can't be trained.
    """

    def __init__(self, widths: tuple[int, ...] = (32, 64, 128), seed: int = RANDOM_FEATURE_SEED) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        in_ch = 3
        self.n_layers = len(widths)
        for i, width in enumerate(widths):
            weight = torch.randn(width, in_ch, 3, 3, generator=generator) * (2.0 / (in_ch * 9)) ** 0.5
            self.register_buffer(f"w{i}", weight, persistent=False)
            in_ch = width

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for i in range(self.n_layers):
            x = F.leaky_relu(F.conv2d(x, getattr(self, f"w{i}"), padding=1, stride=2 if i else 1), 0.2)
            feats.append(x)
        return feats

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        loss = x.new_zeros(())
        for fx, fy in zip(self.features(x), self.features(y)):
            loss = loss + (fx - fy).abs().mean()
        return loss / self.n_layers


def gan_d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor, kind: str) -> torch.Tensor:
    """Discriminator loss: ``"hinge"`` or ``"nonsat"`` (logistic / non-saturating)."""
    if kind == "hinge":
        return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()
    if kind == "nonsat":
        return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()
    raise ValueError(f"unknown GAN loss {kind!r}; choose 'hinge' or 'nonsat'")


def gan_g_loss(fake_logits: torch.Tensor, kind: str) -> torch.Tensor:
    """Generator loss matching :func:`gan_d_loss`."""
    if kind == "hinge":
        return -fake_logits.mean()
    if kind == "nonsat":
        return F.softplus(-fake_logits).mean()
    raise ValueError(f"unknown GAN loss {kind!r}; choose 'hinge' or 'nonsat'")
