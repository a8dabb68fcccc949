"""The editor contract: everything the video pipeline asks of an edit.

The pipeline hands an editor batches of aligned crops and receives, for each, the edit expressed
as a **change of the crop** (:meth:`CropEditor.delta`, same shape, ``[0, 255]`` units). Pasting
adds ``mask * delta`` to the frame, so an editor that changes nothing leaves the video
bit-identical (``--attr none`` is exactly that editor on the real path, not a special case).

Editors that need to see the whole video first (inversion, per-video tuning, temporal smoothing
of latents or of keyframe edits) set ``needs_fit`` and implement :meth:`CropEditor.fit`, which
the pipeline calls with a re-iterable source of crop batches before the render pass. An editor
says which region of the face it owns (``mask``), and whether its ``delta`` looks at the
crops' pixels at all (``reads_crops``: the empty edit does not, so the pipeline skips the warps).
An editor that reshapes the face may also give its edit as a ``motion`` field, which the
pipeline applies to the frame's own pixels.

Adding an editor: one module in this folder with a :class:`CropEditor` subclass, plus one entry
in :data:`stitchtime.editors.registry.EDITORS`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Callable, ClassVar, Iterator

import numpy as np
import torch

from stitchtime.config import MaskConfig


@dataclass
class CropBatch:
    """Aligned crops of consecutive face frames.

    ``crops`` may be given as a zero-argument function: it is then computed on first use, so an
    editor that never looks at the pixels (the empty edit) does not pay for the warps."""

    frame_indices: torch.Tensor  # (B,) long: frame number of each crop
    crops_source: "torch.Tensor | Callable[[], torch.Tensor]"  # (B, 3, S, S) float in [0, 255], or how to make it
    masks: torch.Tensor  # (B, 1, S, S) float in [0, 1]
    detected: torch.Tensor | None = None  # (B,) bool: face seen (False: bridged by interpolation)
    landmarks: torch.Tensor | None = None  # (B, 68, 2) float: the face's landmarks in crop pixels (smoothed)
    # The whole frames the crops come from (uint8 RGB) and each crop's (2, 3) frame -> crop matrix,
    # where the pipeline has them: for an editor whose fit must see past the crop (the hair)
    frames: list | None = None
    matrices: "np.ndarray | None" = None

    @property
    def crops(self) -> torch.Tensor:
        if callable(self.crops_source):
            self.crops_source = self.crops_source()
        return self.crops_source

    @property
    def crop_shape(self) -> tuple[int, int, int, int]:
        b, _, s, _ = self.masks.shape
        return (b, 3, s, s)


CropSource = Callable[[], Iterator[CropBatch]]


class CropEditor(ABC):
    """An edit of aligned face crops. Subclasses implement :meth:`delta` and :meth:`edited`, and
    :meth:`fit` when ``needs_fit``."""

    #: True if :meth:`fit` must see every crop before :meth:`delta` is called.
    needs_fit: ClassVar[bool] = True
    #: Whether the render pass reads the crops' pixels (:meth:`delta`, :meth:`motion`; False: the
    #: pipeline need not warp them there; :meth:`fit` may read them all the same).
    reads_crops: ClassVar[bool] = True
    #: Whether :meth:`fit` reads the crops' pixels (False: the fit pass need not warp them; the
    #: crops are still warped, on the fit's own thread, if it reads them all the same).
    fit_reads_crops: ClassVar[bool] = True
    #: The region this edit needs (None: the pipeline's own mask, ``PipelineConfig.mask``).
    mask: MaskConfig | None = None
    #: For a :meth:`motion` edit: resample the moved pixels sharply (Lanczos-4 plus a light unsharp
    #: mask) rather than with plain cubic (what ``--fast`` asks for).
    sharp_resample: bool = True
    #: True for an editor that draws on the frames themselves (:meth:`paint`, given the crops'
    #: matrices) instead of having its :meth:`delta` pasted, in every blend mode: an object with
    #: crisp edges (drawn glasses), which a crop-space change resampled into the frame would soften.
    draws_on_frames: ClassVar[bool] = False
    #: Whether the identity guard (:mod:`stitchtime.render.identity_guard`) may scale this edit
    #: down. False for an edit that adds an object and leaves the face's own pixels alone (drawn
    #: glasses): the descriptor moves because it sees the object, and a fainter object is no fix.
    identity_guarded: ClassVar[bool] = True
    #: What the editor has to tell the user once :meth:`fit` has seen the video (e.g. that there is
    #: nothing to change); the pipeline adds them to the edit's notes.
    notes: tuple[str, ...] = ()

    def fit(self, source: CropSource, n_frames: int) -> None:  # noqa: B027 - optional, no-op by default
        """See the whole video (``source()`` yields its crop batches, in frame order)."""

    def motion(self, batch: CropBatch, scale: float = 1.0) -> torch.Tensor | None:
        """``(B, 2, S, S)`` backward displacement (crop pixels) for an edit that moves the face's own
        pixels: the edited crop at ``q`` shows the original at ``q + motion(q)``. The pipeline then
        warps the frames directly (one resampling, :mod:`stitchtime.render.motion`) instead of
        pasting :meth:`delta`. None (the default): the edit is its delta."""
        return None

    def paint(
        self,
        frames: list,
        batch: CropBatch,
        matrices,
        scale: float = 1.0,
        weights=None,
    ) -> list:
        """After a :meth:`motion` edit has warped ``frames`` (uint8 RGB, one per crop of ``batch``;
        ``matrices`` frame -> crop): paint what the motion cannot bring into view, e.g. the mouth
        interior a smile opens; for a ``draws_on_frames`` editor, the whole edit. ``weights``
        ``(B,)``: the per-frame fades. Default: nothing."""
        return frames

    @abstractmethod
    def delta(self, batch: CropBatch, scale: float = 1.0) -> torch.Tensor:
        """``(B, 3, S, S)`` change to add to each crop (``[0, 255]`` units); ``scale`` in
        ``[0, 1]`` asks for a smaller edit of the same kind (the identity guard)."""

    @abstractmethod
    def edited(self, batch: CropBatch) -> torch.Tensor:
        """``(B, 3, S, S)`` whole edited crops (``[0, 255]``), for ``--blend replace``."""
