"""The whole face pipeline with the empty edit (`--attr none`), through the CLI, on real
and synthetic clips; tracking properties; bad input."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from cli import app
from pipelines.synth import make_astronaut_clip
from stitchtime.faces.detect import make_backend
from stitchtime.faces.track import FaceTracker
from stitchtime.io import probe, read_frames
from tests.conftest import SHARED_DATA, shared_video

runner = CliRunner()


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(((a.astype(np.float64) - b.astype(np.float64)) ** 2).mean())
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


@pytest.fixture(scope="module")
def astronaut_clip(tmp_path_factory) -> Path:
    return make_astronaut_clip(tmp_path_factory.mktemp("clip") / "astronaut.mp4", seconds=1.6, fps=25, size=(320, 256))


def _roundtrip(src: Path, out: Path, *extra: str) -> None:
    result = runner.invoke(app, ["edit", str(src), "--attr", "none", "-o", str(out), "-q", *extra])
    assert result.exit_code == 0, result.output + str(result.exception)


def _check_same_video(src: Path, out: Path, min_psnr: float = 40.0) -> None:
    m_in, f_in = read_frames(src)
    m_out, f_out = read_frames(out)
    assert m_out.n_frames == m_in.n_frames
    assert (m_out.width, m_out.height) == (m_in.width, m_in.height)
    assert m_out.sar == m_in.sar
    assert m_out.has_audio == m_in.has_audio
    assert abs(m_out.duration - m_in.duration) <= 1.0 / m_in.fps + 1e-6
    worst = min(psnr(a, b) for a, b in zip(f_in, f_out))
    assert worst >= min_psnr, f"worst frame PSNR {worst:.1f} dB"


def test_synthetic_clip_round_trip(astronaut_clip, tmp_path):
    out = tmp_path / "same.mp4"
    _roundtrip(astronaut_clip, out)
    _check_same_video(astronaut_clip, out)
    assert not [p for p in tmp_path.iterdir() if ".partial" in p.name]


@pytest.mark.parametrize(
    "name",
    [
        "liveportrait_driving_d0.mp4",  # 512x512, no audio
        "retalking_face_1.mp4",  # variable frame rate
        "liveportrait_driving_d9.mp4",  # non-square pixels
    ],
)
def test_real_clip_round_trip(name, tmp_path):
    src = shared_video(name)
    out = tmp_path / "same.mp4"
    _roundtrip(src, out)
    _check_same_video(src, out)
    if probe(src).vfr:
        assert np.allclose(probe(out).timestamps, probe(src).timestamps, atol=1e-3)


@pytest.mark.slow
def test_every_shared_clip_round_trips_at_40_db(shared_videos, tmp_path):
    for src in sorted(shared_videos.glob("*.mp4")):
        out = tmp_path / src.name
        _roundtrip(src, out)
        _check_same_video(src, out)


def test_align_writes_crops_landmarks_and_sheet(astronaut_clip, tmp_path):
    out = tmp_path / "crops"
    result = runner.invoke(app, ["align", str(astronaut_clip), "-o", str(out), "--crop-size", "128", "-q"])
    assert result.exit_code == 0, result.output
    crops = sorted((out / "crops").glob("*.png"))
    assert len(crops) == probe(astronaut_clip).n_frames
    assert cv2.imread(str(crops[0])).shape == (128, 128, 3)
    import json

    record = json.loads((out / "landmarks.json").read_text())
    assert len(record["landmarks"]) == len(crops) and all(record["valid"])
    assert (out / "contact_sheet.png").stat().st_size > 1000
    # the crop is stable: eyes land at nearly the same crop position in every frame
    m = np.array(record["crop_matrices"])
    lm = np.array(record["landmarks"])
    eyes = np.einsum("tij,tnj->tni", m[..., :2], lm[:, 36:48]) + m[:, None, :, 2]
    assert eyes.mean(1).std(0).max() < 2.0


# -- tracking ------------------------------------------------------------------------------------


def _astronaut_frames(n: int = 12) -> list[np.ndarray]:
    from skimage import data

    img = data.astronaut()[:300, 60:400]
    return [
        np.ascontiguousarray(np.roll(img, 2 * min(i % 40, 40 - i % 40), axis=1)) for i in range(n)
    ]  # pans back and forth


def _two_people(n: int = 12, joins_at: int = 6) -> list[np.ndarray]:
    """The astronaut, joined from frame ``joins_at`` by a larger face on the right."""
    photo = SHARED_DATA / "photos" / "face_recognition_obama.jpg"
    if not photo.exists():
        pytest.skip(f"real data not found at {photo}")
    other = cv2.cvtColor(cv2.imread(str(photo)), cv2.COLOR_BGR2RGB)
    canvas = [np.concatenate([f, np.zeros((f.shape[0], 420, 3), np.uint8)], axis=1) for f in _astronaut_frames(n)]
    big = cv2.resize(other, (400, int(400 * other.shape[0] / other.shape[1])))[:300]
    for f in canvas[joins_at:]:
        f[: big.shape[0], 340 : 340 + big.shape[1]] = big
    return canvas


def test_second_larger_face_does_not_steal_the_track():
    tracker = FaceTracker(make_backend())
    for f in _two_people():
        tracker.update(f)
    track = tracker.finish()
    assert track.valid.all()
    centres = track.landmarks.mean(1)
    assert (centres[:, 0] < 340).all(), "the track jumped to the other person"


def test_split_tracking_keeps_the_person_and_matches_one_process(tmp_path):
    """Pass 1 in two processes: the second half is tracked apart and joined only if it followed
    the same person; here the larger second face owns the second half, so it is re-tracked."""
    from stitchtime.config import PipelineConfig
    from stitchtime.faces.video import MIN_SPLIT_FRAMES
    from stitchtime.faces.video import track_video as analyse
    from stitchtime.io import VideoWriter
    from stitchtime.types import VideoMeta

    n = MIN_SPLIT_FRAMES + 12
    frames = _two_people(n, joins_at=n // 4)
    h, w = frames[0].shape[:2]
    meta = VideoMeta.constant_rate(tmp_path / "two.mp4", w, h, n, 25.0)
    with VideoWriter(tmp_path / "two.mp4", meta) as writer:
        for f in frames:
            writer.write(f)
    meta = probe(tmp_path / "two.mp4")
    split = analyse(tmp_path / "two.mp4", meta, PipelineConfig(progress=False, track_workers=2))
    single = analyse(tmp_path / "two.mp4", meta, PipelineConfig(progress=False, track_workers=1))
    assert split.valid.all() and (split.landmarks.mean(1)[:, 0] < 340).all(), "the track jumped to the other person"
    np.testing.assert_allclose(split.landmarks, single.landmarks, atol=1e-3)

    clip = shared_video("retalking_face_3.mp4")
    meta = probe(clip)
    split = analyse(clip, meta, PipelineConfig(progress=False, track_workers=2))
    single = analyse(clip, meta, PipelineConfig(progress=False, track_workers=1))
    assert np.array_equal(split.valid, single.valid)
    iod = np.linalg.norm(single.landmarks[:, 36:42].mean(1) - single.landmarks[:, 42:48].mean(1), axis=1)
    err = np.linalg.norm(split.landmarks - single.landmarks, axis=2).mean(1) / iod
    assert err.max() < 0.05


def test_gaps_are_bridged_and_absences_pass_through():
    frames = _astronaut_frames(24)
    blank = np.full_like(frames[0], 127)
    for i in (5, 6):  # short gap: bridged
        frames[i] = blank
    for i in range(12, 20):  # long absence: passes through
        frames[i] = blank
    tracker = FaceTracker(make_backend())
    for f in frames:
        tracker.update(f)
    track = tracker.finish()
    assert track.valid[5] and track.valid[6] and not track.detected[5]
    assert not track.valid[12:20].any()
    assert track.valid[20:].all(), "the face was not re-acquired after it came back"


def test_lost_face_searched_every_few_frames_yet_picked_up_on_its_first_frame():
    """While no face is tracked the full detector runs every `lost_detect_every` frames; when it
    finds the face, the frames skipped before are followed back, so nothing is picked up late."""
    frames = _astronaut_frames(20)
    blank = np.full_like(frames[0], 127)
    for i in range(7):
        frames[i] = blank
    tracker = FaceTracker(make_backend())
    for f in frames:
        tracker.update(f)
    track = tracker.finish()
    assert tracker.stats["full"] < 7 + 1 and tracker.stats["backfill"] >= 1
    assert not track.detected[:7].any() and track.detected[7:].all()


# -- bad input ------------------------------------------------------------------------------------


def _fails(args: list[str], message: str, out: Path | None = None) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code != 0
    err = result.stderr.strip().splitlines()
    assert len(err) == 1 and message in err[0], result.stderr
    if out is not None:
        assert not out.exists()
        assert not [p for p in out.parent.iterdir() if ".partial" in p.name]


def test_missing_file(tmp_path):
    out = tmp_path / "o.mp4"
    _fails(["edit", str(tmp_path / "nope.mp4"), "--attr", "none", "-o", str(out)], "no such file", out)


def test_not_a_video(tmp_path):
    src = tmp_path / "notes.mp4"
    src.write_text("hello, I am not a video\n" * 20)
    out = tmp_path / "o.mp4"
    _fails(["edit", str(src), "--attr", "none", "-o", str(out)], "not a video", out)


def test_truncated_video(astronaut_clip, tmp_path):
    src = tmp_path / "cut.mp4"
    src.write_bytes(astronaut_clip.read_bytes()[:3000])
    out = tmp_path / "o.mp4"
    result = runner.invoke(app, ["edit", str(src), "--attr", "none", "-o", str(out), "-q"])
    assert result.exit_code != 0 and len(result.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_zero_decodable_frames(tmp_path):
    src = tmp_path / "empty.mp4"
    src.write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(64))
    out = tmp_path / "o.mp4"
    result = runner.invoke(app, ["edit", str(src), "--attr", "none", "-o", str(out), "-q"])
    assert result.exit_code != 0 and len(result.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_video_without_a_face(tmp_path):
    from stitchtime.config import EncodeConfig
    from stitchtime.io import VideoWriter
    from stitchtime.types import VideoMeta

    src = tmp_path / "wall.mp4"
    meta = VideoMeta.constant_rate(src, 160, 120, 10, 10.0)
    rng = np.random.default_rng(0)
    with VideoWriter(src, meta, EncodeConfig()) as w:
        for _ in range(10):
            w.write(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8))
    out = tmp_path / "o.mp4"
    _fails(["edit", str(src), "--attr", "none", "-o", str(out), "-q"], "no face", out)


def test_existing_output_is_refused_unless_overwrite(astronaut_clip, tmp_path):
    out = tmp_path / "o.mp4"
    out.write_bytes(b"precious")
    _fails(["edit", str(astronaut_clip), "--attr", "none", "-o", str(out), "-q"], "already exists")
    assert out.read_bytes() == b"precious"
    _roundtrip(astronaut_clip, out, "--overwrite")
    assert probe(out).n_frames == probe(astronaut_clip).n_frames


def test_unknown_attribute_lists_valid_ones(astronaut_clip, tmp_path):
    out = tmp_path / "o.mp4"
    _fails(["edit", str(astronaut_clip), "--attr", "wings", "-o", str(out), "-q"], "valid:", out)
