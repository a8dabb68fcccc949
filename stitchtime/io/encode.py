"""`VideoWriter`: stream RGB frames into an ffmpeg subprocess that encodes them (libx264 by default).

Convention: ``write(frame)`` takes ``uint8`` ``(H, W, 3)`` RGB frames of exactly
``meta.height x meta.width`` (the displayed orientation, stored pixels; frames
come out of `VideoReader` that way). The output keeps

* **timing**: frame ``i`` gets presentation time ``meta.start_time +
  meta.timestamps[i]`` (exact per-frame timestamps, so VFR input stays VFR; frames
  beyond ``len(meta.timestamps)`` continue at ``meta.fps``). Raw frames reach
  ffmpeg inside a minimal Matroska stream written here (rawvideo, one cluster per
  frame, nanosecond timestamps + block durations), because a plain rawvideo pipe
  carries no timestamps. ``-copyts`` keeps the original offset between video and
  audio (e.g. video starting 0.85 s after audio stays so);
* **size**: exact ``W x H``. 4:2:0 / 4:2:2 H.264 and HEVC cannot code an odd width or
  height (their cropping works in 2-pixel units), so odd sizes are encoded as
  ``yuv444p`` (High 4:4:4 / Rext: exact size and colours, less universally playable)
  instead of padding or cropping; VP9 and AV1 code odd sizes in 4:2:0 and keep it. Which
  one an encoder needs is measured on this ffmpeg (a three-frame trial, once per process),
  and an encoder that codes neither exactly is refused before any work;
* **pixel aspect**: ``setsar`` = ``meta.sar``; rotation is already applied to the
  pixels, so the file carries no rotation flag;
* **colour**: RGB -> YUV with the source's matrix and range (``colour``: by default the tags
  of ``meta.path``, the video the frames were decoded from, which `VideoReader` converted them
  with) and ``SWS_ENCODE_FLAGS`` (the inverse of the reader's chroma upsampling); the output is
  tagged with the source's matrix, range, primaries and transfer (an untagged source gives an
  untagged output, converted as BT.601 limited, what decoders assume for both). Untouched
  pixels so come back as the source's own YUV within rounding (issue 15: background PSNR
  above a plain CRF-18 re-encode's);
* **audio and subtitles**: every audio and subtitle stream of ``audio_from``, copied where
  the container holds its codec, else converted (audio to AAC, Opus in WebM; text
  subtitles to mov_text in MP4/MOV, WebVTT in WebM, SubRip in MKV); a stream the
  container cannot hold at all (a bitmap subtitle in MP4) is dropped and ``notes`` names it.

The encoder is ``EncodeConfig.codec`` (any video encoder of this ffmpeg), in one of
``VIDEO_SUFFIXES``; `check_video_output` refuses, before any work, a name that is not a
video encoder and a container that cannot hold the encoder's codec (both asked of ffmpeg
itself by the trial). ``crf`` is the encoder's own constant-quality scale where it has one
(``-crf``; with ``-b:v 0`` for libvpx / libaom, whose ``-crf`` is otherwise a cap), a
matching ``-q:v`` for the MPEG-4-style encoders; ``preset`` goes to x264 / x265 only
(libaom-av1, whose default speed is unusable here, runs at ``-cpu-used 6``: ``ENCODER_DEFAULTS``).

The file appears atomically: ffmpeg writes ``.<name>.partial<ext>`` in the same
directory, renamed over ``path`` only after ffmpeg succeeded; any exception (or a
killed encode) leaves no file at ``path`` and the partial file is removed.
"""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import tempfile
import threading
from collections import deque
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Sequence

import ffmpeg as ffmpeg_py
import numpy as np

import stitchtime.io.ffmpeg as ffmpeg_io
from stitchtime.config import EncodeConfig
from stitchtime.errors import InputError, VideoError
from stitchtime.io.ffmpeg import (
    STDERR_TAIL_LINES,
    drain_stderr,
    encoder_help,
    encoders,
    ffmpeg_exe,
    first_error_line,
    last_error_line,
)
from stitchtime.io.paths import partial_path, same_file, writer_of
from stitchtime.io.probe import Colour, StreamInfo, colour_of, streams_of
from stitchtime.types import VideoMeta

#: The containers the output can be, by suffix, with the name notes and errors give them.
CONTAINERS = {".mp4": "MP4", ".mov": "MOV", ".m4v": "M4V", ".mkv": "MKV", ".webm": "WebM"}
VIDEO_SUFFIXES = tuple(CONTAINERS)
MP4_SUFFIXES = frozenset({".mp4", ".m4v", ".mov"})
#: Audio codecs each container takes as they are (None: any); others become ``AUDIO_FALLBACK``
#: (measured with this ffmpeg: MOV refuses Opus and FLAC, M4V (the ipod muxer) MP3 and E-AC-3).
AUDIO_COPY: dict[str, frozenset[str] | None] = {
    ".mp4": frozenset({"aac", "mp3", "alac", "ac3", "eac3", "opus", "flac"}),
    ".mov": frozenset({"aac", "mp3", "alac", "ac3", "eac3", "pcm_s16le", "pcm_s16be", "pcm_s24le", "pcm_s24be"}),
    ".m4v": frozenset({"aac", "alac", "ac3"}),
    ".mkv": None,
    ".webm": frozenset({"opus", "vorbis"}),
}
#: Encoders for audio a container cannot take as it is (the first this ffmpeg has).
AUDIO_FALLBACK = {".webm": ("libopus", "libvorbis")}
DEFAULT_AUDIO_FALLBACK = ("aac",)
#: Subtitle codecs that are text (convertible to another text format); the rest are bitmaps.
TEXT_SUBTITLES = frozenset(
    {"subrip", "srt", "ass", "ssa", "mov_text", "webvtt", "text", "microdvd", "subviewer", "subviewer1", "sami"}
    | {"realtext", "jacosub", "mpl2", "pjs", "stl", "vplayer"}
)
#: The one text subtitle format MP4/MOV/M4V and WebM hold (MKV holds any but mov_text, which becomes SubRip).
SUBTITLE_TEXT = {".mp4": "mov_text", ".mov": "mov_text", ".m4v": "mov_text", ".webm": "webvtt", ".mkv": "subrip"}
#: Video encoders an error names first (those this ffmpeg has), before pointing at the full list.
COMMON_ENCODERS = (
    "libx264",
    "libx265",
    "libvpx-vp9",
    "libaom-av1",
    "libsvtav1",
    "librav1e",
    "libvpx",
    "mpeg4",
    "libtheora",
    "prores_ks",
    "ffv1",
)
#: Encoders that take ``--preset`` (x264's names); others have no such option or other values.
PRESET_ENCODERS = frozenset({"libx264", "libx264rgb", "libx265"})
#: Encoders whose ``-crf`` is constant quality only with ``-b:v 0`` (else it caps a bitrate).
ZERO_BITRATE_CRF = frozenset({"libvpx", "libvpx-vp9", "libaom-av1"})
#: Speed settings where an encoder's own default is far too slow: libaom-av1 at its default
#: ``-cpu-used 1`` took 322 s for 92 frames of 512x480 on 2 cores, at 6 (its fastest "good"
#: mode) 14 s, with the same worst-frame PSNR (40.5-40.7 dB) and a smaller file.
ENCODER_DEFAULTS: dict[str, dict] = {"libaom-av1": {"cpu-used": 6, "row-mt": 1}}
#: Encoders without ``-crf`` whose quality is ffmpeg's ``-q:v`` (1 best .. 31 worst).
QSCALE_ENCODERS = frozenset(
    {"mpeg4", "libxvid", "mpeg1video", "mpeg2video", "msmpeg4", "msmpeg4v2", "h263", "h263p", "flv", "wmv1", "wmv2"}
)
#: MPEG-4 part 2 and its relatives: a time base denominator must fit 16 bits.
SHORT_TIME_BASE_ENCODERS = QSCALE_ENCODERS - {"mpeg1video", "mpeg2video"}
#: Pixel formats with subsampled chroma that need even sizes, and the exact-size substitute.
SUBSAMPLED_PIX_FMTS = frozenset({"yuv420p", "yuvj420p", "yuv422p", "nv12", "yuv420p10le", "yuv422p10le"})
ODD_SIZE_PIX_FMT = "yuv444p"
#: Encoder time base / mp4 track timescale (ticks per second): exact for 24/25/30/29.97/60 fps and 1 ms clocks.
TRACK_TIMESCALE = 90000
#: The same for encoders limited to 16-bit time bases (exact for 24/25/30/29.97/59.94/60 fps and 1 ms).
SHORT_TIME_BASE = 60000
NS_PER_S = 1_000_000_000
#: Frame sizes of the trial encodes (`check_encoder`: even; odd-size support: odd both ways).
TRIAL_SIZE = (64, 64)
ODD_TRIAL_SIZE = (65, 49)
TRIAL_FRAMES = 3
TRIAL_TIMEOUT_S = 60
#: SVT-AV1 logs its settings to stderr whatever ffmpeg's log level; 1 = errors only.
ENCODER_ENV = {"SVT_LOG": "1"}


def _crf_to_qscale(crf: int) -> int:
    """``--crf`` (x264's 0-51) as ``-q:v`` (1-31): 15 and below -> 2 (near transparent), 51 -> 31."""
    return max(1, min(31, round(2 + (crf - 15) * 29 / 36)))


def quality_options(config: EncodeConfig) -> dict:
    """The encoder options ``crf`` and ``preset`` become for ``config.codec`` (see the module
    doc), and its ``ENCODER_DEFAULTS``."""
    codec = config.codec
    opts: dict = dict(ENCODER_DEFAULTS.get(codec, {}))
    if "crf" in encoder_help(codec).options:
        opts["crf"] = config.crf
        if codec in ZERO_BITRATE_CRF:
            opts["b:v"] = 0
    elif codec in QSCALE_ENCODERS:
        opts["q:v"] = _crf_to_qscale(config.crf)
    if codec in PRESET_ENCODERS:
        opts["preset"] = config.preset.value
    return opts


def _base_pix_fmt(config: EncodeConfig) -> str | None:
    """``config.pix_fmt`` where the encoder takes it; None (ffmpeg picks the closest) where not."""
    fmts = encoder_help(config.codec).pix_fmts
    return config.pix_fmt if not fmts or config.pix_fmt in fmts else None


# --- the stream plan: which audio / subtitle streams go into the output, and how ----------------


@dataclass(frozen=True)
class StreamMap:
    """One stream of the source mapped into the output: its index there, kind and codec."""

    index: int
    kind: str  # ffmpeg's stream type letter: "a" (audio), "s" (subtitle), "t" (attachment)
    codec: str  # "copy" or the encoder that converts it


@dataclass(frozen=True)
class StreamPlan:
    maps: tuple[StreamMap, ...] = ()
    notes: tuple[str, ...] = ()  # user-facing: streams dropped or re-encoded, and why


def _audio_fallback(suffix: str) -> str:
    names = AUDIO_FALLBACK.get(suffix, DEFAULT_AUDIO_FALLBACK)
    return next((n for n in names if n in encoders()), names[0])


def _subtitle_codec(codec: str, suffix: str) -> str | None:
    """``copy``, the text encoder that converts it, or None (the container cannot hold it)."""
    target = SUBTITLE_TEXT[suffix]
    if suffix == ".mkv":
        return target if codec == "mov_text" else "copy"
    if codec == target:
        return "copy"
    return target if codec in TEXT_SUBTITLES else None


def plan_streams(streams: Sequence[StreamInfo], suffix: str) -> StreamPlan:
    """Every audio and subtitle stream of ``streams`` (a source file's) that the ``suffix``
    container can hold, converted where it cannot take the codec as it is (MKV also keeps the
    attachments, e.g. an ASS track's fonts). The first video stream is the one replaced by the
    edited frames; other video streams, and audio or subtitles the container cannot hold, are
    dropped with a note. Data streams (timecodes, camera metadata) are left out silently."""
    name = CONTAINERS[suffix]
    maps: list[StreamMap] = []
    notes: list[str] = []
    seen_video = False
    for s in streams:
        if s.kind == "video" and not s.attached_pic:
            if seen_video:
                notes.append(f"dropped video stream {s.describe()}: only the first video stream is edited and kept")
            seen_video = True
        elif s.kind == "audio":
            allowed = AUDIO_COPY[suffix]
            if allowed is None or s.codec in allowed:
                maps.append(StreamMap(s.index, "a", "copy"))
            else:
                encoder = _audio_fallback(suffix)
                maps.append(StreamMap(s.index, "a", encoder))
                target = encoders()[encoder].codec if encoder in encoders() else encoder
                notes.append(f"audio stream {s.describe()} re-encoded as {target}: {name} cannot hold {s.codec}")
        elif s.kind == "subtitle":
            codec = _subtitle_codec(s.codec, suffix)
            if codec is None:
                holds = "WebVTT" if suffix == ".webm" else "mov_text"
                notes.append(
                    f"dropped subtitle stream {s.describe()}: {name} cannot hold it (only text subtitles, as {holds})"
                )
            else:
                maps.append(StreamMap(s.index, "s", codec))
        elif s.kind == "attachment" and suffix == ".mkv":
            maps.append(StreamMap(s.index, "t", "copy"))
    return StreamPlan(tuple(maps), tuple(notes))


# --- the ffmpeg command, shared by the writer and the trial encodes -----------------------------

#: Primaries and transfer tags ``setparams`` takes, by the names ffmpeg's ``-i`` dump gives them.
PRIMARIES = {
    n: n
    for n in ("bt709", "bt470m", "bt470bg", "smpte170m", "smpte240m", "film", "bt2020")
    + ("smpte428", "smpte431", "smpte432", "jedec-p22", "ebu3213")
}
TRANSFERS = {
    **{
        n: n
        for n in ("bt709", "bt470m", "bt470bg", "smpte170m", "smpte240m", "linear", "log100", "log316")
        + ("iec61966-2-4", "bt1361e", "iec61966-2-1", "bt2020-10", "bt2020-12", "smpte2084", "smpte428")
        + ("arib-std-b67",)
    },
    "gamma22": "bt470m",
    "gamma28": "bt470bg",
    "log": "log100",
    "log_sqrt": "log316",
}


def yuv_scale_options(colour: Colour, pix_fmt: str | None) -> dict[str, str]:
    """The ``scale`` filter's options that turn RGB frames decoded from a ``colour`` stream back
    into its YUV: ``SWS_ENCODE_FLAGS`` and the matrix and range `VideoReader` converted with (none
    for an RGB or untagged source: swscale's BT.601 limited default, what a decoder assumes for
    the untagged output). The scale filter tags the frames with the matrix and range it sets."""
    opts = {"flags": ffmpeg_io.SWS_ENCODE_FLAGS} if ffmpeg_io.SWS_ENCODE_FLAGS else {}
    if colour.matrix is not None:
        opts["out_color_matrix"] = colour.matrix
    if not (pix_fmt or "").startswith("yuvj"):  # yuvj: full range by definition
        if colour.full_range:
            opts["out_range"] = "full"
        elif colour.range == "tv":
            opts["out_range"] = "limited"
    return opts


#: 8-bit YUV formats whose full-range output is converted at 12 bits, then rounded to 8 by
#: ``colorspace``: swscale truncates 8-bit full-range chroma (-0.5 level on average; a
#: full-range clip's colour-only round trip came back at 48 dB RGB instead of 69).
FULL_RANGE_VIA = {"yuv420p": "yuv420p12le", "yuv422p": "yuv422p12le", "yuv444p": "yuv444p12le"}
#: ``colorspace``'s names of the scale filter's matrices (`Colour.matrix`; None: BT.601).
COLORSPACE_SPACES = {None: "smpte170m", "bt709": "bt709", "smpte170m": "smpte170m", "bt470": "bt470bg"}
COLORSPACE_SPACES |= {"fcc": "fcc", "smpte240m": "smpte240m", "bt2020": "bt2020nc"}


def colour_filters(video, colour: Colour, pix_fmt: str | None):
    """``video`` (an ffmpeg-python stream of RGB frames) converted to the YUV of a ``colour``
    source (`yuv_scale_options`) and tagged like it (`colour_tags`); full range in 8-bit 4:2:0 /
    4:2:2 / 4:4:4 goes through 12 bits (``FULL_RANGE_VIA``)."""
    video = video.filter("scale", **yuv_scale_options(colour, pix_fmt))
    if not (colour.full_range and pix_fmt in FULL_RANGE_VIA):
        tags = colour_tags(colour)
        return video.filter("setparams", **tags) if tags else video
    space = COLORSPACE_SPACES[colour.matrix]
    video = video.filter("format", FULL_RANGE_VIA[pix_fmt])
    # same matrix, primaries and transfer in and out (fast: no linear-light step): only the
    # depth changes; its own tags are then replaced by the source's
    video = video.filter(
        "colorspace",
        iall="bt709",
        all="bt709",
        ispace=space,
        space=space,
        irange="pc",
        range="pc",
        format=pix_fmt,
        dither="none",
        fast=1,
    )
    tags = {"colorspace": colour.space if colour.matrix else "unknown", "range": "pc"}
    tags["color_primaries"] = PRIMARIES.get(colour.primaries or "", "unknown")
    tags["color_trc"] = TRANSFERS.get(colour.trc or "", "unknown")
    return video.filter("setparams", **tags)


def colour_tags(colour: Colour) -> dict[str, str]:
    """``setparams`` options that copy the source's primaries and transfer tags (metadata only:
    no conversion, so valid for any output format; matrix and range come from the scale)."""
    tags = {}
    if colour.primaries in PRIMARIES:
        tags["color_primaries"] = PRIMARIES[colour.primaries]
    if colour.trc in TRANSFERS:
        tags["color_trc"] = TRANSFERS[colour.trc]
    return tags


def _ffmpeg_command(
    meta: VideoMeta,
    config: EncodeConfig,
    pix_fmt: str | None,
    out: Path,
    source: Path | None = None,
    plan: StreamPlan = StreamPlan(),
    colour: Colour = Colour(),
) -> list[str]:
    sar = Fraction(meta.sar)
    video = colour_filters(ffmpeg_py.input("pipe:", format="matroska").video, colour, pix_fmt)
    video = video.filter("setsar", f"{sar.numerator}/{sar.denominator}")
    streams = [video]
    time_base = SHORT_TIME_BASE if config.codec in SHORT_TIME_BASE_ENCODERS else TRACK_TIMESCALE
    opts: dict = {
        "c:v": config.codec,
        **quality_options(config),
        "fps_mode": "passthrough",
        # Without this the encoder time base is 1/(guessed frame rate) and VFR / offset
        # timestamps get rounded to it (15 ms off on the hamilton clip).
        "enc_time_base:v": f"1/{time_base}",
    }
    if pix_fmt is not None:
        opts["pix_fmt"] = pix_fmt
    if plan.maps:
        assert source is not None
        src = ffmpeg_py.input(str(source))
        count: dict[str, int] = {}
        for m in plan.maps:
            streams.append(src[str(m.index)])
            k = count.get(m.kind, 0)
            opts[f"c:{m.kind}:{k}"] = m.codec
            count[m.kind] = k + 1
    if out.suffix.lower() in MP4_SUFFIXES:
        opts["video_track_timescale"] = TRACK_TIMESCALE
        opts["movflags"] = "+faststart"
        if encoders()[config.codec].codec == "hevc":
            opts["tag:v"] = "hvc1"  # what Apple's players need (ffmpeg's default hev1 they refuse)
    compiled = ffmpeg_py.output(*streams, str(out), **opts)
    return compiled.global_args("-hide_banner", "-nostdin", "-nostats", "-loglevel", "error", "-copyts", "-y").compile(
        cmd=ffmpeg_exe()
    )


def _encoder_env() -> dict[str, str]:
    return {**ENCODER_ENV, **os.environ}


def _trial_frames(width: int, height: int) -> bytes:
    """A few frames of a moving gradient, as the Matroska stream the writer sends."""
    x = np.linspace(0, 255, width, dtype=np.float32)[None, :, None]
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None, None]
    data = [_mkv_header(width, height)]
    step = NS_PER_S // 25
    for i in range(TRIAL_FRAMES):
        frame = np.concatenate([x + 0 * y, y + 0 * x, (x + y + 40 * i) % 256], axis=2).astype(np.uint8)
        data += [_mkv_frame_prefix(i * step, step, frame.nbytes), frame.tobytes()]
    return b"".join(data)


@functools.lru_cache(maxsize=None)
def _trial(config: EncodeConfig, pix_fmt: str | None, suffix: str, size: tuple[int, int]) -> str | None:
    """Encode a few frames of ``size`` with the writer's own command into a ``suffix`` file
    (in the system's temporary folder): None when ffmpeg wrote them at exactly that size, else
    what went wrong (ffmpeg's line)."""
    w, h = size
    meta = VideoMeta.constant_rate(Path("trial"), w, h, TRIAL_FRAMES, 25.0)
    with tempfile.TemporaryDirectory(prefix="stitchtime-trial-") as tmp:
        out = Path(tmp) / f"trial{suffix}"
        cmd = _ffmpeg_command(meta, config, pix_fmt, out)
        try:
            proc = subprocess.run(
                cmd, input=_trial_frames(w, h), capture_output=True, timeout=TRIAL_TIMEOUT_S, env=_encoder_env()
            )
        except subprocess.TimeoutExpired:
            return f"a {w}x{h} test encode took over {TRIAL_TIMEOUT_S} s"
        stderr = proc.stderr.decode("utf-8", errors="replace")
        if proc.returncode != 0 or not out.is_file():
            return first_error_line(stderr) if stderr.strip() else f"ffmpeg exited with {proc.returncode}"
        coded = next((s.size for s in streams_of(out) if s.kind == "video"), None)
        if coded != size:
            got = f"{coded[0]}x{coded[1]}" if coded else "no video"
            return f"a {w}x{h} test frame came out {got}"
    return None


def _unknown_encoder(codec: str) -> str:
    everything = encoders()
    video = [e for e in everything.values() if e.kind == "video"]
    names = {e.name for e in video}
    common = [n for n in COMMON_ENCODERS if n in names]
    found = everything.get(codec)
    if found is not None:
        what = f"{'an' if found.kind == 'audio' else 'a'} {found.kind} encoder, not a video one"
    else:
        same = [e.name for e in video if e.codec == codec]
        same = sorted(same, key=lambda n: (n not in common, same.index(n)))
        what = f"a codec, not an encoder (its encoders: {', '.join(same[:4])})" if same else "no such encoder here"
    return (
        f"--codec {codec}: {what}; video encoders: {', '.join(common)} "
        f"({len(video)} in all: {ffmpeg_exe()} -hide_banner -encoders)"
    )


def check_encoder(config: EncodeConfig, suffix: str, where: str) -> None:
    """Refuse (InputError, one line) a ``config.codec`` that is not a video encoder of this
    ffmpeg, that the ``suffix`` container cannot hold (naming the containers that can), or that
    does not work here at all (e.g. a GPU encoder without the GPU). ``where`` names the output."""
    codec = config.codec
    found = encoders().get(codec)
    if found is None or found.kind != "video":
        raise InputError(_unknown_encoder(codec))
    if suffix not in CONTAINERS:
        what = f"'{suffix}'" if suffix else "no extension"
        raise InputError(f"{where}: {what} is not a container for the video output; use {', '.join(VIDEO_SUFFIXES)}")
    base = _base_pix_fmt(config)
    error = _trial(config, base, suffix, TRIAL_SIZE)
    if error is None:
        return
    holders = [s for s in CONTAINERS if s != suffix and _trial(config, base, s, TRIAL_SIZE) is None]
    if holders:
        raise InputError(
            f"{where}: the {CONTAINERS[suffix]} container cannot hold {codec} video; "
            f"containers that can: {', '.join(holders)} (or choose another --codec)"
        )
    raise InputError(f"--codec {codec}: ffmpeg refused to encode with it ({error})")


@functools.lru_cache(maxsize=None)
def _odd_size(config: EncodeConfig, suffix: str) -> tuple[bool, str | None, str | None]:
    """(True, pixel format, None) for the first format that codes an odd size exactly with
    ``config.codec`` (``config.pix_fmt``, else yuv444p after a subsampled one), or (False, None, why)."""
    base = _base_pix_fmt(config)
    fmts = encoder_help(config.codec).pix_fmts
    candidates = [base]
    if base != ODD_SIZE_PIX_FMT and (base is None or base in SUBSAMPLED_PIX_FMTS) and ODD_SIZE_PIX_FMT in fmts:
        candidates.append(ODD_SIZE_PIX_FMT)
    error = None
    for fmt in candidates:
        error = _trial(config, fmt, suffix, ODD_TRIAL_SIZE)
        if error is None:
            return True, fmt, None
    return False, None, error


def frame_pix_fmt(config: EncodeConfig, width: int, height: int, suffix: str = ".mkv") -> str | None:
    """The pixel format frames of ``width x height`` are encoded in: ``config.pix_fmt`` (None:
    the encoder's choice, where it lacks that one), or for an odd size where that format would
    not code it exactly (x264, x265 in 4:2:0), ``yuv444p``. InputError where nothing does."""
    if not (width % 2 or height % 2):
        return _base_pix_fmt(config)
    ok, fmt, error = _odd_size(config, suffix)
    if ok:
        return fmt
    able = [
        c
        for c in ("libx264", "libx265", "libvpx-vp9")
        if c in encoders() and _odd_size(EncodeConfig(codec=c), suffix)[0]
    ]
    raise InputError(
        f"--codec {config.codec}: cannot code the odd frame size {width}x{height} exactly ({error}); "
        f"use {', '.join(able) or 'an even size'}"
    )


def check_video_output(path: Path, config: EncodeConfig = EncodeConfig(), source: Path | None = None) -> None:
    """Refuse, before any work, an output the writer cannot make: a suffix that is not one of
    ``VIDEO_SUFFIXES``, a codec that is not a video encoder or that this container cannot hold
    (`check_encoder`), and, given the ``source`` video, an odd frame size the encoder cannot
    code exactly."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in CONTAINERS:
        what = f"'{suffix}'" if suffix else "no extension"
        raise InputError(f"{path}: {what} is not a container for the video output; use {', '.join(VIDEO_SUFFIXES)}")
    check_encoder(config, suffix, str(path))
    if source is not None and Path(source).is_file():
        size = next((s.size for s in streams_of(source) if s.kind == "video" and not s.attached_pic), None)
        if size is not None:
            frame_pix_fmt(config, *size, suffix=suffix)


# --- minimal Matroska (EBML) writer: rawvideo RGB24 frames with exact timestamps -----------


def _vint_size(n: int) -> bytes:
    for length in range(1, 9):
        if n < (1 << (7 * length)) - 1:
            return ((1 << (7 * length)) | n).to_bytes(length, "big")
    raise ValueError(f"EBML element too large: {n} bytes")


def _element(element_id: int, payload: bytes) -> bytes:
    return element_id.to_bytes((element_id.bit_length() + 7) // 8, "big") + _vint_size(len(payload)) + payload


def _uint(element_id: int, value: int) -> bytes:
    return _element(element_id, value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big"))


def _mkv_header(width: int, height: int) -> bytes:
    ebml = _element(
        0x1A45DFA3,
        _uint(0x4286, 1)
        + _uint(0x42F7, 1)
        + _uint(0x42F2, 4)
        + _uint(0x42F3, 8)
        + _element(0x4282, b"matroska")
        + _uint(0x4287, 4)
        + _uint(0x4285, 2),
    )
    segment_unknown_size = bytes.fromhex("1853806701FFFFFFFFFFFFFF")
    info = _element(0x1549A966, _uint(0x2AD7B1, 1) + _element(0x4D80, b"stitchtime") + _element(0x5741, b"stitchtime"))
    video = _element(0xE0, _uint(0xB0, width) + _uint(0xBA, height) + _element(0x2EB524, b"RGB\x18"))
    track = _element(
        0xAE,
        _uint(0xD7, 1) + _uint(0x73C5, 1) + _uint(0x83, 1) + _element(0x86, b"V_UNCOMPRESSED") + _uint(0x9C, 0) + video,
    )
    return ebml + segment_unknown_size + info + _element(0x1654AE6B, track)


def _mkv_frame_prefix(pts_ns: int, duration_ns: int, frame_bytes: int) -> bytes:
    """Cluster{Timestamp, BlockGroup{BlockDuration, Block(track 1, +0, no lacing)}} up to the pixels."""
    block_head = b"\x81\x00\x00\x00"
    block_len = len(block_head) + frame_bytes
    duration = _uint(0x9B, duration_ns)
    block = b"\xa1" + _vint_size(block_len) + block_head
    group_len = len(block) + frame_bytes + len(duration)
    timestamp = _uint(0xE7, pts_ns)
    # BlockDuration goes before the Block (EBML children may come in any order) so the
    # pixels can follow this prefix directly.
    group = b"\xa0" + _vint_size(group_len) + duration + block
    cluster_len = len(timestamp) + len(group) + frame_bytes
    return bytes.fromhex("1F43B675") + _vint_size(cluster_len) + timestamp + group


class VideoWriter:
    """``with VideoWriter(out, meta, EncodeConfig(), audio_from=src) as w: w.write(frame)``.

    ``audio_from``: the file whose audio and subtitle streams go into the output (usually the
    input video); ``notes`` says which of them were dropped or re-encoded, and why.
    ``colour``: the colour description of the video the frames were decoded from (its matrix
    and range are converted back to, its tags copied); None: that of ``meta.path`` where it is
    a video other than this output, else ``Colour()`` (untagged, BT.601 limited range)."""

    def __init__(
        self,
        path: str | os.PathLike,
        meta: VideoMeta,
        config: EncodeConfig = EncodeConfig(),
        overwrite: bool = False,
        audio_from: str | os.PathLike | None = None,
        colour: Colour | None = None,
    ):
        self.path = Path(path)
        self.meta = meta
        self.config = config
        self.audio_from = Path(audio_from) if audio_from is not None else None
        self.frames_written = 0
        self._check_paths(overwrite)
        if colour is None:
            source = Path(meta.path)
            # not the output itself (a preview's meta names its own file, perhaps a stale one)
            colour = colour_of(source) if source.is_file() and not same_file(source, self.path) else Colour()
        self.colour = colour
        suffix = self.path.suffix.lower()
        check_video_output(self.path, config)
        self._pix_fmt = frame_pix_fmt(config, meta.width, meta.height, suffix)
        source = streams_of(self.audio_from) if self.audio_from is not None else ()
        self.streams = plan_streams(source, suffix)
        self.notes: list[str] = list(self.streams.notes)
        self.partial = partial_path(self.path)  # unique to this process (two runs never share one)
        self._proc: subprocess.Popen | None = None
        self._stderr: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
        self._stderr_thread: threading.Thread | None = None
        self._frame_bytes = meta.width * meta.height * 3

    def _check_paths(self, overwrite: bool) -> None:
        if self.path.is_dir():
            raise InputError(f"{self.path}: is a directory, expected an output video file")
        if self.path.exists() and not overwrite:
            raise InputError(f"{self.path}: already exists (pass overwrite to replace it)")
        parent = self.path.parent
        if not parent.is_dir():
            raise InputError(f"{parent}: output directory does not exist")
        if not os.access(parent, os.W_OK | os.X_OK):
            raise InputError(f"{parent}: output directory is not writable")
        if self.audio_from is not None and not self.audio_from.is_file():
            raise InputError(f"{self.audio_from}: audio source not found")
        if self.audio_from is not None and same_file(self.path, self.audio_from):
            raise InputError(f"{self.path}: this output would replace an input; choose another path")
        pid = writer_of(self.path)
        if pid is not None:
            raise InputError(f"{self.path}: another stitchtime process (pid {pid}) is writing it now")

    @property
    def pix_fmt(self) -> str | None:
        """The pixel format used: the config's, yuv444p for odd sizes it cannot code, or None
        (the encoder's own choice) for an encoder without the config's format."""
        return self._pix_fmt

    def _command(self) -> list[str]:
        return _ffmpeg_command(
            self.meta, self.config, self.pix_fmt, self.partial, self.audio_from, self.streams, self.colour
        )

    def _fail(self, what: str) -> VideoError:
        if self._stderr_thread is not None:
            self._stderr_thread.join(timeout=5)
        text = "".join(self._stderr)
        rc = self._proc.returncode if self._proc is not None else None
        if "No space left" in text or "Disk quota" in text:
            why = f"the disk is full ({self.path.parent})"
        elif rc is not None and rc in (-signal.SIGXFSZ, 128 + signal.SIGXFSZ) or "File too large" in text:
            why = "the disk is full or the file size limit was reached (ulimit -f)"
        else:
            why = last_error_line(text) if text else "no message"
        return VideoError(f"{self.path.name}: {what}: {why}; nothing was written")

    def __enter__(self) -> VideoWriter:
        self._proc = subprocess.Popen(
            self._command(),
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=_encoder_env(),
        )
        assert self._proc.stderr is not None
        # the thread owns stderr (reads it to EOF, closes it): no close() here can race its readline
        self._stderr_thread = drain_stderr(self._proc.stderr, self._stderr)
        try:
            self._send(_mkv_header(self.meta.width, self.meta.height))
        except BaseException:  # __exit__ is not called when __enter__ raises: clean up here
            self._discard()
            raise
        return self

    def _send(self, data: bytes | memoryview) -> None:
        assert self._proc is not None and self._proc.stdin is not None
        try:
            self._proc.stdin.write(data)
        except (BrokenPipeError, OSError):
            self._proc.wait()
            raise self._fail("ffmpeg stopped while encoding") from None

    def _frame_time(self, i: int) -> tuple[int, int]:
        """(pts, duration) of frame ``i`` in ns, on the source's clock (start offset included)."""
        ts, n = self.meta.timestamps, len(self.meta.timestamps)
        step = 1.0 / self.meta.fps
        t = ts[i] if i < n else (ts[-1] if n else -step) + (i - n + 1) * step
        if i + 1 < n:
            nxt = ts[i + 1]
        elif i + 1 == n:
            nxt = self.meta.duration
        else:
            nxt = t + step
        pts = round((self.meta.start_time + t) * NS_PER_S)
        return pts, max(1, round((self.meta.start_time + nxt) * NS_PER_S) - pts)

    def write(self, frame: np.ndarray) -> None:
        """Append one ``uint8 (H, W, 3)`` RGB frame."""
        if self._proc is None:
            raise RuntimeError("VideoWriter.write() outside its `with` block")
        want = (self.meta.height, self.meta.width, 3)
        if frame.shape != want or frame.dtype != np.uint8:
            raise ValueError(f"expected a uint8 frame of shape {want}, got {frame.dtype} {frame.shape}")
        pts, dur = self._frame_time(self.frames_written)
        self._send(_mkv_frame_prefix(pts, dur, self._frame_bytes))
        self._send(memoryview(np.ascontiguousarray(frame)).cast("B"))
        self.frames_written += 1

    def _discard(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None:
                proc.kill()
            if proc.stdin is not None:
                try:
                    proc.stdin.close()
                except OSError:
                    pass
            proc.wait()
            if self._stderr_thread is not None:  # ffmpeg is gone: its stderr is at EOF
                self._stderr_thread.join(timeout=5)
        self.partial.unlink(missing_ok=True)

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self._discard()
            return
        proc = self._proc
        assert proc is not None and proc.stdin is not None
        try:
            proc.stdin.close()
        except OSError:
            pass
        rc = proc.wait()
        if self._stderr_thread is not None:
            self._stderr_thread.join(timeout=5)
        if rc != 0 or self.frames_written == 0:
            err = self._fail("encoding failed" if self.frames_written else "no frames were written")
            self._discard()
            raise err
        self._proc = None
        os.replace(self.partial, self.path)
