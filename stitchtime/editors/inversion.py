"""Invert aligned crops into the cVAE's latent space, and tune its decoder to one video
(the cVAE editor's fit; crop and model conventions in :mod:`stitchtime.editors.shared`)."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from generative.device import all_threads
from generative.models.autoencoder import ConvDecoder
from stitchtime.config import InvertConfig
from stitchtime.editors.contract import CropBatch, CropSource
from stitchtime.editors.models import CVAEModels
from stitchtime.editors.shared import estimate_attributes


@dataclass
class LatentTrack:
    """Per-frame latents and attribute estimates of the tracked face (NaN where no face)."""

    latents: np.ndarray  # (T, D)
    cond: np.ndarray  # (T, C) classifier probabilities for the cVAE's attributes
    valid: np.ndarray  # (T,) bool
    detected: np.ndarray  # (T,) bool: the face was seen (not a bridged gap)
    tune_images: torch.Tensor  # (K, 3, s, s) model-space crops kept for decoder tuning
    tune_frames: np.ndarray  # (K,) their frame indices


@torch.no_grad()
def invert(models: CVAEModels, source: CropSource, n_frames: int, config: InvertConfig = InvertConfig()) -> LatentTrack:
    """One pass over the crops: attribute estimates (classifier) and latents (encoder mean)."""
    latents = np.full((n_frames, models.cvae.config.latent_dim), np.nan, np.float32)
    keep: dict[int, torch.Tensor] = {}
    stride = max(1, n_frames // max(1, config.tune_frames))

    def encode(batch: CropBatch, x: torch.Tensor, c: torch.Tensor, idx: np.ndarray, detected: np.ndarray) -> None:
        latents[idx] = models.cvae.encode(x, c).latent.cpu().numpy()
        for j, i in enumerate(idx):
            if i % stride == 0 and len(keep) < config.tune_frames and detected[j]:
                keep[int(i)] = x[j].cpu()

    seen = estimate_attributes(models, source, n_frames, encode)
    cond, valid, detected = seen.cond, seen.valid, seen.detected
    frames = np.array(sorted(keep), dtype=np.int64)
    size = models.image_size
    images = torch.stack([keep[i] for i in frames]) if len(frames) else torch.zeros(0, 3, size, size)
    # bridged gaps (the face hidden or missed): latents from the neighbours, not from the occluder
    gap = valid & ~detected
    if gap.any() and detected.any():
        known = np.flatnonzero(detected)
        for arr in (latents, cond):
            for col in range(arr.shape[1]):
                arr[gap, col] = np.interp(np.flatnonzero(gap), known, arr[known, col])
    return LatentTrack(
        latents=latents, cond=cond, valid=valid, detected=detected, tune_images=images, tune_frames=frames
    )


def tune_decoder(
    models: CVAEModels,
    track: LatentTrack,
    latents: np.ndarray,
    cond: np.ndarray,
    config: InvertConfig,
    progress: bool = False,
) -> ConvDecoder:
    """A copy of the decoder fine-tuned so ``decode(z_t, c_t)`` reproduces this video's crops
    (latents and attributes fixed: the "pivots"). Returns the tuned decoder (eval mode)."""
    decoder = copy.deepcopy(models.cvae.decoder)
    if config.tune_steps <= 0 or len(track.tune_frames) == 0:
        return decoder.eval()
    dev = next(decoder.parameters()).device
    for p in decoder.parameters():
        p.requires_grad_(True)
    decoder.train()
    opt = torch.optim.Adam(decoder.parameters(), lr=config.tune_lr)
    x_all = track.tune_images.to(dev)
    z_all = torch.from_numpy(latents[track.tune_frames]).to(dev)
    c_all = torch.from_numpy(cond[track.tune_frames]).to(dev)
    loss_fn = models.cvae.loss
    gen = torch.Generator().manual_seed(0)
    bar = tqdm(range(config.tune_steps), desc="tune decoder", leave=False, disable=not progress, dynamic_ncols=True)
    with all_threads():  # the video passes run torch on one thread; tuning has the cores to itself
        for _ in bar:
            pick = torch.randperm(len(x_all), generator=gen)[: config.tune_batch].to(dev)
            out = decoder(z_all[pick], c_all[pick])
            pixel, sharp = loss_fn(out, x_all[pick])
            loss = pixel + models.cvae.config.perceptual_weight * sharp
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            bar.set_postfix(loss=f"{loss.item():.4f}")
    for p in decoder.parameters():
        p.requires_grad_(False)
    return decoder.eval()
