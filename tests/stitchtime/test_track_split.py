"""Tracking split between two processes gives exactly the landmarks of one process.

A tracker's box steers its later fits: a fresh tracker started at the middle of a clip (a full
detection there, where the running one had a window detection or a box moved with the
landmarks) found landmarks 10-30 px apart (the jaw) for the whole second half, on clips that
decode fine (a 100-frame cut of retalking_face_2: 31 px). Now both start over from the same
full-frame detection at the split frame (``FaceTracker.resync``), and the halves are joined only
when they did (``FaceTracker.join``).

Tolerance: none. dlib's landmarks are whole pixels, so any difference is at least 1 px, and a
tracker state that differs at all shows as several pixels for the rest of the clip; the fix
makes both paths run the same computation on the same frames, so they agree exactly.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from stitchtime.config import DetectConfig, PipelineConfig
from stitchtime.faces.detect import make_backend
from stitchtime.faces.track import FaceTracker, TrackPart
from stitchtime.faces.video import split_frame, track_video
from stitchtime.io import VideoReader, probe
from stitchtime.parallel import can_fork
from tests.conftest import shared_video
from tests.stitchtime.test_track import DetectOnly, _video


@pytest.fixture(scope="module")
def cut_clip(tmp_path_factory):
    """The reported clip: a 100-frame cut of retalking_face_2, made as the benchmark makes it."""
    from benchmarks.edit_quality import cut

    path = cut(shared_video("retalking_face_2.mp4"), tmp_path_factory.mktemp("split") / "cut.mp4", 100)
    return path, probe(path)


@pytest.mark.skipif(not can_fork(), reason="the split needs fork")
def test_two_workers_find_the_landmarks_of_one(cut_clip, monkeypatch):
    path, meta = cut_clip
    assert split_frame(meta.n_frames) == 50
    joined = []
    join = FaceTracker.join
    monkeypatch.setattr(FaceTracker, "join", lambda self, part: joined.append(join(self, part)) or joined[-1])
    one = track_video(path, meta, PipelineConfig(progress=False, track_workers=1))
    two = track_video(path, meta, PipelineConfig(progress=False, track_workers=2))
    assert joined == [True]  # the child's half was used (not re-tracked here)
    assert one.detected.all() and (one.detected == two.detected).all() and (one.valid == two.valid).all()
    np.testing.assert_array_equal(two.landmarks, one.landmarks)
    assert one.notes == two.notes


@pytest.mark.skipif(not can_fork(), reason="the split needs fork")
def test_a_refused_join_tracks_the_rest_here(cut_clip, monkeypatch):
    """(The child started elsewhere: this process tracks from the split frame on, as one worker.)"""
    path, meta = cut_clip
    one = track_video(path, meta, PipelineConfig(progress=False, track_workers=1))
    monkeypatch.setattr(FaceTracker, "join", lambda self, part: False)
    two = track_video(path, meta, PipelineConfig(progress=False, track_workers=2))
    np.testing.assert_array_equal(two.landmarks, one.landmarks)


def test_a_resynced_tracker_goes_on_as_a_fresh_one(cut_clip):
    """The property the join relies on, in one process: on real frames, from the resync frame on,
    the running tracker and a fresh one started there find the same landmarks."""
    path, meta = cut_clip
    with VideoReader(path, meta, 40, 80) as reader:
        frames, mid = list(reader), 10  # (enough: a differing state shows within a few frames)
    backend = make_backend()
    running, fresh = FaceTracker(backend), FaceTracker(backend)
    for i, frame in enumerate(frames):
        if i == mid:
            running.resync()
        running.update(frame)
        if i >= mid:
            fresh.update(frame)
    got, want = running.part().landmarks[mid:], fresh.part().landmarks
    assert all(lm is not None for lm in want)
    np.testing.assert_array_equal(np.stack(got), np.stack(want))
    # without the resync the running tracker's landmarks are not the fresh one's
    plain = FaceTracker(backend)
    for frame in frames:
        plain.update(frame)
    assert np.abs(np.stack(plain.part().landmarks[mid:]) - np.stack(want)).max() >= 1


def _parts(n: int = 12, mid: int = 6) -> tuple[FaceTracker, TrackPart, list[np.ndarray]]:
    """A tracker over ``[0, mid]`` (resynced at ``mid``) and a fresh one's part over ``[mid, n)``."""
    frames, faces = _video(n, face_from=0)
    here = FaceTracker(DetectOnly(faces))
    for i, frame in enumerate(frames[: mid + 1]):
        if i == mid:
            here.resync()
        here.update(frame)
    tail = FaceTracker(DetectOnly(faces))
    for i, frame in enumerate(frames[mid:]):
        tail.update(frame)
        if i == 0:
            tail.stats.clear()
    return here, tail.part(), frames


def test_join_drops_the_shared_frame():
    here, part, _ = _parts()
    full = here.stats["full"]
    assert here.join(part)
    track = here.finish()
    assert len(track) == 12 and track.detected.all()
    assert here.stats["full"] == full  # the child found nothing more by full detection


def test_join_refuses_a_stretch_that_started_on_another_box():
    here, part, _ = _parts()
    moved = [part.landmarks[0] + np.float32(1)] + part.landmarks[1:]
    before = here.part().landmarks
    assert not here.join(TrackPart(moved, Counter(part.stats), [], part.first, part.frame_size))
    assert len(here.part().landmarks) == len(before)  # nothing appended: the caller tracks on


def test_join_refuses_a_stretch_that_found_a_face_where_this_found_none():
    here, part, _ = _parts()
    empty = FaceTracker(DetectOnly({}))
    empty.update(np.zeros((8, 8, 3), np.uint8))
    assert not empty.join(part)


def test_without_a_face_on_the_split_frame_the_stretches_join_by_person():
    frames, faces = _video(12, face_from=9)  # nobody on frames 0-8 (the split is frame 6)
    here, tail = FaceTracker(DetectOnly(faces)), FaceTracker(DetectOnly(faces))
    for i, frame in enumerate(frames[:7]):
        if i == 6:
            here.resync()
        here.update(frame)
    for frame in frames[6:]:
        tail.update(frame)
    part = tail.part()
    assert part.first is not None and part.first.index == 3
    assert here.join(part)
    track = here.finish()
    assert len(track) == 12 and not track.detected[:9].any() and track.detected[9:].all()


def test_resync_while_lost_searches_that_frame():
    """Lost, a tracker searches only every ``lost_detect_every`` frames; a fresh one searches its
    first frame, so a resynced one does too (and restarts that schedule)."""
    frames, _ = _video(8, face_from=0)
    backend = DetectOnly({})  # never finds a face
    tracker = FaceTracker(backend, DetectConfig(lost_detect_every=3))
    for frame in frames[:4]:  # searched on 0 and 3
        tracker.update(frame)
    calls = backend.calls
    tracker.resync()
    tracker.update(frames[4])  # would not be searched (4 % 3) without the resync
    assert backend.calls == calls + 1
