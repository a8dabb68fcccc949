"""Attribute edits with a conditional VAE, expressed as a change of the original crop.

Per video: invert every crop (classifier -> attribute estimate ``c_t``, encoder -> ``z_t``),
smooth both over time, optionally tune the decoder to this video, then for each frame

    delta_t = transfer( D(z_t, c'_t) - D(z_t, c_t) )

where ``c'_t`` moves the edited attribute towards present (strength > 0) or absent
(strength < 0): ``c' = c + s (1 - c)`` for ``s >= 0`` and ``c' = c + s c`` for ``s < 0`` (so
``s = 1`` means "fully present", ``s = -1`` "fully absent", ``|s| > 1`` extrapolates), or (method
direction) ``z_t`` moves along a fitted linear direction. The pipeline adds ``mask * delta`` to
the original frame: only what the attribute changes is touched, the original detail stays.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from generative.device import inference_autocast
from generative.models.autoencoder import ConvDecoder
from stitchtime.config import CVAEEditConfig, EditOptions, Method, Transfer
from stitchtime.editors.attributes import Attribute
from stitchtime.editors.contract import CropBatch, CropEditor, CropSource
from stitchtime.editors.inversion import LatentTrack, invert, tune_decoder
from stitchtime.editors.models import DIRECTIONS_FILE, CVAEModels
from stitchtime.editors.shared import region_mask, to_crop
from stitchtime.editors.transfer import flow_transfer
from stitchtime.errors import ModelError
from stitchtime.temporal.smooth import gaussian_smooth


def edited_condition(cond: np.ndarray, column: int, strength: float) -> np.ndarray:
    """Move one attribute column of ``cond`` ``(T, C)`` by a signed strength (see module doc)."""
    out = np.array(cond, dtype=np.float32, copy=True)
    c = out[:, column]
    out[:, column] = c + strength * (1.0 - c) if strength >= 0 else c + strength * c
    return out


def condition_gain(attribute: Attribute, config: CVAEEditConfig, celeba_strength: float) -> float:
    """How far strength 1 moves the attribute input: ``config.cond_gain`` if set, else the
    attribute's own gain for that direction."""
    return attribute.gain(celeba_strength) if config.cond_gain is None else config.cond_gain


class CVAEEditor(CropEditor):
    """Edits through the cVAE's attribute input (``Method.cond``) or along a latent direction
    (``Method.direction``)."""

    def __init__(
        self,
        models: CVAEModels,
        attribute: Attribute,
        strength: float = 1.0,
        method: Method = Method.cond,
        config: CVAEEditConfig = CVAEEditConfig(),
        progress: bool = False,
    ):
        if method not in (Method.cond, Method.direction):
            raise ValueError(f"the cVAE editor edits by {Method.cond.value} or {Method.direction.value}, not {method}")
        if method is Method.direction and models.directions is None:
            raise ModelError(f"{models.source} has no {DIRECTIONS_FILE}: use --method cond")
        self.models = models
        self.attribute = attribute
        self.strength = strength
        self.method = method
        self.config = config
        self.progress = progress
        self.column = models.attributes.index(attribute.celeba)
        self.mask = region_mask(attribute)
        self.track: LatentTrack | None = None
        self.decoder: ConvDecoder | None = None

    @classmethod
    def from_options(
        cls,
        models: CVAEModels,
        attribute: Attribute,
        strength: float,
        method: Method,
        options: EditOptions,
        progress: bool,
    ) -> "CVAEEditor":
        return cls(models, attribute, strength, method, options.cvae, progress)

    @property
    def device(self) -> torch.device:
        return next(self.models.cvae.parameters()).device

    def fit(self, source: CropSource, n_frames: int) -> None:
        cfg = self.config
        track = invert(self.models, source, n_frames, cfg.invert)
        z = gaussian_smooth(track.latents, track.valid, cfg.latent_sigma).astype(np.float32)
        c = gaussian_smooth(track.cond, track.valid, cfg.cond_sigma).astype(np.float32)
        self.decoder = tune_decoder(self.models, track, z, c, cfg.invert, self.progress)
        strength = self.attribute.sign * self.strength
        z_edit, c_edit = z, c
        if self.method is Method.direction:
            assert self.models.directions is not None  # checked in __init__
            z_edit = z + self.models.directions.shift(self.attribute.celeba, strength)[None]
        else:
            c_edit = edited_condition(c, self.column, strength * condition_gain(self.attribute, cfg, strength))
        self.track = track
        self._z, self._z_edit = torch.from_numpy(np.nan_to_num(z)), torch.from_numpy(np.nan_to_num(z_edit))
        self._c, self._c_edit = torch.from_numpy(np.nan_to_num(c)), torch.from_numpy(np.nan_to_num(c_edit))

    def _decode_pair(self, batch: CropBatch) -> tuple[torch.Tensor, torch.Tensor]:
        if self.decoder is None:
            raise RuntimeError("CVAEEditor.fit must run before delta/edited")
        idx = batch.frame_indices
        z = torch.cat([self._z[idx], self._z_edit[idx]]).to(self.device)
        c = torch.cat([self._c[idx], self._c_edit[idx]]).to(self.device)
        with torch.no_grad(), inference_autocast(self.device, self.config.precision.value):
            rec, out = self.decoder(z, c).float().cpu().chunk(2)  # one call: the larger batch runs faster
        return rec, out

    def delta(self, batch: CropBatch, scale: float = 1.0) -> torch.Tensor:
        """The change to add to each crop; ``scale`` < 1 gives a smaller edit of the same kind
        (the identity guard's knob)."""
        rec, out = self._decode_pair(batch)
        size = batch.crops.shape[-1]
        if self.config.transfer is Transfer.residual:
            return F.interpolate((out - rec) * (127.5 * scale), size=(size, size), mode="bicubic", align_corners=False)
        return flow_transfer(batch.crops, rec, out, self.config.colour_limit, amount=scale)

    def edited(self, batch: CropBatch) -> torch.Tensor:
        _, out = self._decode_pair(batch)
        return to_crop(out, batch.crops.shape[-1])
