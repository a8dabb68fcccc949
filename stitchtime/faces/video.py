"""Pass 1 over a video: the tracked face's landmarks in every frame (``FaceTrack``)."""

from __future__ import annotations

from pathlib import Path

from stitchtime.config import PipelineConfig
from stitchtime.faces.detect import load_descriptor_network, make_backend
from stitchtime.faces.reference import resolve_reference
from stitchtime.faces.track import FaceTracker, TrackPart
from stitchtime.io.decode import VideoReader
from stitchtime.parallel import can_fork, fork_pool
from stitchtime.progress import bar
from stitchtime.types import FaceTrack, VideoMeta

# Videos shorter than this are tracked by one process: forking, seeking and a second first
# detection cost more than they save (measured: 78 frames 0.33 s alone, 0.47 s split; 103-225
# frames save 10-25%).
MIN_SPLIT_FRAMES = 96


def split_frame(n_frames: int) -> int | None:
    """The frame where a clip of ``n_frames`` is split between two processes, and where tracking
    starts over from a full-frame detection (:meth:`FaceTracker.resync`) however many processes
    track it, so the landmarks do not depend on ``track_workers``; None: never split."""
    return n_frames // 2 if n_frames >= MIN_SPLIT_FRAMES else None


def _track_stretch(
    tracker: FaceTracker,
    path: Path,
    meta: VideoMeta,
    start: int,
    stop: int,
    progress: bool,
    resync_at: int | None = None,
) -> FaceTracker:
    with VideoReader(path, meta, start, stop) as reader:
        for i, frame in enumerate(bar(reader, stop - start, "track faces", progress), start):
            if i == resync_at:
                tracker.resync()
            tracker.update(frame)
    return tracker


def _track_tail(path: Path, meta: VideoMeta, config: PipelineConfig, start: int) -> TrackPart:
    """Child process: track ``[start, end)`` with a fresh tracker (inherits the loaded models).
    The parent tracks frame ``start`` too: its counts are left out."""
    tracker = FaceTracker(make_backend(config.detect), config.detect, config.track)
    with VideoReader(path, meta, start, meta.n_frames) as reader:
        for i, frame in enumerate(reader):
            tracker.update(frame)
            if i == 0:
                tracker.stats.clear()
    return tracker.part()


def track_video(path: Path, meta: VideoMeta, config: PipelineConfig) -> FaceTrack:
    """Landmarks of the tracked face in every frame.

    Tracking is single-threaded (dlib), so with ``config.track_workers >= 2`` a forked child
    tracks the second half, from the :func:`split_frame` on, with a fresh tracker while this
    process tracks the first half and the split frame (the pass takes ~half the time). A
    tracker's box steers its later fits, so at the split frame this process starts over from a
    full-frame detection (with one worker too): the halves are joined only if the child started
    on that very face (or, both without the face there, follows the same person), and then the
    landmarks are exactly a single worker's; otherwise this process tracks the second half too,
    exactly as a single worker would. With a reference photo both halves look for its person
    (the photo is read here, once, if not yet)."""
    config = resolve_reference(config)
    tracker = FaceTracker(make_backend(config.detect), config.detect, config.track)
    n = meta.n_frames
    mid = split_frame(n)
    if not (config.track_workers >= 2 and mid is not None and can_fork()):
        return _track_stretch(tracker, path, meta, 0, n, config.progress, resync_at=mid).finish()
    if config.detect.reference_face is not None:
        load_descriptor_network()  # the child compares faces with the photo at once: it inherits it
    with fork_pool(1) as pool:
        tail = pool.submit(_track_tail, path, meta, config, mid)
        _track_stretch(tracker, path, meta, 0, mid + 1, config.progress, resync_at=mid)
        part = tail.result()
    if not tracker.join(part):
        _track_stretch(tracker, path, meta, mid + 1, n, config.progress)
    return tracker.finish()
