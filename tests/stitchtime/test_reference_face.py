"""``--reference-face PHOTO``: the person in the photo is followed, wherever they are in the clip.

A two-person clip is made of two real shared clips side by side (the left face is the larger one;
the right half is black for the first 0.4 s, so that person is not in the first frame, and again
for 0.4 s in the second half of the clip, so they are lost and must be found again while the other
person stays), and each reference photo is a frame of its source clip from after the cut."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from typer.testing import CliRunner

from cli import app
from stitchtime.config import DetectConfig, PipelineConfig
from stitchtime.errors import InputError, NoFaceError
from stitchtime.faces.detect import make_backend
from stitchtime.faces.reference import load_reference_face
from stitchtime.faces.track import FaceTracker, face_span
from stitchtime.faces.video import MIN_SPLIT_FRAMES, track_video
from stitchtime.io import probe, read_frames
from stitchtime.io.ffmpeg import ffmpeg_exe
from stitchtime.video_run import VideoRun
from tests.conftest import shared_photo, shared_video

runner = CliRunner()
LEFT_W, RIGHT_W, HEIGHT = 256, 160, 256  # the left source is scaled larger: its face is the largest
SECONDS = 4.0  # 100 frames at 25 fps: over MIN_SPLIT_FRAMES, so tracking is split between two processes
RIGHT_FROM = 10  # frames before this show no right person (black)
RIGHT_GAP = (60, 70)  # nor do these (a stretch tracked by the forked worker, which starts at frame 50)
PHOTO_AT = "4.6"  # seconds into each source clip: after the cut, so the photo is not a frame of the clip


def _ffmpeg(*args: str) -> None:
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args], check=True)


@pytest.fixture(scope="module")
def pair(tmp_path_factory) -> SimpleNamespace:
    left_src, right_src = shared_video("retalking_face_2.mp4"), shared_video("retalking_face_5.mp4")
    d = tmp_path_factory.mktemp("pair")
    clip = d / "pair.mp4"
    graph = (
        f"[0:v]scale={LEFT_W}:{HEIGHT},setsar=1,fps=25[a];"
        f"[1:v]scale={RIGHT_W}:{RIGHT_W},setsar=1,fps=25,pad={RIGHT_W}:{HEIGHT}:0:{(HEIGHT - RIGHT_W) // 2},"
        f"drawbox=color=black:t=fill:enable='lt(t,{(RIGHT_FROM - 0.5) / 25})"
        f"+between(t,{(RIGHT_GAP[0] - 0.5) / 25},{(RIGHT_GAP[1] - 0.5) / 25})'[b];[a][b]hstack"
    )
    _ffmpeg(
        *("-t", str(SECONDS), "-i", str(left_src), "-t", str(SECONDS), "-i", str(right_src)),
        *("-filter_complex", graph, "-an", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "18"),
        *("-pix_fmt", "yuv420p", str(clip)),
    )
    photos = {}
    for side, src in (("left", left_src), ("right", right_src)):
        photos[side] = d / f"{side}.png"
        _ffmpeg("-ss", PHOTO_AT, "-i", str(src), "-frames:v", "1", "-vf", "scale=320:-2", str(photos[side]))
    meta, frames = read_frames(clip)
    return SimpleNamespace(clip=clip, meta=meta, frames=frames, **photos)


@pytest.fixture(scope="module")
def stranger() -> Path:
    """Someone in neither clip (nearest identity distance to the pair's faces measured: 0.91)."""
    return shared_photo("face_recognition_obama.jpg")


def _config(photo: Path | None, workers: int = 2) -> PipelineConfig:
    return PipelineConfig(detect=DetectConfig(reference_face=photo), progress=False, track_workers=workers)


def _centres_x(track) -> np.ndarray:
    return track.landmarks[track.detected][:, :, 0].mean(axis=1)


def test_the_right_face_is_the_smaller_one(pair):
    """(So following it is not following "the largest".)"""
    for i in (RIGHT_FROM + 10, 50, 90):
        faces = make_backend().detect(pair.frames[i])  # largest first
        assert len(faces) == 2 and faces[0].box[2] < LEFT_W < faces[1].box[0]
        assert face_span(faces[1].landmarks) < 0.9 * face_span(faces[0].landmarks)


@pytest.mark.parametrize("side", ["left", "right"])
def test_the_person_in_the_photo_is_followed_through_the_clip(pair, side):
    assert pair.meta.n_frames >= MIN_SPLIT_FRAMES  # tracked in two stretches, one in a forked worker
    track = track_video(pair.clip, pair.meta, _config(getattr(pair, side)))
    x = _centres_x(track)
    assert ((x < LEFT_W) if side == "left" else (x > LEFT_W)).all(), x
    first = int(np.argmax(track.detected))
    if side == "left":
        assert track.detected.all()
    else:  # found when they appear (not in the black frames), lost while black, found again
        gap = slice(*RIGHT_GAP)
        assert not track.detected[:RIGHT_FROM].any() and first <= RIGHT_FROM + 3, track.detected
        assert track.detected[first : RIGHT_GAP[0]].all() and not track.detected[gap].any(), track.detected
        assert track.detected[RIGHT_GAP[1] + 3 :].all(), track.detected
    note = next(n for n in track.notes if n.startswith(f"following the person in {side}.png"))
    assert float(re.search(r"identity distance (\d\.\d+)", note).group(1)) < 0.6


def test_without_a_photo_the_largest_face_is_followed(pair):
    x = _centres_x(track_video(pair.clip, pair.meta, _config(None)))
    assert (x < LEFT_W).all()


def test_one_process_and_two_agree(pair):
    """The second stretch (tracked by a fresh tracker) looks for the same person, so splitting the
    pass changes nothing."""
    one = track_video(pair.clip, pair.meta, _config(pair.right, workers=1))
    two = track_video(pair.clip, pair.meta, _config(pair.right, workers=2))
    assert (one.detected == two.detected).all()
    # (the stretches confirm the face by detection on other frames: the landmarks differ by pixels)
    assert np.abs(one.landmarks[one.detected] - two.landmarks[two.detected]).mean() < 1.0
    assert (np.abs(_centres_x(one) - _centres_x(two)) < 3).all()


def test_a_stretch_tracked_on_its_own_finds_the_person(pair):
    """What a forked worker does: a fresh tracker from the middle of the clip, where both faces
    show, chooses the photo's person, not the largest face."""
    reference = load_reference_face(pair.right)
    tracker = FaceTracker(make_backend(), DetectConfig(reference_face=reference))
    for frame in pair.frames[50:60]:
        tracker.update(frame)
    part = tracker.part()
    assert part.first is not None and part.first.index == 0 and part.first.face.box[0] > LEFT_W
    assert all(lm is not None and lm[:, 0].mean() > LEFT_W for lm in part.landmarks)


def test_nobody_in_the_clip_is_the_stranger(pair, stranger):
    with pytest.raises(NoFaceError) as err:
        VideoRun.analyse(pair.clip, _config(stranger))
    message = str(err.value)
    assert "\n" not in message and "nobody in the clip is the person in the photo" in message, message
    nearest = float(re.search(r"nearest identity distance (\d\.\d+)", message).group(1))
    assert nearest >= 0.6 and f"{pair.clip.name}: --reference-face {stranger.name}" in message, message


def test_a_photo_without_a_face_is_refused_before_the_video_is_read(pair, tmp_path, monkeypatch):
    from PIL import Image

    blank = tmp_path / "wall.png"
    Image.fromarray(np.full((240, 320, 3), 128, np.uint8)).save(blank)

    def no_video_work(*args, **kwargs):
        raise AssertionError("the video was probed before the photo was checked")

    monkeypatch.setattr("stitchtime.video_run.probe", no_video_work)
    with pytest.raises(InputError, match=r"wall\.png: no face found in the reference photo$"):
        VideoRun.analyse(pair.clip, _config(blank))


def test_photo_errors_are_one_line(tmp_path):
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    with pytest.raises(InputError, match="not a readable image"):
        load_reference_face(text)
    with pytest.raises(InputError, match="no such file"):
        load_reference_face(tmp_path / "missing.jpg")


def test_of_several_faces_in_the_photo_the_largest_is_taken():
    photo = shared_photo("face_recognition_two_people.jpg")
    ref = load_reference_face(photo)
    assert len(ref.descriptor) == 128
    assert ref.notes and "2 faces in the reference photo" in ref.notes[0]


def test_with_face_index_it_is_refused(tmp_path):
    with pytest.raises(InputError, match="--reference-face and --face-index"):
        DetectConfig(reference_face=tmp_path / "x.png", face_index=1)


def _edit(*args: str):
    return runner.invoke(app, ["edit", *args, "--attr", "none", "-q"])


def test_cli_errors_are_one_line_and_come_before_the_video(pair, tmp_path, stranger):
    blank = tmp_path / "wall.png"
    from PIL import Image

    Image.fromarray(np.full((240, 320, 3), 128, np.uint8)).save(blank)
    not_a_video = tmp_path / "clip.mp4"
    not_a_video.write_text("not a video")  # would fail as "not a video" if it were read first
    cases = [
        ([str(not_a_video), "--reference-face", str(blank)], InputError.exit_code, "no face found in the reference"),
        ([str(pair.clip), "--reference-face", str(pair.left), "--face-index", "1"], 2, "--face-index"),
        ([str(pair.clip), "--reference-face", str(stranger)], NoFaceError.exit_code, "nearest identity distance"),
    ]
    for args, code, message in cases:
        out = tmp_path / "o.mp4"
        result = _edit(*args, "-o", str(out))
        lines = result.stderr.strip().splitlines()
        assert result.exit_code == code and len(lines) == 1 and message in lines[0], result.stderr
        assert lines[0].startswith("stitchtime: error: ") and not out.exists()


def test_cli_edit_follows_the_person_in_the_photo(pair, tmp_path):
    out = tmp_path / "edited.mp4"
    result = _edit(str(pair.clip), "--reference-face", str(pair.right), "-o", str(out), "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert out.stat().st_size > 0 and probe(out).n_frames == pair.meta.n_frames
    with_them = pair.meta.n_frames - RIGHT_FROM - (RIGHT_GAP[1] - RIGHT_GAP[0])
    assert with_them - 6 <= report["face_frames"] <= with_them, report
    note = next(n for n in report["notes"] if n.startswith("following the person in right.png"))
    assert int(re.search(r"around x=(\d+)", note).group(1)) > LEFT_W, note
