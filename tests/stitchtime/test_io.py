"""Video I/O: probe values, decode counts, encode round trips, errors (by property)."""

from __future__ import annotations

import dataclasses
import importlib
import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from pipelines.synth import make_astronaut_clip
from stitchtime.config import EncodeConfig
from stitchtime.errors import InputError, VideoError
from stitchtime.io import VideoReader, VideoWriter, probe, read_frames
from stitchtime.io.ffmpeg import ffmpeg_exe
from tests.conftest import shared_video

probe_module = importlib.import_module("stitchtime.io.probe")

MIN_PSNR_DB = 38.0  # re-encoded vs decoded original at the default CRF


def _ffmpeg(*args: str) -> None:
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args], check=True)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / max(mse, 1e-12)))


def _roundtrip(src: Path, out: Path, meta=None, config: EncodeConfig = EncodeConfig()):
    meta = meta or probe(src)
    frames = []
    with VideoWriter(out, meta, config, audio_from=src if meta.has_audio else None) as writer:
        for frame in VideoReader(src, meta, stop=meta.n_frames):
            frames.append(frame)
            writer.write(frame)
    out_meta, out_frames = read_frames(out)
    return meta, np.stack(frames), out_meta, out_frames


def _assert_same_timing(a, b):
    assert b.n_frames == a.n_frames
    assert abs(b.duration - a.duration) <= 1.0 / a.fps + 1e-6
    starts_a = np.asarray(a.timestamps) + a.start_time
    starts_b = np.asarray(b.timestamps) + b.start_time
    assert np.max(np.abs(starts_a - starts_b)) < 1e-3  # ms-exact per-frame timestamps and offset


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return make_astronaut_clip(tmp_path_factory.mktemp("synth") / "astronaut.mp4", seconds=2.0, fps=25)


# --- probe ------------------------------------------------------------------------------


def test_probe_synthetic(clip):
    m = probe(clip)
    assert (m.width, m.height, m.n_frames) == (256, 256, 50)
    assert m.fps == pytest.approx(25.0) and m.duration == pytest.approx(2.0)
    assert m.timestamps[0] == 0.0 and m.timestamps[1] == pytest.approx(0.04)
    assert m.has_audio and m.audio_codec == "aac" and m.codec == "h264"
    assert not m.vfr and m.sar == 1 and m.rotation == 0 and m.notes == ()


def test_probe_vfr_clip():
    m = probe(shared_video("retalking_face_1.mp4"))
    assert m.vfr and m.n_frames == 135 and (m.width, m.height) == (700, 700)
    assert m.fps == pytest.approx(135 / m.duration)
    assert len(set(np.round(np.diff(m.timestamps), 4))) > 1


@pytest.mark.parametrize(
    "name",
    [
        "retalking_face_1.mp4",
        "face_recognition_short_hamilton_clip.mp4",
        "liveportrait_driving_d10.mp4",
        "liveportrait_source_s13.mp4",
    ],
)
def test_packet_probe_matches_decode_probe(name, monkeypatch):
    """The fast packet pass gives exactly the decode pass's frames and timestamps (VFR, edit-list
    start offset, a metadata warning, portrait)."""
    path = shared_video(name)
    fast = probe(path)
    monkeypatch.setattr(probe_module, "_packets_trusted", lambda *a: False)
    assert probe(path) == fast


def test_probe_non_square_pixels():
    m = probe(shared_video("liveportrait_driving_d9.mp4"))
    assert m.sar == Fraction(15, 16) and (m.width, m.height) == (512, 480) and not m.vfr


def test_probe_start_offset():
    m = probe(shared_video("face_recognition_short_hamilton_clip.mp4"))
    assert m.start_time == pytest.approx(0.852, abs=1e-3)
    assert m.audio_start_time == pytest.approx(0.008, abs=1e-3)
    assert m.n_frames == 275


def test_probe_rotation_applied(tmp_path):
    src = make_astronaut_clip(tmp_path / "wide.mp4", seconds=0.4, size=(192, 128), audio=False)
    rotated = tmp_path / "rotated.mp4"
    _ffmpeg("-display_rotation", "90", "-i", str(src), "-c", "copy", str(rotated))
    m, frames = read_frames(rotated)
    assert m.rotation == 90 and (m.width, m.height) == (128, 192)
    _, plain = read_frames(src)
    assert frames.shape == (len(plain), 192, 128, 3)
    np.testing.assert_array_equal(frames[0], np.rot90(plain[0], 1))  # counter-clockwise, as displayed


# --- decode -----------------------------------------------------------------------------


def test_decode_count_and_range(clip):
    m, frames = read_frames(clip)
    assert frames.shape == (m.n_frames, 256, 256, 3) and frames.dtype == np.uint8
    part = np.stack(list(VideoReader(clip, m, start=17, stop=23)))
    np.testing.assert_array_equal(part, frames[17:23])
    with pytest.raises(InputError):
        VideoReader(clip, m, start=10, stop=m.n_frames + 1)


def test_decode_count_real_vfr():
    path = shared_video("retalking_face_1.mp4")
    m = probe(path)
    with VideoReader(path, m) as reader:
        assert sum(1 for _ in reader) == m.n_frames


def test_reader_close_kills_ffmpeg(clip):
    reader = VideoReader(clip)
    it = iter(reader)
    next(it)
    proc = reader._proc
    reader.close()
    assert proc.poll() is not None


# --- encode round trips -------------------------------------------------------------------


def test_roundtrip_vfr_keeps_timestamps_and_audio(tmp_path):
    src = shared_video("retalking_face_1.mp4")
    m, frames, om, out = _roundtrip(src, tmp_path / "out.mp4")
    _assert_same_timing(m, om)
    assert om.vfr and om.size == m.size and om.sar == m.sar
    assert om.has_audio and om.audio_codec == m.audio_codec
    assert min(_psnr(a, b) for a, b in zip(frames, out)) > MIN_PSNR_DB


def test_roundtrip_keeps_av_offset(tmp_path):
    src = shared_video("face_recognition_short_hamilton_clip.mp4")
    m, frames, om, out = _roundtrip(src, tmp_path / "out.mp4", config=EncodeConfig(preset="veryfast"))
    _assert_same_timing(m, om)
    assert om.start_time == pytest.approx(m.start_time, abs=1e-3)
    assert om.audio_start_time == pytest.approx(m.audio_start_time, abs=1e-3)
    assert _psnr(frames, out) > MIN_PSNR_DB


def test_roundtrip_keeps_sar(tmp_path):
    src = shared_video("liveportrait_driving_d9.mp4")
    full = probe(src)
    n = 45  # a prefix keeps the test fast
    m = dataclasses.replace(full, n_frames=n, timestamps=full.timestamps[:n], duration=full.timestamps[n])
    m, frames, om, out = _roundtrip(src, tmp_path / "out.mp4", meta=m)
    _assert_same_timing(m, om)
    assert om.sar == Fraction(15, 16) and om.size == (512, 480)
    assert _psnr(frames, out) > MIN_PSNR_DB


def test_roundtrip_synthetic_audio_copied(clip, tmp_path):
    m, frames, om, out = _roundtrip(clip, tmp_path / "out.mp4")
    _assert_same_timing(m, om)
    assert om.has_audio and om.audio_codec == "aac"
    assert _psnr(frames, out) > MIN_PSNR_DB


def test_odd_size_kept_exactly(tmp_path):
    src = make_astronaut_clip(tmp_path / "odd.mp4", seconds=0.4, size=(255, 171), audio=False)
    m, frames = read_frames(src)
    assert (m.width, m.height) == (255, 171)
    m2, frames2, om, out = _roundtrip(src, tmp_path / "odd_out.mp4", meta=m)
    assert om.size == (255, 171) and out.shape == frames.shape
    assert _psnr(frames, out) > MIN_PSNR_DB


# --- errors -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory, clip) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("bad")
    (d / "text.mp4").write_text("hello, not a video\n")
    (d / "random.mp4").write_bytes(np.random.default_rng(0).integers(0, 256, 50_000, np.uint8).tobytes())
    _ffmpeg("-i", str(clip), "-frames:v", "1", str(d / "still.png"))
    _ffmpeg("-i", str(clip), "-frames:v", "1", str(d / "still.jpg"))
    _ffmpeg("-i", str(clip), "-vn", "-c:a", "copy", str(d / "audio_only.m4a"))
    data = clip.read_bytes()
    (d / "cut_moov.mp4").write_bytes(data[: len(data) // 2])  # synth writes faststart: moov first
    _ffmpeg("-i", str(clip), "-c", "copy", "-movflags", "-faststart", str(d / "tail_moov.mp4"))
    tail = (d / "tail_moov.mp4").read_bytes()
    (d / "no_index.mp4").write_bytes(tail[: len(tail) // 2])  # index at the end, cut off
    (d / "header_only.mp4").write_bytes(data[:3000])
    return {p.name: p for p in d.iterdir()}


@pytest.mark.parametrize(
    "name", ["text.mp4", "random.mp4", "still.png", "still.jpg", "audio_only.m4a", "no_index.mp4", "header_only.mp4"]
)
def test_not_a_video(bad_inputs, name):
    with pytest.raises(VideoError) as err:
        probe(bad_inputs[name])
    assert "\n" not in str(err.value) and name in str(err.value)


def test_truncated_with_frames_is_decoded_with_note(bad_inputs, clip):
    m = probe(bad_inputs["cut_moov.mp4"])
    assert 0 < m.n_frames < probe(clip).n_frames and m.notes
    assert sum(1 for _ in VideoReader(bad_inputs["cut_moov.mp4"], m)) == m.n_frames


def test_missing_and_directory(tmp_path):
    with pytest.raises(InputError):
        probe(tmp_path / "nope.mp4")
    with pytest.raises(InputError):
        probe(tmp_path)


def test_existing_output_refused_before_work(clip, tmp_path):
    out = tmp_path / "exists.mp4"
    out.write_bytes(b"keep me")
    with pytest.raises(InputError):
        VideoWriter(out, probe(clip))
    assert out.read_bytes() == b"keep me"
    m, frames = read_frames(clip)
    with VideoWriter(out, m, overwrite=True) as w:
        for f in frames[:5]:
            w.write(f)
    assert probe(out).n_frames == 5 and w.frames_written == 5


def test_output_dir_missing_or_unwritable(clip, tmp_path):
    with pytest.raises(InputError):
        VideoWriter(tmp_path / "no" / "out.mp4", probe(clip))
    with pytest.raises(InputError):
        VideoWriter(tmp_path, probe(clip))


def test_exception_mid_write_leaves_nothing(clip, tmp_path):
    out = tmp_path / "out.mp4"
    m, frames = read_frames(clip)
    with pytest.raises(RuntimeError):
        with VideoWriter(out, m) as w:
            w.write(frames[0])
            w.write(frames[1])
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_ffmpeg_dying_mid_write_is_video_error(clip, tmp_path):
    out = tmp_path / "out.mp4"
    m, frames = read_frames(clip)
    with pytest.raises(VideoError):
        with VideoWriter(out, m) as w:
            w.write(frames[0])
            w._proc.kill()
            w._proc.wait()
            for f in frames[1:]:
                w.write(f)
    assert list(tmp_path.iterdir()) == []


def test_no_frames_is_video_error(clip, tmp_path):
    with pytest.raises(VideoError):
        with VideoWriter(tmp_path / "out.mp4", probe(clip)):
            pass
    assert list(tmp_path.iterdir()) == []


def test_wrong_frame_shape(clip, tmp_path):
    with pytest.raises(ValueError, match="shape"):
        with VideoWriter(tmp_path / "out.mp4", probe(clip)) as w:
            w.write(np.zeros((10, 10, 3), np.uint8))
    assert list(tmp_path.iterdir()) == []
