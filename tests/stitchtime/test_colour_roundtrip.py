"""Colour through the round trip (issue 15): YUV -> RGB -> YUV with the source's own matrix and
range, exact scaler rounding, and the output tagged like the source; `edit --attr none` keeps the
background at least as well as a plain CRF-18 re-encode."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from pipelines.edit_video import edit_video
from stitchtime.config import EncodeConfig
from stitchtime.editors.none import IdentityEditor
from stitchtime.io import VideoReader, VideoWriter, probe, read_frames
from stitchtime.io.ffmpeg import SWS_DECODE_FLAGS, SWS_ENCODE_FLAGS, ffmpeg_exe
from stitchtime.io.probe import Colour, colour_of, parse_colour
from tests.conftest import shared_video

#: 75% colour bars (RGB): white, yellow, cyan, green, magenta, red, blue, black.
BARS = np.array(
    [[191, 191, 191], [191, 191, 0], [0, 191, 191], [0, 191, 0], [191, 0, 191], [191, 0, 0], [0, 0, 191], [16, 16, 16]],
    np.uint8,
)
BAR_W, H, N = 16, 48, 4
#: The target of issue 15: background PSNR of `--attr none` at most this far below a CRF-18 re-encode.
MARGIN_DB = 0.5


def _ffmpeg(*args: str, stdin: bytes | None = None) -> bytes:
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args]
    return subprocess.run(cmd, input=stdin, capture_output=True, check=True).stdout


def _bars() -> np.ndarray:
    return np.repeat(np.repeat(BARS[None], H, axis=0), BAR_W, axis=1)  # (H, 8 * BAR_W, 3)


def _bars_clip(path: Path, matrix: str | None, rng: str, width: int | None = None) -> Path:
    """Lossless (x264 -qp 0) colour bars converted RGB -> YUV with ``matrix`` and range ``rng``,
    tagged so (``matrix`` None: BT.601 and no tags at all, like most of the shared clips)."""
    frame = _bars()
    if width is not None:  # an odd size: the bars cut to ``width`` columns
        frame = np.ascontiguousarray(frame[:, :width])
    h, w = frame.shape[:2]
    scale = f"scale=flags={SWS_ENCODE_FLAGS}:out_range={rng}" + (f":out_color_matrix={matrix}" if matrix else "")
    args = ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", "25", "-i", "-", "-vf", scale]
    if matrix:
        args += ["-colorspace", matrix, "-color_primaries", matrix, "-color_trc", matrix, "-color_range", rng]
    fmt = "yuv444p" if w % 2 or h % 2 else "yuv420p"
    _ffmpeg(*args, "-c:v", "libx264", "-qp", "0", "-pix_fmt", fmt, str(path), stdin=frame.tobytes() * N)
    return path


def _yuv(path: Path, pix_fmt: str = "yuv420p") -> np.ndarray:
    """The stored YUV planes, no RGB conversion (range kept as stored)."""
    return np.frombuffer(_ffmpeg("-i", str(path), "-f", "rawvideo", "-pix_fmt", pix_fmt, "-"), np.uint8)


def _bar_colours(frame: np.ndarray) -> np.ndarray:
    """The mean RGB of each bar's inner part (away from the chroma edges)."""
    cols = [frame[4:-4, i * BAR_W + 4 : (i + 1) * BAR_W - 4].reshape(-1, 3).mean(0) for i in range(len(BARS))]
    return np.array(cols)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(((a.astype(np.float64) - b.astype(np.float64)) ** 2).mean())
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def test_parse_colour():
    line = "  Stream #0:0[0x1](und): Video: h264 (High) (avc1 / 0x31637661), yuv420p(tv, bt709, progressive), 512x512"
    assert parse_colour(line) == Colour("yuv420p", "tv", "bt709", "bt709", "bt709")
    line = "  Stream #0:0: Video: hevc, yuv420p10le(tv, bt2020nc/bt2020/smpte2084, top coded first (swapped)), 8x8"
    assert parse_colour(line) == Colour("yuv420p10le", "tv", "bt2020nc", "bt2020", "smpte2084")
    line = "  Stream #0:0: Video: mjpeg (Baseline), yuvj420p(pc, bt470bg/unknown/unknown), 64x64"
    c = parse_colour(line)
    assert (c.range, c.space, c.primaries, c.trc, c.full_range, c.matrix) == (
        "pc",
        "bt470bg",
        None,
        None,
        True,
        "bt470",
    )
    c = parse_colour("  Stream #0:0: Video: h264, yuv420p(progressive), 512x512")
    assert c == Colour("yuv420p") and c.matrix is None and not c.full_range
    c = parse_colour(
        "  Stream #0:0: Video: h264 (High 4:4:4 Predictive), gbrp(pc, gbr/unknown/unknown, progressive), 8x8"
    )
    assert c.rgb and c.matrix is None and not c.full_range


@pytest.mark.parametrize(
    ("matrix", "rng", "width"),
    [("bt709", "tv", None), ("bt709", "pc", None), (None, "tv", None), ("bt709", "tv", 8 * BAR_W - 3)],
    ids=["bt709-tv", "bt709-pc", "untagged", "bt709-odd-size"],
)
def test_colour_bars_keep_colours_and_tags(tmp_path, matrix, rng, width):
    """Colour bars tagged BT.709 (limited and full range), untagged (BT.601), and at an odd size
    (the yuv444p path): the reader gives back the bars' RGB, and the writer the source's own YUV
    and tags, through a lossless x264 encode (CRF 0: the colour conversions alone, sharp chroma
    edges included) and through the default (CRF 15)."""
    src = _bars_clip(tmp_path / "bars.mp4", matrix, rng, width)
    tags = colour_of(src)
    assert tags.space == matrix and (tags.range == "pc") == (rng == "pc")
    meta, frames = read_frames(src)
    want = BARS.astype(float)
    assert np.abs(_bar_colours(frames[0]) - want).max() <= 2.0  # the source's own matrix and range
    if matrix:  # the check means something: read as BT.601, BT.709 bars are visibly off
        wrong = np.frombuffer(
            _ffmpeg(
                "-i",
                str(src),
                "-frames:v",
                "1",
                "-vf",
                f"scale=in_color_matrix=bt601:flags={SWS_DECODE_FLAGS}",
                "-f",
                "rawvideo",
                "-pix_fmt",
                "rgb24",
                "-",
            ),
            np.uint8,
        ).reshape(frames[0].shape)
        assert np.abs(_bar_colours(wrong) - want).max() > 8
    fmt = "yuv444p" if width else "yuv420p"
    for crf, min_db in ((0, 55.0), (15, 40.0)):
        out = tmp_path / f"out-{crf}.mp4"
        with VideoReader(src, meta) as r, VideoWriter(out, meta, EncodeConfig(crf=crf)) as w:
            for frame in r:
                w.write(frame)
        got = colour_of(out)
        assert (got.space, got.primaries, got.trc) == (tags.space, tags.primaries, tags.trc)
        assert got.full_range == tags.full_range
        out_meta, back = read_frames(out)
        assert out_meta.n_frames == meta.n_frames == N
        assert np.abs(_bar_colours(back[0]) - want).max() <= (2.0 if crf == 0 else 5.0)
        if crf == 0:  # no coding loss: the colour conversions alone
            assert _psnr(_yuv(out, fmt), _yuv(src, fmt)) >= min_db
        assert _psnr(back, frames) >= min_db


@pytest.mark.parametrize("pix_fmt", ["yuv420p10le", "gray", "full-range"])
def test_other_pixel_formats_round_trip(tmp_path, pix_fmt):
    """10-bit, grey and full-range sources decode and re-encode (8-bit yuv420p, lossless x264)
    with the frame count, the colours and the range kept (testsrc2's saturated edges clip in
    RGB: 42.8 dB here, against 34.5 with ffmpeg's default conversions)."""
    src = tmp_path / "src.mkv"
    gen = ["-f", "lavfi", "-i", "testsrc2=size=96x64:rate=25:duration=0.4", "-c:v", "ffv1"]
    if pix_fmt == "full-range":
        _ffmpeg(*gen, "-vf", "scale=out_range=full", "-pix_fmt", "yuv420p", "-color_range", "pc", str(src))
        assert colour_of(src).full_range
    else:
        _ffmpeg(*gen, "-pix_fmt", pix_fmt, str(src))
    meta, frames = read_frames(src)
    out = tmp_path / "out.mp4"
    with VideoWriter(out, meta, EncodeConfig(crf=0)) as w:
        for frame in frames:
            w.write(frame)
    out_meta, back = read_frames(out)
    assert out_meta.n_frames == meta.n_frames == 10
    assert _psnr(back, frames) >= 40.0
    if pix_fmt == "gray":
        assert np.abs(back.astype(int) - back[..., :1]).max() <= 1  # grey stays grey
    assert colour_of(out).full_range == colour_of(src).full_range


@pytest.fixture(scope="module")
def tagged_cut(tmp_path_factory) -> Path:
    """The first second of a BT.709-tagged shared clip, stored losslessly (its YUV and tags)."""
    cut = tmp_path_factory.mktemp("cut") / "d10_1s.mp4"
    _ffmpeg(
        "-i",
        str(shared_video("liveportrait_driving_d10.mp4")),
        "-t",
        "1",
        "-an",
        "-c:v",
        "libx264",
        "-qp",
        "0",
        str(cut),
    )
    assert colour_of(cut).space == "bt709"
    return cut


def test_attr_none_background_psnr_vs_plain_crf18(tagged_cut, tmp_path):
    """Issue 15's target, measured as `stitchtime evaluate` does: the background PSNR of
    `edit --attr none` within 0.5 dB of (in fact above) a plain ffmpeg CRF-18 re-encode's."""
    from stitchtime.evaluate import evaluate

    ours = tmp_path / "none.mp4"
    edit_video(tagged_cut, ours, IdentityEditor())
    plain = tmp_path / "crf18.mp4"
    _ffmpeg("-i", str(tagged_cut), "-c:v", "libx264", "-crf", "18", "-c:a", "copy", str(plain))
    assert probe(ours).n_frames == probe(tagged_cut).n_frames
    assert colour_of(ours).space == "bt709"
    bg_ours = evaluate(tagged_cut, ours).background_psnr
    bg_plain = evaluate(tagged_cut, plain).background_psnr
    assert bg_ours >= bg_plain - MARGIN_DB, (bg_ours, bg_plain)
