"""Seeking `VideoReader` (``start > 0``) yields exactly the frames a full decode yields there.

ffmpeg's input ``-ss`` is relative to the *file's* start time (the earliest stream), not to
the video stream's timestamps. A video-only cut whose video starts at 0.85 s (the
``benchmarks/edit_quality.py`` cut of the hamilton clip) was sought 0.85 s too far: the
seeked reader ran out of frames ("decoding stopped before frame N: stream ended early") or,
with ``stop < n_frames``, silently yielded later frames.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from pipelines.synth import make_astronaut_clip
from stitchtime.config import EncodeConfig, PipelineConfig
from stitchtime.io import VideoReader, VideoWriter, probe, read_frames
from tests.conftest import shared_video


def _assert_seeks_match(path: Path, starts=None, span: int | None = None) -> None:
    meta, full = read_frames(path)
    n = meta.n_frames
    assert len(full) == n
    for start in starts or (1, n // 2, n - 1):
        stop = n if span is None else min(n, start + span)
        with VideoReader(path, meta, start, stop) as reader:
            got = list(reader)
        assert len(got) == stop - start
        if got:
            np.testing.assert_array_equal(np.stack(got), full[start:stop], err_msg=f"{path.name} [{start}, {stop})")


def _shifted(src: Path, dst: Path, start_time: float, audio_from: Path | None = None) -> Path:
    """``src`` re-encoded with its video starting at ``start_time`` s (file start differs)."""
    meta, frames = read_frames(src)
    shifted = dataclasses.replace(meta, start_time=start_time)
    with VideoWriter(dst, shifted, EncodeConfig(crf=10), audio_from=audio_from) as w:
        for f in frames:
            w.write(f)
    return dst


@pytest.fixture(scope="module")
def plain(tmp_path_factory) -> Path:
    return make_astronaut_clip(tmp_path_factory.mktemp("seek") / "plain.mp4", seconds=1.2, fps=25, audio=False)


def test_video_only_file_starting_late(plain, tmp_path):
    """No audio, video at 0.85 s: the file's start is the video's start (what the cut looks like)."""
    late = _shifted(plain, tmp_path / "late.mp4", 0.85)
    meta = probe(late)
    assert meta.start_time == pytest.approx(0.85, abs=1e-3)
    assert meta.file_start_time == pytest.approx(0.85, abs=1e-3)
    _assert_seeks_match(late, starts=(1, 2, 15, 29, 30))  # 30 = n_frames: an empty range
    _assert_seeks_match(late, starts=(1, 10, 25), span=4)  # stop < n: the wrong frames were silent


def test_audio_starting_before_video(plain, tmp_path):
    """Audio from 0 s, video from 0.6 s (like the original hamilton clip): -ss counts from 0."""
    with_audio = make_astronaut_clip(tmp_path / "tone.mp4", seconds=2.0, fps=25, audio=True)
    late = _shifted(plain, tmp_path / "late_av.mp4", 0.6, audio_from=with_audio)
    meta = probe(late)
    assert meta.has_audio and meta.start_time == pytest.approx(0.6, abs=1e-3)
    assert meta.file_start_time is not None and meta.file_start_time < 0.1
    _assert_seeks_match(late, starts=(1, 15, 29), span=5)
    # a VideoMeta built by hand without the file's start: the audio's earlier start stands in for it
    by_hand = dataclasses.replace(meta, file_start_time=None, audio_start_time=meta.file_start_time)
    _, full = read_frames(late)
    with VideoReader(late, by_hand, 15, 20) as reader:
        np.testing.assert_array_equal(np.stack(list(reader)), full[15:20])


def test_unknown_file_start_falls_back_to_video_start(plain, tmp_path):
    late = _shifted(plain, tmp_path / "late.mp4", 0.85)
    meta = dataclasses.replace(probe(late), file_start_time=None)  # a VideoMeta built by hand
    _, full = read_frames(late)
    with VideoReader(late, meta, 20) as reader:
        np.testing.assert_array_equal(np.stack(list(reader)), full[20:])


@pytest.fixture(scope="module")
def cuts(tmp_path_factory) -> dict[str, Path]:
    """100-frame cuts made the way the edit-quality benchmark makes them."""
    from benchmarks.edit_quality import cut

    out = tmp_path_factory.mktemp("cuts")
    names = ("face_recognition_short_hamilton_clip.mp4", "retalking_face_1.mp4")
    return {name: cut(shared_video(name), out / f"cut_{name}", 100) for name in names}


@pytest.mark.parametrize("name", ["face_recognition_short_hamilton_clip.mp4", "retalking_face_1.mp4"])
def test_benchmark_cut_seeks(cuts, name):
    _assert_seeks_match(cuts[name], starts=(1, 34, 50, 98, 99))
    _assert_seeks_match(cuts[name], starts=(6, 50), span=8)


def test_benchmark_cut_split_tracking(cuts):
    """The failing pass: the second half tracked by a forked worker that seeks to frame 50."""
    from stitchtime.faces.video import track_video

    path = cuts["face_recognition_short_hamilton_clip.mp4"]
    meta = probe(path)
    track = track_video(path, meta, PipelineConfig(progress=False, track_workers=2))
    assert track.landmarks.shape[0] == meta.n_frames == 100
