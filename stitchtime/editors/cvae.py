"""Attribute edits with a conditional VAE, expressed as a residual on the original crop.

Per video: invert every crop (classifier -> attribute estimate ``c_t``, encoder -> ``z_t``),
smooth both over time, optionally tune the decoder to this video, then for each frame

    delta_t = up( D(z_t, c'_t) - D(z_t, c_t) )

where ``c'_t`` moves the edited attribute towards present (strength > 0) or absent
(strength < 0): ``c' = c + s (1 - c)`` for ``s >= 0`` and ``c' = c + s c`` for ``s < 0`` (so
``s = 1`` means "fully present", ``s = -1`` "fully absent", ``|s| > 1`` extrapolates).
The pipeline adds ``mask * delta`` to the original frame: only what the attribute changes
is touched, the original detail stays.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from generative.device import inference_autocast
from stitchtime.config import REGION_MASKS, EditConfig, InvertConfig, MaskConfig
from stitchtime.latents.attributes import Attribute
from stitchtime.latents.editor import CropBatch, CropSource
from stitchtime.latents.invert import LatentTrack, invert, to_model, tune_decoder
from stitchtime.errors import ModelError
from stitchtime.latents.model import DIRECTIONS_FILE, EditorModels
from stitchtime.temporal.smooth import gaussian_smooth


def edited_condition(cond: np.ndarray, column: int, strength: float) -> np.ndarray:
    """Move one attribute column of ``cond`` ``(T, C)`` by a signed strength (see module doc)."""
    out = np.array(cond, dtype=np.float32, copy=True)
    c = out[:, column]
    out[:, column] = c + strength * (1.0 - c) if strength >= 0 else c + strength * c
    return out


def condition_gain(attribute: Attribute, edit: EditConfig, celeba_strength: float) -> float:
    """How far strength 1 moves the attribute input: ``edit.cond_gain`` if set, else the
    attribute's own gain for that direction."""
    return attribute.gain(celeba_strength) if edit.cond_gain is None else edit.cond_gain


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


def flow_transfer(crops: torch.Tensor, rec: torch.Tensor, out: torch.Tensor, colour_limit: float = 0.0, amount: float = 1.0) -> torch.Tensor:
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
    target_hwc = (rec + amount * (out - rec)).permute(0, 2, 3, 1).contiguous().numpy()  # the decode of the smaller edit, approximately
    crops_hwc = crops.permute(0, 2, 3, 1).contiguous().numpy()
    for i in todo:
        flow = cv2.calcOpticalFlowFarneback(_gray(out[i]), _gray(rec[i]), None, *_FLOW_ARGS) * amount  # out(p) ~ rec(p + flow)
        moved_rec = cv2.remap(rec_hwc[i], small_x + flow[..., 0], small_y + flow[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
        colour = cv2.resize((target_hwc[i] - moved_rec) * 127.5, (size, size), interpolation=cv2.INTER_CUBIC)
        big = cv2.resize(flow, (size, size), interpolation=cv2.INTER_LINEAR) * (size / s)
        moved = cv2.remap(crops_hwc[i], grid_x + big[..., 0], grid_y + big[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
        deltas[i] = moved - crops_hwc[i] + soft_limit(colour, colour_limit)
    return torch.from_numpy(deltas).permute(0, 3, 1, 2).contiguous()


class CVAEEditor:
    """A :class:`~stitchtime.latents.editor.CropEditor` backed by a conditional VAE."""

    needs_fit = True

    def __init__(
        self,
        models: EditorModels,
        attribute: Attribute,
        edit: EditConfig = EditConfig(),
        invert_config: InvertConfig = InvertConfig(),
        progress: bool = False,
    ):
        self.models = models
        self.attribute = attribute
        self.edit = edit
        self.invert_config = invert_config
        self.progress = progress
        self.column = models.attributes.index(attribute.celeba)
        # None for the whole face: the pipeline's own mask (which callers may have set) applies
        self.mask: MaskConfig | None = None if attribute.region == "face" else REGION_MASKS[attribute.region]
        self.track: LatentTrack | None = None
        self._z: torch.Tensor | None = None
        self._c: torch.Tensor | None = None
        self._c_edit: torch.Tensor | None = None
        self._z_edit: torch.Tensor | None = None
        self.decoder: torch.nn.Module | None = None

    @property
    def device(self) -> torch.device:
        return next(self.models.cvae.parameters()).device

    def fit(self, source: CropSource, n_frames: int) -> None:
        track = invert(self.models, source, n_frames, self.invert_config)
        z = gaussian_smooth(track.latents, track.valid, self.edit.latent_sigma).astype(np.float32)
        c = gaussian_smooth(track.cond, track.valid, self.edit.cond_sigma).astype(np.float32)
        self.decoder = tune_decoder(self.models, track, z, c, self.invert_config, self.progress)
        strength = self.attribute.sign * self.edit.strength
        if self.edit.method == "direction":
            if self.models.directions is None:
                raise ModelError(f"{self.models.source} has no {DIRECTIONS_FILE}: use --method cond")
            z_edit = z + self.models.directions.shift(self.attribute.celeba, strength)[None]
            c_edit = c
        elif self.edit.method == "cond":
            z_edit = z
            c_edit = edited_condition(c, self.column, strength * condition_gain(self.attribute, self.edit, strength))
        else:
            raise ValueError(f"unknown edit method {self.edit.method!r}; valid: cond, direction")
        self.track = track
        self._z = torch.from_numpy(np.nan_to_num(z))
        self._z_edit = torch.from_numpy(np.nan_to_num(z_edit))
        self._c = torch.from_numpy(np.nan_to_num(c))
        self._c_edit = torch.from_numpy(np.nan_to_num(c_edit))

    def _decode_pair(self, batch: CropBatch) -> tuple[torch.Tensor, torch.Tensor]:
        if self.decoder is None:
            raise RuntimeError("CVAEEditor.fit must run before delta/edited")
        idx = batch.frame_indices
        z = torch.cat([self._z[idx], self._z_edit[idx]]).to(self.device)
        c = torch.cat([self._c[idx], self._c_edit[idx]]).to(self.device)
        with torch.no_grad(), inference_autocast(self.device, self.edit.precision):
            rec, out = self.decoder(z, c).float().cpu().chunk(2)  # one call: the larger batch runs faster
        return rec, out

    def delta(self, batch: CropBatch, scale: float = 1.0) -> torch.Tensor:
        """The change to add to each crop; ``scale`` < 1 gives a smaller edit of the same kind
        (the identity guard's knob)."""
        rec, out = self._decode_pair(batch)
        size = batch.crops.shape[-1]
        if self.edit.transfer == "residual":
            return F.interpolate((out - rec) * (127.5 * scale), size=(size, size), mode="bicubic", align_corners=False)
        if self.edit.transfer != "flow":
            raise ValueError(f"unknown transfer {self.edit.transfer!r}; valid: flow, residual")
        return flow_transfer(batch.crops, rec, out, self.edit.colour_limit, amount=scale)

    def edited(self, batch: CropBatch) -> torch.Tensor:
        _, out = self._decode_pair(batch)
        size = batch.crops.shape[-1]
        return F.interpolate((out.clamp(-1, 1) + 1) * 127.5, size=(size, size), mode="bicubic", align_corners=False).clamp(0, 255)

    @torch.no_grad()
    def reconstruct(self, crops: torch.Tensor, frame_indices: torch.Tensor) -> torch.Tensor:
        """Model-space reconstructions of crops (for previews/diagnostics)."""
        rec, _ = self._decode_pair(CropBatch(frame_indices=frame_indices, crops_source=crops, masks=torch.ones_like(crops[:, :1])))
        return rec

    def model_input(self, crops: torch.Tensor) -> torch.Tensor:
        return to_model(crops, self.models.image_size)
