"""``probe(path) -> VideoMeta``: stream facts and per-frame timestamps, without ffprobe.

One ffmpeg run usually does everything: its ``-i`` dump (stderr) gives container,
codec, rotation and audio facts, and a packet copy of the first video stream into
the ``framecrc`` muxer (stdout, one line per packet, with the demuxer's time base)
gives every frame's presentation timestamp in ~0.02 s. The packet list is trusted
only for MP4/MOV/Matroska files that ffmpeg read without a complaint and without
rotation; anything else (or any doubt) falls back to a full *decode* into
``framecrc``, which counts exactly what `VideoReader` will yield (edit lists,
undecodable packets, truncation) at 0.1-0.4 s for the shared clips. The two agree
frame for frame on all 14 shared clips (``tests/io/test_probe.py``).
"""

from __future__ import annotations

import contextlib
import os
import re
import statistics
import subprocess
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import ffmpeg as ffmpeg_py

from stitchtime.errors import InputError, VideoError
from stitchtime.io.ffmpeg import ffmpeg_exe, last_error_line
from stitchtime.io.paths import check_not_a_loop
from stitchtime.types import VideoMeta

#: Frame intervals that differ from the median by more than this fraction make a video VFR.
VFR_TOLERANCE = 0.1
#: ffmpeg demuxers that read still images; such "videos" are rejected as not a video.
IMAGE_DEMUXERS = ("image2", "_pipe", "png", "jpeg", "webp", "bmp", "tiff")
#: Stderr markers (``-loglevel level+...``) that signal a damaged (e.g. truncated) stream.
DAMAGE_TAGS = ("[error]", "[fatal]")
#: ffmpeg's complaint about an MP4/MOV cut before its index (typical truncated download).
MOOV_MISSING = "moov atom not found"
#: Video stream selector: first video stream that is not an attached picture (cover art).
VIDEO_STREAM = "V:0"

_INPUT_RE = re.compile(r"^Input #0, ([^,]+(?:,[^ ]+)*), from ")
_STREAM_RE = re.compile(r"^\s*Stream #0:(\d+).*?: (Video|Audio): ([A-Za-z0-9_]+)")
_ROTATION_RE = re.compile(r"rotation of (-?[\d.]+) degrees", re.IGNORECASE)
_STREAM_START_RE = re.compile(r"\bstart (-?[\d.]+)")
_FILE_START_RE = re.compile(r"^\s*Duration: .*?, start: (-?[\d.]+)")
_FRAME_RE = re.compile(r"^\d+,\s*(-?\d+),\s*(-?\d+),\s*(\d+),\s*\d+,\s*0x[0-9a-fA-F]+(?:,\s*F=(0x[0-9a-fA-F]+))?")
#: Packet flag (framecrc ``F=``) of packets the demuxer marks to be discarded (edit lists).
_PACKET_DISCARD = 0x4
#: Demuxers whose packet timestamps are trusted without a decode pass.
PACKET_PROBE_DEMUXERS = ("mov", "mp4", "matroska", "webm")


#: Box types that can open an ISO-BMFF (MP4/MOV) file.
ISO_BOXES = (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip", b"pnot")


def _looks_like_iso_media(path: Path) -> bool:
    """True when the file starts like an MP4/MOV (so 'no moov' means truncated, not 'not a video')."""
    with open(path, "rb") as f:
        head = f.read(8)
    return len(head) == 8 and head[4:8] in ISO_BOXES


def _check_readable(path: Path) -> None:
    check_not_a_loop(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, expected a video file")
    if not path.is_file():  # a FIFO, socket or device: reading it could block forever
        raise InputError(f"{path}: not a regular file (a pipe, socket or device); give a video file")
    if not os.access(path, os.R_OK):
        raise InputError(f"{path}: not readable (permission denied)")


def _probe_command(path: Path, packets: bool = False) -> list[str]:
    inp = ffmpeg_py.input(str(path))
    if packets:
        out = ffmpeg_py.output(inp[VIDEO_STREAM], "pipe:", format="framecrc", c="copy")
    else:
        out = ffmpeg_py.output(
            inp[VIDEO_STREAM], "pipe:", format="framecrc", fps_mode="passthrough", enc_time_base="demux"
        )
    return out.global_args("-hide_banner", "-nostdin", "-nostats", "-loglevel", "level+info", "-copyts").compile(
        cmd=ffmpeg_exe()
    )


def _input_section(stderr: str) -> list[str]:
    """The lines of ffmpeg's dump of input #0 (before the output / mapping part)."""
    lines = [re.sub(r"^\[\w+\] ", "", ln) for ln in stderr.splitlines()]
    start = next((i for i, ln in enumerate(lines) if ln.startswith("Input #0")), None)
    if start is None:
        return []
    section = []
    for ln in lines[start:]:
        if ln.startswith(("Stream mapping:", "Output #0", "Press [q]")) or ln.startswith("[") and section:
            break
        section.append(ln)
    return section


def _packets_trusted(returncode: int, stderr: str) -> bool:
    """Whether a packet pass (``packets=True``) can stand in for a decode pass."""
    if returncode != 0 or any(tag in stderr for tag in DAMAGE_TAGS):
        return False
    section = _input_section(stderr)
    header = _INPUT_RE.match(section[0]) if section else None
    if header is None or not any(d in header.group(1).split(",") for d in PACKET_PROBE_DEMUXERS):
        return False
    return not any(_ROTATION_RE.search(ln) for ln in section)


def probe(path: str | os.PathLike) -> VideoMeta:
    """Read a video's stream facts and every frame's presentation timestamp.

    Raises InputError for a missing path / directory / unreadable file and
    VideoError (one line) for anything that is not a decodable video: text,
    images, random bytes, audio-only files, zero decodable frames, a file
    truncated before any frame. A file damaged after some frames decode is
    accepted: ``n_frames`` counts the decodable frames and ``notes`` says so.
    """
    path = Path(path)
    _check_readable(path)
    proc = subprocess.run(_probe_command(path, packets=True), capture_output=True, check=False)
    stderr = proc.stderr.decode("utf-8", errors="replace")
    if not _packets_trusted(proc.returncode, stderr):
        proc = subprocess.run(_probe_command(path), capture_output=True, check=False)
        stderr = proc.stderr.decode("utf-8", errors="replace")
        packets = False
    else:
        packets = True
    section = _input_section(stderr)
    if not section:
        if MOOV_MISSING in stderr and _looks_like_iso_media(path):
            raise VideoError(f"{path.name}: truncated or unfinished MP4/MOV (no 'moov' index), nothing decodable")
        raise VideoError(f"{path.name}: not a video file ({last_error_line(stderr)})")

    header = _INPUT_RE.match(section[0])
    demuxer = header.group(1) if header else ""
    if any(tag in part for part in demuxer.split(",") for tag in IMAGE_DEMUXERS):
        raise VideoError(f"{path.name}: is a still image ({demuxer}), not a video")

    video_line = audio_line = None
    rotation = 0
    for i, ln in enumerate(section):
        m = _STREAM_RE.match(ln)
        if not m:
            continue
        if m.group(2) == "Video" and video_line is None and "(attached pic)" not in ln:
            video_line = ln
            for side in section[i + 1 :]:
                if _STREAM_RE.match(side):
                    break
                rot = _ROTATION_RE.search(side)
                if rot:
                    rotation = round(float(rot.group(1))) % 360
        elif m.group(2) == "Audio" and audio_line is None:
            audio_line = ln
    if video_line is None:
        raise VideoError(f"{path.name}: has no video stream")
    _remember_colour(path, video_line)  # colour_of(path) for the reader and writer, without another run
    codec = _STREAM_RE.match(video_line).group(3)
    audio_codec = _STREAM_RE.match(audio_line).group(3) if audio_line else None

    tb = Fraction(1, 1)
    width = height = 0
    sar = Fraction(1, 1)
    frames: list[tuple[int, int]] = []  # (pts, duration) in tb units
    for raw in proc.stdout.decode("ascii", errors="replace").splitlines():
        if raw.startswith("#tb 0:"):
            tb = Fraction(raw.split(":", 1)[1].strip())
        elif raw.startswith("#dimensions 0:"):
            width, height = (int(v) for v in raw.split(":", 1)[1].strip().split("x"))
        elif raw.startswith("#sar 0:"):
            num, den = (int(v) for v in raw.split(":", 1)[1].strip().split("/"))
            if num > 0 and den > 0:
                sar = Fraction(num, den)
        else:
            m = _FRAME_RE.match(raw)
            if m and not (packets and int(m.group(4) or "0", 16) & _PACKET_DISCARD):
                frames.append((int(m.group(2)), int(m.group(3))))

    damage = [ln for ln in stderr.splitlines() if any(tag in ln for tag in DAMAGE_TAGS)]
    if not frames:
        why = last_error_line("\n".join(damage)) if damage else last_error_line(stderr)
        raise VideoError(f"{path.name}: no decodable video frames (truncated or corrupt: {why})")

    frames.sort()
    first = frames[0][0]
    timestamps = tuple(float((pts - first) * tb) for pts, _ in frames)
    intervals = [b - a for a, b in zip(timestamps, timestamps[1:])]
    median = statistics.median(intervals) if intervals else 0.0
    last_dur = float(frames[-1][1] * tb) or median
    duration = timestamps[-1] + last_dur
    if duration <= 0:
        raise VideoError(f"{path.name}: video has no duration (a single still frame?)")
    vfr = bool(intervals) and max(abs(d - median) for d in intervals) > VFR_TOLERANCE * median

    notes: list[str] = []
    if damage:
        notes.append(
            f"damaged or truncated: decoded {len(frames)} frames, then ffmpeg said '{last_error_line(damage[-1])}'"
        )
    start = _STREAM_START_RE.search(audio_line) if audio_line else None
    file_start = next((m for m in map(_FILE_START_RE.match, section) if m), None)
    return VideoMeta(
        path=path,
        width=width,
        height=height,
        n_frames=len(frames),
        fps=len(frames) / duration,
        timestamps=timestamps,
        duration=duration,
        start_time=float(first * tb),
        sar=sar,
        rotation=rotation,
        has_audio=audio_line is not None,
        audio_codec=audio_codec,
        codec=codec,
        vfr=vfr,
        audio_start_time=float(start.group(1)) if start else None,
        file_start_time=float(file_start.group(1)) if file_start else None,
        notes=tuple(notes),
    )


def audio_codec_of(path: str | os.PathLike) -> str | None:
    """Codec name of the first audio stream of any media file (no video needed), or None."""
    path = Path(path)
    _check_readable(path)
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path)]
    stderr = subprocess.run(cmd, capture_output=True, check=False).stderr.decode("utf-8", errors="replace")
    for ln in _input_section(stderr):
        m = _STREAM_RE.match(ln)
        if m and m.group(2) == "Audio":
            return m.group(3)
    return None


@dataclass(frozen=True)
class StreamInfo:
    """One stream of a media file, as ffmpeg's ``-i`` dump lists it."""

    index: int  # the stream's number in the file (``-map 0:INDEX``)
    kind: str  # "video", "audio", "subtitle", "data" or "attachment"
    codec: str  # ffmpeg's codec name ("aac", "subrip", "hdmv_pgs_subtitle"; "none" when it has none)
    language: str | None = None  # the stream's language tag ("eng"), when it has one
    size: tuple[int, int] | None = None  # width, height of a video (or bitmap subtitle) stream
    attached_pic: bool = False  # a cover image stored as a video stream, not video

    def describe(self) -> str:
        """``3 (subrip, eng)``: how a note names the stream."""
        return f"{self.index} ({self.codec}{', ' + self.language if self.language else ''})"


_ANY_STREAM_RE = re.compile(
    r"^\s*Stream #0:(\d+)(?:\[0x[0-9a-fA-F]+\])?(?:\(([^)]*)\))?: (Video|Audio|Subtitle|Data|Attachment):"
    r" ?([A-Za-z0-9_-]*)"
)
_SIZE_RE = re.compile(r", (\d{1,5})x(\d{1,5})\b")


def streams_of(path: str | os.PathLike) -> tuple[StreamInfo, ...]:
    """Every stream of a media file, in the file's order (one ``ffmpeg -i`` run, no decode)."""
    path = Path(path)
    _check_readable(path)
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path)]
    stderr = subprocess.run(cmd, capture_output=True, check=False).stderr.decode("utf-8", errors="replace")
    streams = []
    for ln in _input_section(stderr):
        m = _ANY_STREAM_RE.match(ln)
        if not m:
            continue
        size = _SIZE_RE.search(ln)
        lang = m.group(2) if m.group(2) and m.group(2) != "und" else None
        streams.append(
            StreamInfo(
                index=int(m.group(1)),
                kind=m.group(3).lower(),
                codec=m.group(4) or "none",
                language=lang,
                size=(int(size.group(1)), int(size.group(2))) if size else None,
                attached_pic="(attached pic)" in ln,
            )
        )
    return tuple(streams)


# --- colour description: how the video's YUV maps to RGB (what decode and encode convert with) ---

#: Colour matrix tags (ffmpeg's names) the scale filter converts with, under its option names
#: (the long-standing ones: ffmpeg 9 also takes "bt470bg" and "bt2020nc"). Anything else
#: (unspecified, "gbr" for RGB video, ycgco, bt2020c...) converts as BT.601, swscale's default
#: and what ffmpeg assumes for an untagged YUV stream.
SWS_MATRICES = {
    "bt709": "bt709",
    "smpte170m": "smpte170m",
    "bt470bg": "bt470",
    "fcc": "fcc",
    "smpte240m": "smpte240m",
    "bt2020nc": "bt2020",
}
#: Words of the pixel format's parentheses that are not colour: field order and chroma siting.
_NOT_COLOUR = ("progressive", "top", "bottom", "left", "center", "topleft", "bottomleft", "unspecified")
_RGB_PIX_FMT_RE = re.compile(r"^(?:[0-9a-z]*rgb|[0-9a-z]*bgr|gbr|argb|abgr|rgba|bgra|pal8|bayer|x2rgb|x2bgr)")
_PIX_FMT_RE = re.compile(r"Video: [^,]*, ([0-9a-z_]+)(?:\(((?:[^()]|\([^()]*\))*)\))?")


@dataclass(frozen=True)
class Colour:
    """A video stream's pixel format and colour tags as ffmpeg's ``-i`` dump shows them
    (``yuv420p(tv, bt709, progressive)``, ``yuvj420p(pc, bt470bg/unknown/unknown)``); None:
    the tag is unspecified (``Colour()``: an untagged stream, read as BT.601 limited range)."""

    pix_fmt: str = ""
    range: str | None = None  # "tv" (limited) or "pc" (full)
    space: str | None = None  # matrix coefficients: "bt709", "smpte170m", "bt470bg", "gbr" (RGB)...
    primaries: str | None = None  # "bt709", "bt2020", ...
    trc: str | None = None  # transfer characteristics: "bt709", "smpte2084", ...

    @property
    def rgb(self) -> bool:
        """The stream stores RGB (or palette) pixels, not YUV or grey: no matrix, no range."""
        return self.space == "gbr" or bool(_RGB_PIX_FMT_RE.match(self.pix_fmt))

    @property
    def full_range(self) -> bool:
        return not self.rgb and (self.range == "pc" or self.pix_fmt.startswith("yuvj"))

    @property
    def matrix(self) -> str | None:
        """The scale filter's name for the matrix this YUV stream is converted with; None
        where it has no tag swscale knows (converted as BT.601, swscale's default)."""
        return None if self.rgb else SWS_MATRICES.get(self.space or "")

    def describe(self) -> str:
        """``yuv420p tv bt709/bt709/bt709``; ``-`` for unspecified tags."""
        tags = "/".join(t or "-" for t in (self.space, self.primaries, self.trc))
        return f"{self.pix_fmt or '?'} {self.range or '-'} {tags}"


def parse_colour(video_line: str) -> Colour:
    """The `Colour` of one ``Stream #0:N: Video: ...`` line of ffmpeg's ``-i`` dump."""
    m = _PIX_FMT_RE.search(video_line)
    if m is None:
        return Colour()
    fields: dict[str, str | None] = {}
    for item in (m.group(2) or "").split(", "):
        item = item.strip()
        if item in ("tv", "pc"):
            fields["range"] = item
        elif "/" in item:
            names = [None if n in ("unknown", "reserved") else n for n in item.split("/")]
            if len(names) == 3:
                fields["space"], fields["primaries"], fields["trc"] = names
        elif item and not item.startswith(_NOT_COLOUR) and item not in ("unknown", "reserved"):
            fields["space"] = fields["primaries"] = fields["trc"] = item  # all three the same
    return Colour(pix_fmt=m.group(1), **fields)


_COLOUR_CACHE: dict[tuple, Colour] = {}
_COLOUR_CACHE_SIZE = 256


def _colour_key(path: Path) -> tuple | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (str(path.resolve()), st.st_ino, st.st_size, st.st_mtime_ns)


def _remember_colour(path: Path, video_line: str) -> Colour:
    colour = parse_colour(video_line)
    key = _colour_key(path)
    if key is not None:
        if len(_COLOUR_CACHE) >= _COLOUR_CACHE_SIZE:
            with contextlib.suppress(KeyError, RuntimeError, StopIteration):  # another thread got there first
                _COLOUR_CACHE.pop(next(iter(_COLOUR_CACHE)))
        _COLOUR_CACHE[key] = colour
    return colour


def colour_of(path: str | os.PathLike) -> Colour:
    """The `Colour` of a video file's first video stream (``Colour()`` for anything that is not
    a readable video). Cached per file version: `probe` fills the cache from its own dump, so
    after a probe this runs no ffmpeg."""
    path = Path(path)
    key = _colour_key(path)
    if key is None or not path.is_file():
        return Colour()
    if key in _COLOUR_CACHE:
        return _COLOUR_CACHE[key]
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path)]
    stderr = subprocess.run(cmd, capture_output=True, check=False).stderr.decode("utf-8", errors="replace")
    for ln in _input_section(stderr):
        m = _ANY_STREAM_RE.match(ln)
        if m and m.group(3) == "Video" and "(attached pic)" not in ln:
            return _remember_colour(path, ln)
    return Colour()
