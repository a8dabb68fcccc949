"""Frozen configuration objects, one per pipeline stage. The CLI fills them in."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class DetectorBackend(str, Enum):
    dlib = "dlib"
    face_alignment = "face-alignment"


@dataclass(frozen=True)
class DetectConfig:
    backend: DetectorBackend = DetectorBackend.dlib
    max_side: int = 640  # frames are downscaled so their longer side is at most this for detection
    upsample: int = 1  # dlib HOG pyramid upsampling on the (downscaled) frame; finds small faces
    redetect_every: int = 5  # confirm the face by detection (in a window) every N frames; between, follow the landmarks
    lost_detect_every: int = 3  # while no face is tracked, run the full detector every N frames (found: followed back)
    min_face: int = 24  # faces whose eye-to-mouth span (px, full frame) is smaller are skipped
    face_index: int | None = None  # None: the largest face; N: the N-th face left-to-right on the first face frame


@dataclass(frozen=True)
class TrackConfig:
    max_gap: int = 5  # gaps of at most this many frames are bridged by interpolation


@dataclass(frozen=True)
class AlignConfig:
    crop_size: int = 256
    # STIT's temporal smoothing of the quad: centre and axis vectors, in frames.
    sigma_center: float = 1.0
    sigma_axis: float = 3.0
    # The smoothed centre never lags the face by more than this fraction of the crop side: the
    # smoothing removes landmark jitter (well under 1% of the crop) but not real motion, which the
    # edit must follow (a lagging crop put the edit beside a fast-moving face; measured on s13).
    max_center_lag: float = 0.006


@dataclass(frozen=True)
class MaskConfig:
    forehead: float = 0.6  # brows are raised by forehead x (nose-top-to-chin)/2 to reach the forehead
    feather: float = 0.06  # blur sigma of the mask edge, as a fraction of the crop size
    erode: float = 0.0  # shrink (>0) or grow (<0) the hull, fraction of crop size
    # Which part of the face: "face" (jaw + brows + forehead), "lower" (cheeks, mouth, chin: below
    # landmark 29, two-thirds down the nose), "eyes" (a band from the forehead down to landmark 29).
    region: str = "face"


# The larger region used by hair attributes: forehead raised to the hairline and the hull grown.
HEAD_MASK = MaskConfig(forehead=1.6, feather=0.07, erode=-0.07)
# Attributes that live in one part of the face edit only that part (the rest stays the original).
LOWER_MASK = MaskConfig(region="lower", feather=0.05, erode=-0.03)
EYES_MASK = MaskConfig(region="eyes", forehead=0.3, feather=0.05, erode=-0.03)
REGION_MASKS = {"face": MaskConfig(), "head": HEAD_MASK, "lower": LOWER_MASK, "eyes": EYES_MASK}


@dataclass(frozen=True)
class EncodeConfig:
    codec: str = "libx264"
    crf: int = 15  # measured: worst-frame PSNR >= 40 dB after a round trip on every shared clip (17 gave 39.6 on d9)
    preset: str = "medium"
    pix_fmt: str = "yuv420p"


@dataclass(frozen=True)
class InvertConfig:
    """Encoder inversion + optional per-video decoder tuning ("pivotal tuning", STIT)."""

    tune_steps: int = 60  # decoder fine-tuning steps on this video's crops (0: off)
    tune_lr: float = 1e-4
    tune_frames: int = 64  # crops kept (evenly spaced) for tuning
    tune_batch: int = 16
    batch_size: int = 32  # encoder batch


@dataclass(frozen=True)
class EditConfig:
    attr: str = "none"
    strength: float = 1.0
    latent_sigma: float = 2.0  # temporal smoothing of the per-frame latents (frames)
    cond_sigma: float = 4.0  # temporal smoothing of the classifier's attribute estimates (frames)
    # strength 1 moves the attribute input this many units towards "present" (1.0: exactly to it).
    # None: the attribute's own gain (stitchtime.latents.attributes; 1.5 for most, 2.0 for older
    # and 2.5 for more masculine, which the shipped cVAE follows less readily). More extrapolates further.
    cond_gain: float | None = None
    # "auto": the attribute's measured default (Attribute.method); "cond": change the cVAE's
    # attribute input; "direction": move the cVAE latent along a fitted linear direction;
    # "diffusion": DDIM inversion with the conditional DDPM (stitchtime.latents.diffusion).
    method: str = "auto"
    # How the model-space edit reaches the sharp original crop: "flow" moves the original's pixels
    # by the motion the edit makes in the decoder's output (optical flow, upsampled) and adds the
    # remaining colour change; "residual" only adds the decoded difference (no shape change).
    transfer: str = "flow"
    # The colour change the flow does not explain is softly limited to about this many grey levels
    # (x -> L tanh(x / L)); 0: no limit. Small changes are barely reduced (under 15% below 7
    # levels, where 99% of a smile's pixels are), while the shipped cVAE's classifier-fooling
    # blotches (orange around the eyes for "gender", up to 77 levels) are damped (s29 gender
    # identity distance 0.51 -> 0.45).
    colour_limit: float = 10.0
    # Precision of the cVAE's decodes in the render pass: "auto" runs them in bfloat16 where it
    # is native (AVX512-BF16/AMX CPUs, CUDA; 2.4x faster here), "fp32" always in float32. The
    # edit (edited minus reconstructed decode) differs from float32's by 10% of its size on
    # average (cosine 0.99).
    precision: str = "auto"
    # The diffusion editor (method "diffusion", stitchtime.latents.diffusion): DDIM inversion to
    # this fraction of the noise schedule (deeper: stronger edits, less of the person kept), DDIM
    # steps over the whole schedule (only those up to the depth run), guidance of the edited
    # generation from the frame's own attributes towards the edited ones (w: eps_c + w (eps_c' -
    # eps_c); the reconstruction is unguided), every key_every-th face frame edited in full (the rest interpolated),
    # the edit smoothed over key_sigma keyframes, keyframes per batch, and its own colour limit
    # (its edits are real colour changes, not classifier-fooling patterns).
    diffusion_depth: float = 0.7
    diffusion_steps: int = 10
    guidance: float | None = None  # None: the attribute's own (Attribute.guidance)
    key_every: int = 4
    key_sigma: float = 1.0
    diffusion_batch: int = 32
    diffusion_colour_limit: float = 0.0
