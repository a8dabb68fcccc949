"""Invert aligned crops into the cVAE's latent space, and tune its decoder to one video.

Convention: crops arrive as ``(B, 3, S, S)`` in ``[0, 255]`` (pipeline units); the model
sees ``(B, 3, s, s)`` in ``[-1, 1]`` at its own resolution ``s`` (area-downsampled).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from generative.device import all_threads
from stitchtime.config import InvertConfig
from stitchtime.latents.editor import CropSource
from stitchtime.latents.model import EditorModels


def to_model(crops: torch.Tensor, size: int) -> torch.Tensor:
    """Pipeline crops ``[0, 255]`` -> model input ``[-1, 1]`` at ``size`` (antialiased)."""
    x = crops / 127.5 - 1.0
    if x.shape[-1] != size:
        x = F.interpolate(x, size=(size, size), mode="area")
    return x


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
def invert(models: EditorModels, source: CropSource, n_frames: int, config: InvertConfig = InvertConfig()) -> LatentTrack:
    """One pass over the crops: attribute estimates (classifier) and latents (encoder mean)."""
    dev = next(models.cvae.parameters()).device
    cols = models.classifier_columns()
    size = models.image_size
    d = models.cvae.config.latent_dim
    latents = np.full((n_frames, d), np.nan, np.float32)
    cond = np.full((n_frames, len(cols)), np.nan, np.float32)
    valid = np.zeros(n_frames, bool)
    detected = np.zeros(n_frames, bool)
    keep: dict[int, torch.Tensor] = {}
    stride = max(1, n_frames // max(1, config.tune_frames))
    for batch in source():
        x = to_model(batch.crops, size).to(dev)
        c = models.classifier.predict(x)[:, cols]
        z = models.cvae.encode(x, c).latent
        idx = batch.frame_indices.numpy()
        latents[idx] = z.cpu().numpy()
        cond[idx] = c.cpu().numpy()
        valid[idx] = True
        detected[idx] = True if batch.detected is None else batch.detected.numpy()
        for j, i in enumerate(idx):
            if i % stride == 0 and len(keep) < config.tune_frames and detected[i]:
                keep[int(i)] = x[j].cpu()
    frames = np.array(sorted(keep), dtype=np.int64)
    images = torch.stack([keep[i] for i in frames]) if len(frames) else torch.zeros(0, 3, size, size)
    # bridged gaps (the face hidden or missed): latents from the neighbours, not from the occluder
    gap = valid & ~detected
    if gap.any() and detected.any():
        known = np.flatnonzero(detected)
        for arr in (latents, cond):
            for col in range(arr.shape[1]):
                arr[gap, col] = np.interp(np.flatnonzero(gap), known, arr[known, col])
    return LatentTrack(latents=latents, cond=cond, valid=valid, detected=detected, tune_images=images, tune_frames=frames)


def tune_decoder(models: EditorModels, track: LatentTrack, latents: np.ndarray, cond: np.ndarray, config: InvertConfig, progress: bool = False) -> torch.nn.Module:
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
