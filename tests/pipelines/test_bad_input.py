"""The bad-input table of issue 5, end to end through the CLI: each case gives one clear line on
stderr and a non-zero exit with nothing half-written, or (for inputs that are odd but valid) a
correct output and a note. Cases already covered elsewhere: missing file, text, truncated, zero
frames, no face, output exists, unknown attribute (test_roundtrip.py); model files (test_edit.py);
odd size, VFR, no audio, rotation decode (stitchtime/test_io.py); face leaving and re-entering
(test_roundtrip.py: gaps); batch (test_batch.py); --codec, containers, several audio and subtitle
streams (test_codecs.py)."""

from __future__ import annotations

import hashlib
import os
import resource
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from cli import app
from pipelines.synth import camera_frame, make_astronaut_clip
from stitchtime.config import EncodeConfig
from stitchtime.io import VideoWriter, probe, read_frames
from stitchtime.io.ffmpeg import ffmpeg_exe
from stitchtime.types import VideoMeta

runner = CliRunner()
REPO = Path(__file__).resolve().parents[2]


def _ffmpeg(*args: str) -> None:
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args], check=True)


def _write(path: Path, frames: list[np.ndarray], fps: float = 25.0) -> Path:
    h, w = frames[0].shape[:2]
    n = len(frames)
    meta = VideoMeta.constant_rate(path, w, h, n, fps)
    with VideoWriter(path, meta, EncodeConfig(preset="ultrafast")) as writer:
        for f in frames:
            writer.write(f)
    return path


def _astronaut(size: tuple[int, int], n: int) -> list[np.ndarray]:
    from skimage import data

    image = data.astronaut()
    return [camera_frame(image, i / 25, n / 25, size) for i in range(n)]


def _edit(*args: str):
    return runner.invoke(app, ["edit", *args, "--attr", "none", "-q"])


def _one_line_failure(result, message: str, out: Path) -> None:
    assert result.exit_code != 0
    err = result.stderr.strip().splitlines()
    assert len(err) == 1 and message in err[0].lower(), result.stderr
    assert not out.exists()
    assert not [p for p in out.parent.iterdir() if ".partial" in p.name] if out.parent.exists() else True


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return make_astronaut_clip(tmp_path_factory.mktemp("clip") / "astronaut.mp4", seconds=0.8, fps=25, size=(256, 256))


def test_directory_instead_of_a_file(tmp_path):
    out = tmp_path / "o.mp4"
    _one_line_failure(_edit(str(tmp_path), "-o", str(out)), "is a directory", out)


def test_image_instead_of_a_video(clip, tmp_path):
    png = tmp_path / "face.png"
    _ffmpeg("-i", str(clip), "-frames:v", "1", str(png))
    out = tmp_path / "o.mp4"
    _one_line_failure(_edit(str(png), "-o", str(out)), "still image", out)


def test_random_bytes(tmp_path):
    src = tmp_path / "noise.mp4"
    src.write_bytes(np.random.default_rng(1).integers(0, 256, 100_000, np.uint8).tobytes())
    out = tmp_path / "o.mp4"
    _one_line_failure(_edit(str(src), "-o", str(out)), "not a video", out)


def test_audio_only_file(clip, tmp_path):
    src = tmp_path / "voice.m4a"
    _ffmpeg("-i", str(clip), "-vn", "-c:a", "copy", str(src))
    out = tmp_path / "o.mp4"
    _one_line_failure(_edit(str(src), "-o", str(out)), "video", out)


def test_output_directory_missing_or_a_file(clip, tmp_path):
    out = tmp_path / "missing" / "o.mp4"
    _one_line_failure(_edit(str(clip), "-o", str(out)), "directory", out)
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    result = _edit(str(clip), "-o", str(blocker / "o.mp4"))
    assert result.exit_code != 0 and len(result.stderr.strip().splitlines()) == 1
    assert blocker.read_text() == "x"


def test_several_faces_picks_the_largest_and_says_so(tmp_path):
    """Two people (the astronaut, and a half-size copy on the right): the default edits the
    larger and says so; --face-index 1 picks the second from the left."""
    big = _astronaut((256, 256), 12)
    small = [cv2.resize(f, (128, 128), interpolation=cv2.INTER_AREA) for f in big]
    frames = [np.concatenate([b, np.pad(s, ((64, 64), (0, 0), (0, 0)))], axis=1) for b, s in zip(big, small)]
    src = _write(tmp_path / "two.mp4", frames)
    out = tmp_path / "o.mp4"
    result = _edit(str(src), "-o", str(out))
    assert result.exit_code == 0, result.output
    assert "2 faces found; editing the largest" in result.stderr and "--face-index" in result.stderr
    out2 = tmp_path / "o2.mp4"
    result = _edit(str(src), "-o", str(out2), "--face-index", "1")
    assert result.exit_code == 0 and "editing face 1" in result.stderr
    assert probe(out2).n_frames == 12


def test_tiny_face_frames_are_skipped_and_reported(tmp_path):
    """A face the detector finds but smaller than DetectConfig.min_face (24 px eye-to-mouth):
    those frames pass through unchanged and the run says how many were skipped; a video with
    only tiny faces fails with a message that says so."""
    big = [cv2.resize(f, (300, 300), interpolation=cv2.INTER_AREA) for f in _astronaut((256, 256), 10)]
    tiny = [
        np.pad(
            cv2.resize(f, (100, 100), interpolation=cv2.INTER_AREA),
            ((100, 100), (100, 100), (0, 0)),
            constant_values=90,
        )
        for f in big
    ]
    src = _write(tmp_path / "tiny.mp4", big + tiny)
    out = tmp_path / "o.mp4"
    result = _edit(str(src), "-o", str(out))
    assert result.exit_code == 0, result.output
    assert "frame(s) skipped: face smaller than 24 px" in result.stderr
    assert "(10 with the face)" in result.stdout
    only_tiny = _write(tmp_path / "only_tiny.mp4", tiny)
    _one_line_failure(
        _edit(str(only_tiny), "-o", str(tmp_path / "o2.mp4")), "no face large enough", tmp_path / "o2.mp4"
    )


def test_4k_frames_are_detected_on_a_downscaled_copy(tmp_path):
    frames = [cv2.resize(f, (3840, 2160), interpolation=cv2.INTER_LINEAR) for f in _astronaut((384, 216), 3)]
    src = _write(tmp_path / "uhd.mp4", frames)
    out = tmp_path / "o.mp4"
    result = _edit(str(src), "-o", str(out))
    assert result.exit_code == 0, result.output
    assert "(3 with the face)" in result.stdout
    m = probe(out)
    assert (m.width, m.height, m.n_frames) == (3840, 2160, 3)


def test_rotated_phone_video_keeps_its_displayed_orientation(tmp_path):
    """Stored sideways with a 90-degree display rotation, as phones record: the face is found in
    the displayed (upright) frames and the output shows the same picture."""
    upright = _astronaut((192, 256), 10)
    src = _write(tmp_path / "stored.mp4", [np.ascontiguousarray(np.rot90(f, -1)) for f in upright])
    rotated = tmp_path / "phone.mp4"
    _ffmpeg("-display_rotation", "90", "-i", str(src), "-c", "copy", str(rotated))
    out = tmp_path / "o.mp4"
    result = _edit(str(rotated), "-o", str(out))
    assert result.exit_code == 0, result.output
    m_in, f_in = read_frames(rotated)
    m_out, f_out = read_frames(out)
    assert (m_out.width, m_out.height) == (m_in.width, m_in.height) == (192, 256)
    mse = np.mean((f_in.astype(float) - f_out.astype(float)) ** 2)
    assert 10 * np.log10(255**2 / mse) > 38


def test_disk_filling_up_mid_write_removes_the_partial_and_keeps_the_input(clip, tmp_path):
    """A file-size limit (what a full disk looks like to the writer) stops the encoder mid-write."""
    src = tmp_path / "in.mp4"
    src.write_bytes(clip.read_bytes())
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    out = tmp_path / "o.mp4"
    limit = 20_000  # bytes: less than the encoded clip

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    cmd = [sys.executable, str(REPO / "cli.py"), "edit", str(src), "--attr", "none", "-o", str(out), "-q"]
    proc = subprocess.run(
        cmd, capture_output=True, text=True, preexec_fn=cap, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}
    )
    assert proc.returncode != 0
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and ("disk" in err[0].lower() or "space" in err[0].lower()), proc.stderr
    assert not out.exists() and not [p for p in tmp_path.iterdir() if ".partial" in p.name]
    assert hashlib.sha256(src.read_bytes()).hexdigest() == digest
