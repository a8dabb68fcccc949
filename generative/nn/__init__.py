"""Shared building blocks (convolutional blocks, losses) for the model families."""

from generative.nn.blocks import Downsample, ResBlock, Upsample, group_norm
from generative.nn.losses import (
    RandomFeatureLoss,
    gan_d_loss,
    gan_g_loss,
    gaussian_kl,
    laplacian_pyramid_loss,
)

__all__ = [
    "Downsample",
    "ResBlock",
    "Upsample",
    "group_norm",
    "gan_d_loss",
    "gan_g_loss",
    "gaussian_kl",
    "laplacian_pyramid_loss",
    "RandomFeatureLoss",
]
