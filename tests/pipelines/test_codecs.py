"""``--codec`` and the output's streams, end to end through the CLI on a real clip cut to 1 s:
HEVC and VP9/WebM outputs (same frames, timing and audio), refusals in one line before any
work (not a video encoder, a container that cannot hold the codec), odd frame sizes per codec,
and every audio and subtitle stream of an MKV kept (in MP4: text subtitles as mov_text, a
bitmap one dropped with a note naming it)."""

from __future__ import annotations

import dataclasses
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from cli import app
from stitchtime.config import EncodeConfig
from stitchtime.io import VideoWriter, probe, read_frames
from stitchtime.io.encode import frame_pix_fmt, plan_streams
from stitchtime.io.ffmpeg import ffmpeg_exe, has_encoder
from stitchtime.io.probe import StreamInfo, streams_of
from tests.conftest import shared_video

runner = CliRunner()
SUBTITLE_TEXT = "Hello there"


def _ffmpeg(*args: str) -> None:
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args], check=True)


def _edit(src: Path, out: Path, *args: str):
    return runner.invoke(app, ["edit", str(src), "-o", str(out), "--attr", "none", "-q", *args])


def _kinds(path: Path) -> list[tuple[str, str]]:
    return [(s.kind, s.codec) for s in streams_of(path)]


def _one_line_refusal(result, out: Path, *words: str) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1, result.stderr
    assert all(w in lines[0] for w in words), lines[0]
    assert not out.exists() and not list(out.parent.glob("*.partial*"))
    return lines[0]


def _pgs(path: Path, size: tuple[int, int], start: float = 0.1, end: float = 0.8) -> Path:
    """A one-caption PGS (Blu-ray bitmap) subtitle file: a 32x8 box shown from start to end."""

    def seg(kind: int, pts: int, payload: bytes) -> bytes:
        return b"PG" + struct.pack(">IIBH", pts, 0, kind, len(payload)) + payload

    def display(pts: int, on: bool) -> bytes:
        w, h = size
        objects = struct.pack(">HBBHH", 0, 0, 0, 10, 10) if on else b""
        out = seg(
            0x16, pts, struct.pack(">HHBHBBBB", w, h, 0x10, int(not on), 0x80 if on else 0, 0, 0, int(on)) + objects
        )
        out += seg(0x17, pts, struct.pack(">BBHHHH", 1, 0, 10, 10, 32, 8))
        if on:
            out += seg(0x14, pts, bytes([0, 0, 1, 235, 128, 128, 255]))  # palette: entry 1 white, opaque
            rle = bytes([0, 0x80 | 32, 1, 0, 0]) * 8  # 8 lines of 32 pixels of colour 1
            head = struct.pack(">HBB", 0, 0, 0xC0) + (len(rle) + 4).to_bytes(3, "big") + struct.pack(">HH", 32, 8)
            out += seg(0x15, pts, head + rle)
        return out + seg(0x80, pts, b"")

    path.write_bytes(display(round(start * 90000), True) + display(round(end * 90000), False))
    return path


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """1 s of a real talking-face clip (524x524, 25 fps, AAC audio, video starting 80 ms in)."""
    out = tmp_path_factory.mktemp("codecs") / "clip.mp4"
    _ffmpeg("-i", str(shared_video("retalking_face_5.mp4")), "-t", "1", "-c", "copy", str(out))
    return out


@pytest.fixture(scope="module")
def mkv(clip, tmp_path_factory) -> Path:
    """The clip as an MKV with two audio tracks (AAC; Vorbis, French), a text (SubRip, English)
    and a bitmap (PGS) subtitle track."""
    d = tmp_path_factory.mktemp("mkv")
    srt = d / "s.srt"
    srt.write_text(f"1\n00:00:00,100 --> 00:00:00,800\n{SUBTITLE_TEXT}\n\n")
    sup = _pgs(d / "s.sup", probe(clip).size)
    out = d / "streams.mkv"
    _ffmpeg(
        *("-i", str(clip), "-f", "lavfi", "-i", "sine=frequency=440:duration=1", "-i", str(srt), "-i", str(sup)),
        *("-map", "0:v", "-map", "0:a", "-map", "1:a", "-map", "2", "-map", "3"),
        *("-c:v", "copy", "-c:a:0", "copy", "-c:a:1", "libvorbis", "-c:s", "copy"),
        *("-metadata:s:a:1", "language=fra", "-metadata:s:s:0", "language=eng", str(out)),
    )
    assert _kinds(out) == [
        ("video", "h264"),
        ("audio", "aac"),
        ("audio", "vorbis"),
        ("subtitle", "subrip"),
        ("subtitle", "hdmv_pgs_subtitle"),
    ]
    return out


def _same_video(src: Path, out: Path, codec: str) -> None:
    m, om = probe(src), probe(out)
    assert om.codec == codec and om.size == m.size and om.n_frames == m.n_frames
    assert np.allclose(om.timestamps, m.timestamps, atol=1.5e-3)
    assert om.start_time == pytest.approx(m.start_time, abs=1.5e-3)  # -copyts: the A/V offset is kept


def test_hevc_output(clip, tmp_path):
    out = tmp_path / "hevc.mp4"
    result = _edit(clip, out, "--codec", "libx265")
    assert result.exit_code == 0, result.stderr
    _same_video(clip, out, "hevc")
    assert _kinds(out)[1:] == [("audio", "aac")]  # copied


def test_webm_vp9_with_opus_audio(clip, tmp_path):
    out = tmp_path / "vp9.webm"
    result = _edit(clip, out, "--codec", "libvpx-vp9")
    assert result.exit_code == 0, result.stderr
    _same_video(clip, out, "vp9")
    assert _kinds(out)[1:] == [("audio", "opus")]  # WebM holds no AAC: re-encoded, and said so
    assert "audio stream 1 (aac) re-encoded as opus" in result.stderr
    m, om = probe(clip), probe(out)
    assert om.audio_start_time == pytest.approx(m.audio_start_time, abs=1.5e-3)


@pytest.mark.parametrize(("codec", "says"), [("bogus", "no such encoder"), ("aac", "an audio encoder")])
def test_not_a_video_encoder_is_refused_listing_encoders(clip, tmp_path, codec, says):
    out = tmp_path / "o.mp4"
    _one_line_refusal(_edit(clip, out, "--codec", codec), out, says, "libx264", "libx265", "libvpx-vp9")


@pytest.mark.parametrize(
    ("codec", "name", "holders"), [("libx264", "o.webm", ".mp4, .mov, .m4v, .mkv"), ("libvpx-vp9", "o.m4v", ".webm")]
)
def test_a_container_that_cannot_hold_the_codec_is_refused(clip, tmp_path, codec, name, holders):
    out = tmp_path / name
    line = _one_line_refusal(_edit(clip, out, "--codec", codec), out, "cannot hold", codec)
    assert holders in line


def test_batch_refuses_a_bad_codec_before_any_file(clip, tmp_path):
    src, dst = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    (src / "a.mp4").symlink_to(clip)
    result = runner.invoke(app, ["batch", str(src), str(dst), "--attr", "none", "-q", "--codec", "libtheora"])
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1 and "MP4 container cannot hold libtheora" in lines[0], lines
    assert not dst.exists()


def test_mkv_streams_into_mp4(mkv, tmp_path):
    out = tmp_path / "streams.mp4"
    result = _edit(mkv, out, "--codec", "libx264", "--preset", "ultrafast")
    assert result.exit_code == 0, result.stderr
    assert _kinds(out) == [("video", "h264"), ("audio", "aac"), ("audio", "aac"), ("subtitle", "mov_text")]
    assert [s.language for s in streams_of(out)][1:] == [None, "fra", "eng"]
    notes = [ln for ln in result.stderr.splitlines() if ln.startswith("stitchtime: ")]
    assert "audio stream 2 (vorbis, fra) re-encoded as aac: MP4 cannot hold vorbis" in notes[0]
    assert "dropped subtitle stream 4 (hdmv_pgs_subtitle): MP4 cannot hold it" in notes[1]
    srt = tmp_path / "back.srt"
    _ffmpeg("-i", str(out), "-map", "0:s:0", str(srt))
    assert SUBTITLE_TEXT in srt.read_text()
    assert probe(out).n_frames == probe(mkv).n_frames


def test_mkv_streams_into_mkv(mkv, tmp_path):
    out = tmp_path / "streams.mkv"
    result = _edit(mkv, out, "--preset", "ultrafast")
    assert result.exit_code == 0, result.stderr
    assert _kinds(out)[1:] == _kinds(mkv)[1:]  # every stream copied as it is
    assert "dropped" not in result.stderr and "re-encoded" not in result.stderr


def _odd_meta_frames(clip: Path, size=(255, 171), n=8):
    m, frames = read_frames(clip)
    w, h = size
    meta = dataclasses.replace(m, width=w, height=h, n_frames=n, timestamps=m.timestamps[:n], duration=m.timestamps[n])
    return meta, [np.ascontiguousarray(f[:h, :w]) for f in frames[:n]]


@pytest.mark.parametrize(
    ("codec", "suffix", "pix_fmt"), [("libx265", ".mp4", "yuv444p"), ("libvpx-vp9", ".webm", "yuv420p")]
)
def test_odd_size_per_codec(clip, tmp_path, codec, suffix, pix_fmt):
    """x265 in 4:2:0 cannot code an odd size (4:4:4 instead, as x264); VP9 codes it in 4:2:0."""
    meta, frames = _odd_meta_frames(clip)
    out = tmp_path / f"odd{suffix}"
    with VideoWriter(out, meta, EncodeConfig(codec=codec, preset="ultrafast")) as w:
        for f in frames:
            w.write(f)
    assert w.pix_fmt == pix_fmt
    om, back = read_frames(out)
    assert om.size == (255, 171) and om.n_frames == len(frames)
    mse = np.mean((np.stack(frames).astype(np.float32) - back.astype(np.float32)) ** 2)
    assert 10 * np.log10(255**2 / mse) > 38


def test_an_encoder_that_cannot_code_odd_sizes_is_refused_before_any_work(clip, tmp_path):
    if not has_encoder("libopenh264"):
        pytest.skip("this ffmpeg has no libopenh264")
    assert frame_pix_fmt(EncodeConfig(codec="libopenh264"), 256, 170, ".mp4") == "yuv420p"
    odd = tmp_path / "odd.mp4"
    _ffmpeg(
        "-i",
        str(clip),
        "-t",
        "0.3",
        "-vf",
        "format=yuv444p,crop=255:171",
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv444p",
        str(odd),
    )
    out = tmp_path / "o.mp4"
    line = _one_line_refusal(_edit(odd, out, "--codec", "libopenh264"), out, "odd frame size 255x171")
    assert "test frame came out 64x48" in line  # it crops, as it would have done to the clip


def test_stream_plan_per_container():
    streams = [
        StreamInfo(0, "video", "h264", size=(64, 64)),
        StreamInfo(1, "audio", "aac"),
        StreamInfo(2, "audio", "opus"),
        StreamInfo(3, "subtitle", "ass"),
        StreamInfo(4, "subtitle", "dvd_subtitle"),
        StreamInfo(5, "video", "mjpeg", attached_pic=True),
        StreamInfo(6, "data", "none"),
        StreamInfo(7, "attachment", "ttf"),
    ]

    def plan(suffix):
        p = plan_streams(streams, suffix)
        return [(m.index, m.codec) for m in p.maps], p.notes

    maps, notes = plan(".webm")
    assert maps == [(1, "libopus"), (2, "copy"), (3, "webvtt")] and len(notes) == 2 and "dvd_subtitle" in notes[1]
    maps, notes = plan(".mov")  # MOV takes no Opus
    assert maps == [(1, "copy"), (2, "aac"), (3, "mov_text")] and len(notes) == 2
    maps, notes = plan(".mkv")  # everything but the cover image and the data stream
    assert maps == [(1, "copy"), (2, "copy"), (3, "copy"), (4, "copy"), (7, "copy")] and notes == ()
