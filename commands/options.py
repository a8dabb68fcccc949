"""Options several commands share, declared once (name, type, typer.Option) and added to each
command's signature by :func:`shared_options`; the command receives their values as one
``opts`` namespace and turns them into config objects with :func:`pipeline_config` /
:func:`edit_request`. So ``edit`` and ``batch`` take exactly the same edit options.

(Typer builds a command's options from its signature; :func:`shared_options` sets
``__signature__`` to the command's own parameters plus the shared ones.)
"""

from __future__ import annotations

import functools
import inspect
import math
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable, Optional, TypeVar

import typer

from stitchtime.config import (
    FAST_IDENTITY_SAMPLES,
    AlignConfig,
    BlendMode,
    CVAEEditConfig,
    DetectConfig,
    DetectorBackend,
    Device,
    EditRequest,
    EditSpan,
    EncodeConfig,
    InvertConfig,
    Method,
    PipelineConfig,
    Preset,
)
from stitchtime.editors.registry import MAX_STRENGTH

F = TypeVar("F", bound=Callable[..., Any])

MAX_CROP = 1024  # px: the models work at 64; a larger crop only costs memory (100000 would ask for 596 GiB)
MAX_SIGMA = 1000.0  # frames of temporal smoothing: beyond this it is a constant over any real clip


def span_point(value: str | None) -> str | None:
    """Typer callback: ``--start`` / ``--end`` must be a frame number or a time."""
    if value is not None:
        from stitchtime.span import parse_point

        try:
            parse_point(value)
        except ValueError as e:
            raise typer.BadParameter(str(e)) from None
    return value


def finite(value: float | None) -> float | None:
    """Typer callback: refuse NaN and infinity (range checks let NaN through)."""
    if value is not None and not math.isfinite(value):
        raise typer.BadParameter(f"{value} is not a finite number")
    return value


@dataclass(frozen=True)
class Shared:
    name: str
    annotation: Any
    option: Any  # typer.Option(...)


FACE_OPTIONS = (
    Shared(
        "crop_size",
        int,
        typer.Option(AlignConfig.crop_size, "--crop-size", min=16, max=MAX_CROP, help="Aligned crop side in pixels."),
    ),
    Shared(
        "detector",
        DetectorBackend,
        typer.Option(
            DetectorBackend.dlib, "--detector", case_sensitive=False, help="Face detector / landmark backend."
        ),
    ),
    Shared(
        "face_index",
        Optional[int],
        typer.Option(
            None,
            "--face-index",
            min=0,
            help="Follow the N-th face (left to right on the first face frame) instead of the largest.",
        ),
    ),
    Shared(
        "reference_face",
        Optional[Path],
        typer.Option(
            None,
            "--reference-face",
            metavar="IMAGE",
            help="Follow the person in this photo (the face whose dlib identity descriptor is nearest it, "
            "wherever they are in the clip) instead of the largest; not with --face-index.",
        ),
    ),
    Shared(
        "sigma_center",
        float,
        typer.Option(
            AlignConfig.sigma_center,
            "--sigma-center",
            min=0.0,
            max=MAX_SIGMA,
            callback=finite,
            help="Temporal smoothing of the crop centre (frames).",
        ),
    ),
    Shared(
        "sigma_axis",
        float,
        typer.Option(
            AlignConfig.sigma_axis,
            "--sigma-axis",
            min=0.0,
            max=MAX_SIGMA,
            callback=finite,
            help="Temporal smoothing of the crop size/rotation (frames).",
        ),
    ),
)

EDIT_OPTIONS = (
    Shared(
        "attr",
        str,
        typer.Option(
            ..., "--attr", help="Attribute to edit (see `stitchtime attrs`; 'none' = round trip without an edit)."
        ),
    ),
    Shared(
        "strength",
        float,
        typer.Option(
            1.0,
            "--strength",
            min=-MAX_STRENGTH,
            max=MAX_STRENGTH,
            callback=finite,
            help="Signed edit strength: 1 the calibrated edit, -1 its removal, 0 no change.",
        ),
    ),
    Shared(
        "model",
        Optional[Path],
        typer.Option(
            None,
            "--model",
            help="A cVAE or DDPM run folder (or its model.safetensors) from `stitchtime train` "
            "(default: the shipped models).",
        ),
    ),
    Shared(
        "method",
        Method,
        typer.Option(
            Method.auto,
            "--method",
            case_sensitive=False,
            help="auto (each attribute's measured best, see `stitchtime attrs`), cond (cVAE attribute input), "
            "direction (cVAE latent direction), diffusion (DDIM inversion with the DDPM), "
            "geometry (move the face's landmarks, warp its own pixels and shade its skin as the average "
            "smile does; smile), colour (recolour the lips as CelebA's lipstick does; lipstick).",
        ),
    ),
    Shared(
        "tune_steps",
        Optional[int],
        typer.Option(
            None,
            "--tune-steps",
            min=0,
            help="Per-video decoder tuning steps of cVAE edits "
            f"(0: off; default {InvertConfig.tune_steps}, 0 with --fast).",
        ),
    ),
    Shared(
        "fast",
        bool,
        typer.Option(
            False,
            "--fast",
            help="Quickest edit: no diffusion (the cVAE's attribute input where the default is the diffusion "
            "editor; fainter), no per-video tuning, plain cubic resampling of what the smile and mouth open "
            f"move, the identity guard measures {FAST_IDENTITY_SAMPLES} frames instead of "
            f"{PipelineConfig.identity_samples}, and the hair colour segments the person on every other frame.",
        ),
    ),
    Shared(
        "experimental",
        bool,
        typer.Option(
            False,
            "--experimental",
            help="Allow the edits this release does not stand behind (every attribute but the default smile; "
            "`stitchtime attrs --experimental` says why for each).",
        ),
    ),
    Shared(
        "latent_sigma",
        float,
        typer.Option(
            CVAEEditConfig.latent_sigma,
            "--latent-sigma",
            min=0.0,
            max=MAX_SIGMA,
            callback=finite,
            help="Temporal smoothing of cVAE latents (frames).",
        ),
    ),
    Shared(
        "device",
        Device,
        typer.Option(
            Device.auto,
            "--device",
            case_sensitive=False,
            help="Where the models run: auto picks cuda, then mps, then cpu.",
        ),
    ),
    Shared(
        "blend",
        BlendMode,
        typer.Option(
            BlendMode.delta,
            "--blend",
            case_sensitive=False,
            help="delta: add the edit to the original; replace: paste the decoded crop.",
        ),
    ),
    Shared(
        "identity_limit",
        float,
        typer.Option(
            PipelineConfig.identity_limit,
            "--identity-limit",
            min=0.0,
            callback=finite,
            help="Scale the whole edit down when it moves dlib's identity descriptor further than this "
            "from the original "
            "(0: off; not with --blend replace, nor for glasses, which are drawn: a fainter frame is no fix).",
        ),
    ),
    Shared(
        "start",
        Optional[str],
        typer.Option(
            None,
            "--start",
            callback=span_point,
            help="Edit only from here: a frame number (120) or a time (00:00:02, 1:02.5, 2.5, 2s). "
            "Frames outside the stretch pass through untouched.",
        ),
    ),
    Shared(
        "end",
        Optional[str],
        typer.Option(
            None, "--end", callback=span_point, help="Edit only up to here (exclusive); same forms as --start."
        ),
    ),
    Shared(
        "fade",
        float,
        typer.Option(
            EditSpan.fade,
            "--fade",
            min=0.0,
            max=60.0,
            callback=finite,
            help="Seconds over which the edit fades in after --start and out before --end (0: a cut).",
        ),
    ),
    Shared(
        "mask_blur",
        Optional[float],
        typer.Option(
            None,
            "--mask-blur",
            min=0.0,
            max=1.0,
            callback=finite,
            help="Softness of the blend's edge, 0 (hard) to 1 (a blur of a quarter face width); "
            "default: the editor's own (about 0.4).",
        ),
    ),
    Shared(
        "mask_padding",
        Optional[float],
        typer.Option(
            None,
            "--mask-padding",
            min=-0.3,
            max=0.5,
            callback=finite,
            help="Grow the edited area by this many face widths (negative: shrink it); default 0.",
        ),
    ),
    Shared(
        "codec",
        str,
        typer.Option(
            EncodeConfig.codec,
            "--codec",
            metavar="ENCODER",
            help="Video encoder: libx264 (default), libx265, libvpx-vp9 (.webm/.mkv), libaom-av1, libsvtav1, "
            "mpeg4, ... any video encoder of the bundled ffmpeg (`ffmpeg -encoders`); a container that cannot "
            "hold it is refused before any work.",
        ),
    ),
    Shared(
        "crf",
        int,
        typer.Option(
            EncodeConfig.crf,
            "--crf",
            min=0,
            max=51,
            help="Quality, lower is better: the encoder's constant-quality -crf (x264/x265; VP9 and AV1 with "
            "-b:v 0), a matching -q:v for mpeg4 and kin (15 -> 2), ignored by encoders with neither. "
            "The default 15 gave a worst-frame PSNR of 40-41.5 dB with each of x264, x265, VP9, AV1, mpeg4.",
        ),
    ),
    Shared(
        "preset",
        Preset,
        typer.Option(
            EncodeConfig.preset,
            "--preset",
            case_sensitive=False,
            help="x264/x265 preset (slower: smaller files); other encoders ignore it.",
        ),
    ),
    Shared(
        "preview",
        bool,
        typer.Option(
            False,
            "--preview",
            help="Also write OUTPUT.preview.mp4 (side by side) and OUTPUT.preview.png (face crops) beside each output.",
        ),
    ),
)


def shared_options(*groups: tuple[Shared, ...]) -> Callable[[F], F]:
    """Add the options of ``groups`` to a command; it receives their values as ``opts``."""
    shared = [s for group in groups for s in group]

    def decorate(fn: F) -> F:
        sig = inspect.signature(fn)
        own = [p for name, p in sig.parameters.items() if name != "opts"]
        extra = [
            inspect.Parameter(s.name, inspect.Parameter.KEYWORD_ONLY, default=s.option, annotation=s.annotation)
            for s in shared
        ]

        @functools.wraps(fn)
        def command(**kwargs: Any) -> Any:
            opts = SimpleNamespace(**{s.name: kwargs.pop(s.name) for s in shared})
            return fn(**kwargs, opts=opts)

        command.__signature__ = sig.replace(parameters=own + extra)  # type: ignore[attr-defined]
        command.__annotations__ = {**{p.name: p.annotation for p in own}, **{s.name: s.annotation for s in shared}}
        return command  # type: ignore[return-value]

    return decorate


def progress_on(quiet: bool) -> bool:
    return not quiet and sys.stderr.isatty()


def pipeline_config(opts: SimpleNamespace, quiet: bool) -> PipelineConfig:
    """The pipeline config of the face options (and of the edit options, where given)."""
    config = PipelineConfig(
        detect=DetectConfig(backend=opts.detector, face_index=opts.face_index, reference_face=opts.reference_face),
        align=AlignConfig(crop_size=opts.crop_size, sigma_center=opts.sigma_center, sigma_axis=opts.sigma_axis),
        progress=progress_on(quiet),
    )
    if hasattr(opts, "blend"):
        config = replace(
            config,
            encode=EncodeConfig(codec=opts.codec, crf=opts.crf, preset=opts.preset),
            blend=opts.blend,
            identity_limit=opts.identity_limit,
            span=EditSpan(opts.start, opts.end, opts.fade),
            mask_blur=opts.mask_blur,
            mask_padding=opts.mask_padding,
        )
    return config


def edit_request(opts: SimpleNamespace, quiet: bool) -> EditRequest:
    """The edit a command asked for (:func:`pipelines.api.edit_request`, ``--fast`` applied)."""
    from pipelines.api import edit_request as build

    return build(
        opts.attr,
        opts.strength,
        method=opts.method,
        fast=opts.fast,
        experimental=opts.experimental,
        tune_steps=opts.tune_steps,
        model=opts.model,
        device=opts.device,
        pipeline=pipeline_config(opts, quiet),
        latent_sigma=opts.latent_sigma,
    )
