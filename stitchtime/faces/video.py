"""Pass 1 over a video: the tracked face's landmarks in every frame (``FaceTrack``)."""

from __future__ import annotations

from pathlib import Path

from stitchtime.config import PipelineConfig
from stitchtime.faces.detect import make_backend
from stitchtime.faces.track import FaceTracker, TrackPart
from stitchtime.io.decode import VideoReader
from stitchtime.parallel import can_fork, fork_pool
from stitchtime.progress import bar
from stitchtime.types import FaceTrack, VideoMeta

# Videos shorter than this are tracked by one process: forking, seeking and a second first
# detection cost more than they save (measured: 78 frames 0.33 s alone, 0.47 s split; 103-225
# frames save 10-25%).
MIN_SPLIT_FRAMES = 96


def _track_stretch(
    tracker: FaceTracker, path: Path, meta: VideoMeta, start: int, stop: int, progress: bool
) -> FaceTracker:
    with VideoReader(path, meta, start, stop) as reader:
        for frame in bar(reader, stop - start, "track faces", progress):
            tracker.update(frame)
    return tracker


def _track_tail(path: Path, meta: VideoMeta, config: PipelineConfig, start: int) -> TrackPart:
    """Child process: track ``[start, end)`` with a fresh tracker (inherits the loaded models)."""
    tracker = FaceTracker(make_backend(config.detect), config.detect, config.track)
    return _track_stretch(tracker, path, meta, start, meta.n_frames, False).part()


def track_video(path: Path, meta: VideoMeta, config: PipelineConfig) -> FaceTrack:
    """Landmarks of the tracked face in every frame.

    Tracking is single-threaded (dlib), so with ``config.track_workers >= 2`` a forked child
    tracks the second half while this process tracks the first (the pass takes ~half the time).
    The halves are joined only if the child followed the same person (dlib descriptor);
    otherwise this process tracks the second half too, exactly as a single worker would."""
    tracker = FaceTracker(make_backend(config.detect), config.detect, config.track)
    n = meta.n_frames
    if not (config.track_workers >= 2 and n >= MIN_SPLIT_FRAMES and can_fork()):
        return _track_stretch(tracker, path, meta, 0, n, config.progress).finish()
    mid = n // 2
    with fork_pool(1) as pool:
        tail = pool.submit(_track_tail, path, meta, config, mid)
        _track_stretch(tracker, path, meta, 0, mid, config.progress)
        part = tail.result()
    if tracker.same_person(part):
        tracker.extend(part)
    else:
        _track_stretch(tracker, path, meta, mid, n, config.progress)
    return tracker.finish()
