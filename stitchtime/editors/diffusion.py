"""Attribute edits with a conditional diffusion model (DDIM inversion), as a change of the crop.

The latent here is the DDIM-inverted image: each keyframe's model-space crop ``x`` (64 px) is
run backwards through the deterministic DDIM update to ``x_T0`` at depth ``T0`` (a fraction of
the noise schedule), with the classifier's attribute estimate ``c`` as the condition. From
``x_T0`` the model generates twice: with ``c`` and no guidance (the reconstruction, which DDIM
inversion makes close to ``x``), and with ``c'`` -- ``c`` with the edited attribute set to present
or absent -- guided ``w`` times from ``c`` (``eps_c + w (eps_c' - eps_c)``, so only the attribute is
amplified, not everything the condition says)::

    d_k = G_w(x_T0, c' | c) - G(x_T0, c)

The difference cancels what inversion alone changes, so ``d_k`` is the attribute. It is computed
on keyframes (every ``key_every``-th face frame, the expensive part), smoothed over keyframes,
interpolated to every frame, and carried onto the sharp crop by
:func:`~stitchtime.editors.transfer.flow_transfer` with ``x`` (the frame's own downsampled crop) as
the reconstruction: shape changes move the original's pixels, the rest is a colour change.
``|strength|`` scales the edit (the motion and the colour change); its sign picks the direction.
"""

from __future__ import annotations

import numpy as np
import torch
from tqdm import tqdm

from generative.device import all_threads
from stitchtime.config import DiffusionEditConfig, EditOptions, Method
from stitchtime.editors.attributes import Attribute
from stitchtime.editors.contract import CropBatch, CropEditor, CropSource
from stitchtime.editors.models import DiffusionModels
from stitchtime.editors.shared import estimate_attributes, region_mask, to_crop, to_model
from stitchtime.editors.transfer import flow_transfer
from stitchtime.errors import ModelError
from stitchtime.temporal.smooth import gaussian_smooth, gaussian_smooth_inplace

# The keyframe edits are kept for the whole video (24 KB a keyframe in float16: 92 MB for 10 minutes
# at 25 fps); float16 keeps them to 0.05% of their size, far below a grey level.
DELTA_DTYPE = torch.float16


class KeyframeStore:
    """The fit pass's keyframe images, in one ``(capacity, 3, s, s)`` float16 block allocated up front.

    Kept as one small tensor each (``x[j].half()``, 24 KB, and a copy of every face frame made and
    dropped), interleaved with the pass's short-lived buffers, they fragmented glibc's heap: its free
    but unreturned part grew with the video, up to ~100 MB a minute of 720p (BENCHMARKS.md "Memory on long
    videos"). One block (``torch.empty``: pages are touched only as slots fill) does not fragment
    and is freed whole.

    Slot ``k`` is the ``k``-th keyframe of :func:`keyframes` (the face frames seen are numbered in
    frame order; every ``every``-th one is a keyframe). A seen frame that is not a keyframe is
    written to the slot after its keyframe's, where the next keyframe overwrites it: so after the
    pass that slot holds the last face frame exactly when :func:`keyframes` appends it."""

    def __init__(self, n_frames: int, every: int, shape: tuple[int, ...], dtype: torch.dtype = DELTA_DTYPE):
        self.every = max(1, every)
        capacity = max(0, n_frames - 1) // self.every + 2  # the keyframes of n_frames face frames, and the last
        self.images = torch.empty(capacity, *shape, dtype=dtype)
        self.frames = np.full(capacity, -1, np.int64)  # frame index held by each slot
        self.seen = 0

    def add(self, frame: int, image: torch.Tensor) -> None:
        """The next face frame seen (frames in increasing order)."""
        k = self.seen // self.every + (self.seen % self.every != 0)
        self.images[k] = image  # (converted to the store's dtype, as .half() did)
        self.frames[k] = frame
        self.seen += 1

    def take(self, keys: np.ndarray) -> torch.Tensor:
        """``(len(keys), 3, s, s)`` images of the keyframes ``keys`` (:func:`keyframes` of the frames
        given to :meth:`add`): a view of the block."""
        if not np.array_equal(self.frames[: len(keys)], keys):
            raise RuntimeError(f"keyframe store out of step: {self.frames[: len(keys)]} != {keys}")
        return self.images[: len(keys)]


def keyframes(detected: np.ndarray, every: int) -> np.ndarray:
    """Frame indices to edit in full: every ``every``-th frame where the face was seen, and the
    last one (so every face frame lies between two keyframes or beyond the last)."""
    seen = np.flatnonzero(detected)
    if len(seen) == 0:
        return seen
    keys = seen[:: max(1, every)]
    return keys if keys[-1] == seen[-1] else np.append(keys, seen[-1])


class DiffusionEditor(CropEditor):
    """Edits by DDIM inversion with a conditional DDPM (``generative.models.ddpm.DDPMFamily``)."""

    def __init__(
        self,
        models: DiffusionModels,
        attribute: Attribute,
        strength: float = 1.0,
        config: DiffusionEditConfig = DiffusionEditConfig(),
        progress: bool = False,
    ):
        if attribute.celeba not in models.attributes:
            raise ModelError(
                f"the diffusion model cannot edit {attribute.name} ({attribute.celeba}); "
                f"it knows {', '.join(models.attributes)}"
            )
        self.models = models
        self.ddpm = models.ddpm
        self.attribute = attribute
        self.config = config
        self.progress = progress
        self.column = models.attributes.index(attribute.celeba)
        self.size = models.image_size
        self.mask = region_mask(attribute)
        self.direction = 1.0 if attribute.sign * strength >= 0 else 0.0  # target value of the attribute
        self.amount = abs(strength)
        self.guidance = attribute.guidance if config.guidance is None else config.guidance
        self._keys = np.zeros(0, np.int64)
        self._deltas = torch.zeros(0, 3, self.size, self.size)

    @classmethod
    def from_options(
        cls,
        models: DiffusionModels,
        attribute: Attribute,
        strength: float,
        method: Method,
        options: EditOptions,
        progress: bool,
    ) -> "DiffusionEditor":
        return cls(models, attribute, strength, options.diffusion, progress)

    @property
    def device(self) -> torch.device:
        return next(self.ddpm.parameters()).device

    def fit(self, source: CropSource, n_frames: int) -> None:
        store = KeyframeStore(n_frames, self.config.key_every, (3, self.size, self.size))

        def keep(batch: CropBatch, x: torch.Tensor, c: torch.Tensor, idx: np.ndarray, detected: np.ndarray) -> None:
            for j, i in enumerate(idx):
                if detected[j]:
                    store.add(int(i), x[j])

        frames = estimate_attributes(self.models, source, n_frames, keep)
        keys = keyframes(frames.detected, self.config.key_every)
        c = gaussian_smooth(frames.cond, frames.valid, self.config.cond_sigma).astype(np.float32)
        deltas = torch.zeros(len(keys), 3, self.size, self.size, dtype=DELTA_DTYPE)
        if self.amount > 0 and len(keys):
            deltas = self.edit_keyframes(store.take(keys), c[keys])
        store = None  # the keyframe images are no longer needed (frees the block)
        if len(keys) > 2 and self.config.key_sigma > 0:  # smooth the edit over keyframes (no breathing)
            gaussian_smooth_inplace(deltas, self.config.key_sigma)
        self._keys, self._deltas = keys, deltas

    def edit_keyframes(self, images: torch.Tensor | list[torch.Tensor], cond: np.ndarray) -> torch.Tensor:
        """The model-space edit ``(K, 3, s, s)`` of keyframe images ``[-1, 1]`` (a ``(K, 3, s, s)``
        tensor or a list of ``(3, s, s)`` ones) with attribute estimates ``cond`` ``(K, C)``: the
        attribute set to its target, minus the reconstruction."""
        e = self.config
        t0 = int(round(e.depth * (self.ddpm.schedule.num_train_timesteps - 1)))
        out = torch.zeros(len(images), 3, self.size, self.size, dtype=DELTA_DTYPE)
        bs = max(1, e.batch)
        bar = tqdm(
            total=len(images),
            desc="diffusion edit (keyframes)",
            leave=False,
            disable=not self.progress,
            dynamic_ncols=True,
            unit="key",
        )
        # The video passes run torch on one thread; the keyframes have the cores to themselves.
        # Always float32: bf16 would run them 2.9x faster here, but its rounding inside the U-Net
        # adds a speckle over the whole crop of about a quarter of the edit's size (d3 smile).
        with all_threads():
            for s in range(0, len(images), bs):
                chunk = images[s : s + bs]
                x = (chunk if isinstance(chunk, torch.Tensor) else torch.stack(chunk)).float().to(self.device)
                c = torch.from_numpy(cond[s : s + bs]).to(self.device)
                c_edit = c.clone()
                c_edit[:, self.column] = self.direction
                x_t = self.ddpm.ddim_invert(x, c, t0, e.steps)
                rec = self.ddpm.ddim_generate(x_t, c, t0, e.steps)
                edited = self.ddpm.ddim_generate(x_t, c_edit, t0, e.steps, self.guidance, base_cond=c)
                out[s : s + len(x)] = (edited - rec).to("cpu", DELTA_DTYPE)
                bar.update(len(x))
        bar.close()
        return out

    def _delta_at(self, frames: torch.Tensor) -> torch.Tensor:
        """Model-space edit of each frame: linear between the neighbouring keyframes."""
        keys = self._keys
        if len(keys) == 0:
            return torch.zeros(len(frames), 3, self.size, self.size)
        f = frames.numpy().astype(np.float64)
        pos = np.interp(f, keys.astype(np.float64), np.arange(len(keys), dtype=np.float64))
        lo = np.floor(pos).astype(np.int64)
        hi = np.minimum(lo + 1, len(keys) - 1)
        w = torch.from_numpy((pos - lo).astype(np.float32))[:, None, None, None]
        return (1 - w) * self._deltas[lo].float() + w * self._deltas[hi].float()

    def _pair(self, batch: CropBatch) -> tuple[torch.Tensor, torch.Tensor]:
        x = to_model(batch.crops, self.size)
        return x, (x + self._delta_at(batch.frame_indices)).clamp(-1, 1)

    def delta(self, batch: CropBatch, scale: float = 1.0) -> torch.Tensor:
        x, out = self._pair(batch)
        return flow_transfer(batch.crops, x, out, self.config.colour_limit, amount=scale * self.amount)

    def edited(self, batch: CropBatch) -> torch.Tensor:
        """The model-space edited crop, upsampled (what ``--blend replace`` pastes)."""
        _, out = self._pair(batch)
        return to_crop(out, batch.crops.shape[-1])
