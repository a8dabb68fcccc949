"""Frozen configuration objects, one per pipeline stage (and one per editor). The CLI fills them in.

Every option with a fixed set of values is a ``str`` Enum, so it is checked where it enters (the
CLI shows the choices and refuses anything else before any work); a ``str`` Enum still compares
equal to its value (``Method.cond == "cond"``).
"""

from __future__ import annotations

import typing
from dataclasses import dataclass, fields
from enum import Enum
from pathlib import Path

from stitchtime.errors import InputError


class DetectorBackend(str, Enum):
    dlib = "dlib"
    face_alignment = "face-alignment"


class Region(str, Enum):
    """Where an edit may act (``REGION_MASKS``): the face with its forehead, the head with the
    hair, the lower face (cheeks, mouth, chin) or the eye band (forehead to two-thirds down the nose)."""

    face = "face"
    head = "head"
    lower = "lower"
    eyes = "eyes"


class Method(str, Enum):
    """How an attribute is edited: ``auto`` takes each attribute's measured default
    (``Attribute.method``); ``cond`` changes the cVAE's attribute input; ``direction`` moves the cVAE
    latent along a fitted linear direction; ``diffusion`` is DDIM inversion with the conditional DDPM;
    ``geometry`` moves the face's landmarks as the attribute moves them and warps the sharp crop;
    ``colour`` recolours one part of the face (the lips) as the attribute colours it; ``accessory``
    draws an object fitted on CelebA in the face's place (eyeglasses); ``hair`` recolours the hair
    as CelebA's hair of that colour is coloured."""

    auto = "auto"
    cond = "cond"
    direction = "direction"
    diffusion = "diffusion"
    geometry = "geometry"
    colour = "colour"
    accessory = "accessory"
    hair = "hair"


class Transfer(str, Enum):
    """How a model-space edit reaches the sharp crop: ``flow`` moves the original's pixels by the
    motion the edit makes in the model's output and adds the remaining colour change; ``residual``
    only adds the upsampled difference (no shape change)."""

    flow = "flow"
    residual = "residual"


class Precision(str, Enum):
    """``auto``: bfloat16 where it is native (AVX512-BF16/AMX CPUs, CUDA); ``fp32``: always float32."""

    auto = "auto"
    fp32 = "fp32"


class BlendMode(str, Enum):
    """``delta``: add the edit (a change of the crop) to the original; ``replace``: paste the crop."""

    delta = "delta"
    replace = "replace"


class Device(str, Enum):
    """Where the models run: ``auto`` picks CUDA, then Apple MPS, then the CPU."""

    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"
    mps = "mps"


class Preset(str, Enum):
    """x264 / x265 speed/size presets (slower: smaller files at the same quality); other encoders ignore it."""

    ultrafast = "ultrafast"
    superfast = "superfast"
    veryfast = "veryfast"
    faster = "faster"
    fast = "fast"
    medium = "medium"
    slow = "slow"
    slower = "slower"
    veryslow = "veryslow"
    placebo = "placebo"


def _typed(config: object) -> None:
    """Turn the Enum fields of a frozen config given as plain strings into their Enum (so
    ``MaskConfig(region="lower")`` works), and refuse a value outside the choices right here."""
    hints = typing.get_type_hints(type(config))
    for f in fields(config):  # type: ignore[arg-type]
        kind = hints[f.name]
        value = getattr(config, f.name)
        if isinstance(kind, type) and issubclass(kind, Enum) and not isinstance(value, kind):
            try:
                object.__setattr__(config, f.name, kind(value))
            except ValueError:
                valid = ", ".join(str(m.value) for m in kind)
                raise ValueError(f"{type(config).__name__}.{f.name}: unknown value {value!r}; valid: {valid}") from None


FAST_IDENTITY_SAMPLES = 6


@dataclass(frozen=True)
class ReferenceFace:
    """The person ``--reference-face`` follows: the photo, its dlib identity descriptor (128 floats;
    :func:`stitchtime.faces.reference.load_reference_face`) and what reading it had to say. Worker
    processes and Ray tasks get this, not the file."""

    photo: Path
    descriptor: tuple[float, ...]
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class DetectConfig:
    backend: DetectorBackend = DetectorBackend.dlib
    max_side: int = 640  # frames are downscaled so their longer side is at most this for detection
    upsample: int = 1  # dlib HOG pyramid upsampling on the (downscaled) frame; finds small faces
    redetect_every: int = 5  # confirm the face by detection (in a window) every N frames; between, follow the landmarks
    lost_detect_every: int = 3  # while no face is tracked, run the full detector every N frames (found: followed back)
    min_face: int = 24  # faces whose eye-to-mouth span (px, full frame) is smaller are skipped
    face_index: int | None = None  # None: the largest face; N: the N-th face left-to-right on the first face frame
    # --reference-face: follow the person in this photo (the face whose dlib identity descriptor is
    # nearest it, under dlib's same-person 0.6). A path is read once, before any video work
    # (stitchtime.faces.reference.resolve_reference), and replaced by its ReferenceFace.
    reference_face: Path | ReferenceFace | None = None

    def __post_init__(self) -> None:
        _typed(self)
        if isinstance(self.reference_face, str):
            object.__setattr__(self, "reference_face", Path(self.reference_face))
        if self.reference_face is not None and self.face_index is not None:
            raise InputError("--reference-face and --face-index both choose the face to follow: give one of them")


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
    # Which part of the face: face (jaw + brows + forehead; head: the same hull, which HEAD_MASK
    # raises and grows), lower (cheeks, mouth, chin: below landmark 29, two-thirds down the
    # nose), eyes (a band from the forehead down to landmark 29).
    region: Region = Region.face
    # Set by --mask-blur / --mask-padding, in widths of the face (jaw, landmark 0 to 16) of each
    # frame: the edge's blur sigma is ``blur`` x BLUR_UNIT face widths (None: ``feather``), and the
    # hull grows by ``padding`` face widths (negative: shrinks), on top of ``erode``.
    blur: float | None = None
    padding: float = 0.0

    def __post_init__(self) -> None:
        _typed(self)


# The larger region used by hair attributes: forehead raised to the hairline and the hull grown.
HEAD_MASK = MaskConfig(forehead=1.6, feather=0.07, erode=-0.07, region=Region.head)
# Attributes that live in one part of the face edit only that part (the rest stays the original).
LOWER_MASK = MaskConfig(region=Region.lower, feather=0.05, erode=-0.03)
EYES_MASK = MaskConfig(region=Region.eyes, forehead=0.3, feather=0.05, erode=-0.03)
REGION_MASKS: dict[Region, MaskConfig] = {
    Region.face: MaskConfig(),
    Region.head: HEAD_MASK,
    Region.lower: LOWER_MASK,
    Region.eyes: EYES_MASK,
}


@dataclass(frozen=True)
class EncodeConfig:
    # any video encoder of the ffmpeg in use (--codec); what crf and preset become for each, and
    # which containers hold it: stitchtime.io.encode
    codec: str = "libx264"
    crf: int = 15  # measured: worst-frame PSNR >= 40 dB after a round trip on every shared clip (17 gave 39.6 on d9)
    preset: Preset = Preset.medium
    pix_fmt: str = "yuv420p"

    def __post_init__(self) -> None:
        _typed(self)


@dataclass(frozen=True)
class InvertConfig:
    """Encoder inversion + optional per-video decoder tuning ("pivotal tuning", STIT)."""

    tune_steps: int = 60  # decoder fine-tuning steps on this video's crops (0: off)
    tune_lr: float = 1e-4
    tune_frames: int = 64  # crops kept (evenly spaced) for tuning
    tune_batch: int = 16
    batch_size: int = 32  # encoder batch


@dataclass(frozen=True)
class CVAEEditConfig:
    """The cVAE editor (methods cond and direction, :mod:`stitchtime.editors.cvae`)."""

    invert: InvertConfig = InvertConfig()
    latent_sigma: float = 2.0  # temporal smoothing of the per-frame latents (frames)
    cond_sigma: float = 4.0  # temporal smoothing of the classifier's attribute estimates (frames)
    # strength 1 moves the attribute input this many units towards "present" (1.0: exactly to it).
    # None: the attribute's own gain (stitchtime.editors.attributes; 1.5 for most, 2.0 for older
    # and 2.5 for more masculine, which the shipped cVAE follows less readily). More extrapolates further.
    cond_gain: float | None = None
    transfer: Transfer = Transfer.flow
    # The colour change the flow does not explain is softly limited to about this many grey levels
    # (x -> L tanh(x / L)); 0: no limit. Small changes are barely reduced (under 15% below 7
    # levels, where 99% of a smile's pixels are), while the shipped cVAE's classifier-fooling
    # blotches (orange around the eyes for "gender", up to 77 levels) are damped (s29 gender
    # identity distance 0.51 -> 0.45).
    colour_limit: float = 10.0
    # Precision of the decodes in the render pass. In bfloat16 the edit (edited minus reconstructed
    # decode) differs from float32's by 10% of its size on average (cosine 0.99); 2.4x faster here.
    precision: Precision = Precision.auto

    def __post_init__(self) -> None:
        _typed(self)


@dataclass(frozen=True)
class DiffusionEditConfig:
    """The diffusion editor (method diffusion, :mod:`stitchtime.editors.diffusion`): DDIM inversion
    to ``depth`` of the noise schedule (deeper: stronger edits, less of the person kept), ``steps``
    DDIM steps over the whole schedule (only those up to the depth run), guidance of the edited
    generation from the frame's own attributes towards the edited ones (w: eps_c + w (eps_c' -
    eps_c); the reconstruction is unguided), every ``key_every``-th face frame edited in full (the
    rest interpolated), the edit smoothed over ``key_sigma`` keyframes, keyframes per batch, and its
    own colour limit (its edits are real colour changes, not classifier-fooling patterns)."""

    cond_sigma: float = 4.0  # temporal smoothing of the classifier's attribute estimates (frames)
    depth: float = 0.7
    steps: int = 10
    guidance: float | None = None  # None: the attribute's own (Attribute.guidance)
    key_every: int = 4
    key_sigma: float = 1.0
    batch: int = 32
    colour_limit: float = 0.0


@dataclass(frozen=True)
class EditOptions:
    """How to edit, whatever the attribute and strength: the method and each editor's own config
    (an editor reads only its own)."""

    method: Method = Method.auto
    fast: bool = False  # --fast: auto picks the cVAE where it would pick the (slow) diffusion editor
    experimental: bool = False  # --experimental: also the edits this release does not stand behind
    cvae: CVAEEditConfig = CVAEEditConfig()
    diffusion: DiffusionEditConfig = DiffusionEditConfig()

    def __post_init__(self) -> None:
        _typed(self)


@dataclass(frozen=True)
class EditSpan:
    """Edit only a stretch of the clip (:mod:`stitchtime.span`): ``start``/``end`` are frame numbers
    ("120") or times ("00:00:02", "2.5", "2s"), ``end`` exclusive, None: the clip's own start/end;
    the edit fades in and out over ``fade`` seconds inside the stretch."""

    start: str | None = None
    end: str | None = None
    fade: float = 0.2


@dataclass(frozen=True)
class PipelineConfig:
    detect: DetectConfig = DetectConfig()
    track: TrackConfig = TrackConfig()
    align: AlignConfig = AlignConfig()
    mask: MaskConfig = MaskConfig()
    encode: EncodeConfig = EncodeConfig()
    blend: BlendMode = BlendMode.delta
    batch_size: int = 16
    progress: bool = True
    # processes for pass 1 (tracking) and the identity guard's descriptors; 1 in batch jobs that share the cores
    track_workers: int = 2
    # torch CPU threads in the passes over the video (fit, guard, render), where the ffmpeg decoder
    # and encoder and a prefetch thread share the cores; the editors' heavy steps (tuning, DDIM
    # keyframes) use all of them. Measured (d3, cVAE edit): the decodes 1.5x faster with 1 than 2.
    stream_threads: int = 1
    # Identity guard: when the edit would move dlib's identity descriptor further than this from the
    # original's (mean over sampled frames), the whole edit is scaled down, the same on every frame,
    # until it does not. 0: off. (Issue 4's target is 0.35 over all frames; 0.3 leaves room for
    # the frames the guard does not sample.)
    identity_limit: float = 0.3
    # The frames (evenly spaced, where the face was seen) the guard measures; ``--fast`` takes
    # FAST_IDENTITY_SAMPLES (each costs 0.08-0.12 s of dlib's network per scale the guard tries).
    identity_samples: int = 12
    span: EditSpan = EditSpan()
    # --mask-blur / --mask-padding: the user's edge softness and growth of the editor's mask, in
    # face widths (MaskConfig.blur / .padding); None: the editor's own.
    mask_blur: float | None = None
    mask_padding: float | None = None

    def __post_init__(self) -> None:
        _typed(self)


@dataclass(frozen=True)
class EditRequest:
    """One edit as a user asks for it: what ``edit`` and ``batch`` share (picklable: it crosses
    into batch workers and Ray tasks). ``model`` None: the shipped models."""

    attr: str
    strength: float = 1.0
    options: EditOptions = EditOptions()
    model: Path | None = None
    device: Device = Device.auto
    pipeline: PipelineConfig = PipelineConfig()

    def __post_init__(self) -> None:
        _typed(self)
