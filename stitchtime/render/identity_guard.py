"""The identity guard: before the render pass, measure how far the edit moves the person's dlib
identity descriptor on a few sampled frames, and when it moves it past
``PipelineConfig.identity_limit``, find (by Brent's method, :func:`scipy.optimize.brentq`) the
largest scale of the edit that keeps the person. The editor makes the smaller edit itself
(``delta(batch, scale)``), the same on every frame.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import brentq

from stitchtime.config import BlendMode
from stitchtime.editors.contract import CropBatch, CropEditor
from stitchtime.faces.detect import chip_descriptor, face_chip, load_descriptor_network
from stitchtime.parallel import can_fork, fork_pool
from stitchtime.render.motion import apply_edit
from stitchtime.video_run import VideoRun

# The guard's scale is found to within this. The bisection used before took 6 tries for it, each
# 12 identity descriptors; Brent's method, on a distance that grows smoothly with the scale, takes
# fewer: 3 on d3's smile, where the guard's time fell from 7.5-8.5 s to 4.6-4.8 s (2 runs each).
SCALE_TOLERANCE = 1.0 / 64
TINY_SCALE = 0.1  # below this scale, the note says that almost no edit is left


class Descriptors:
    """dlib identity descriptors of face chips (0.12-0.18 s a chip; dlib holds the GIL), on
    ``workers`` forked processes, or in this one when ``workers`` < 2 or fork is missing. Use as a
    context manager, and briefly: a forked worker's copy of this process's memory stops being
    shared as this process goes on writing to its own."""

    def __init__(self, workers: int):
        self.workers = workers if workers >= 2 and can_fork() else 1
        self.pool = None
        if self.workers > 1:
            load_descriptor_network()  # the workers inherit it
            self.pool = fork_pool(self.workers)

    def __enter__(self) -> "Descriptors":
        return self

    def __exit__(self, *exc: object) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)

    def __call__(self, chips: list[np.ndarray]) -> np.ndarray:
        """``(N, 128)`` descriptors of ``chips``, split evenly between the workers."""
        if self.pool is None or len(chips) < 2:
            return np.stack([chip_descriptor(c) for c in chips])
        return np.stack(list(self.pool.map(chip_descriptor, chips, chunksize=-(-len(chips) // self.workers))))


class IdentitySamples:
    """The guard's frames: up to ``PipelineConfig.identity_samples`` evenly spaced frames where the
    face was observed. :meth:`see` keeps them as a pass decodes them, so the guard needs no pass of its own."""

    def __init__(self, run: VideoRun):
        track, plan = run.track, run.plan
        frames_with_face = np.flatnonzero(plan.valid & track.detected & np.isfinite(track.landmarks).all(axis=(1, 2)))
        n = min(run.config.identity_samples, len(frames_with_face))
        self.pick = (
            frames_with_face[np.linspace(0, len(frames_with_face) - 1, n).round().astype(int)]
            if n
            else frames_with_face
        )
        self.landmarks = track.landmarks
        self.frames: dict[int, np.ndarray] = {}
        self._wanted = set(self.pick.tolist())

    def see(self, i: int, frame: np.ndarray) -> None:
        if i in self._wanted and i not in self.frames:
            self.frames[i] = frame.copy()

    def collect(self, run: VideoRun) -> None:
        """Decode whatever frames no pass has shown :meth:`see` yet."""
        if self._wanted <= self.frames.keys():
            return
        for idx, frames in run.frames("identity"):
            for i, frame in zip(idx, frames):
                self.see(i, frame)


def identity_scale(run: VideoRun, editor: CropEditor, samples: IdentitySamples) -> tuple[float, float]:
    """How much of the editor's change the video can take and keep the person: the largest scale
    in [0, 1] (to within :data:`SCALE_TOLERANCE`) at which the mean distance between dlib identity
    descriptors of original and edited frames, on the guard's sample frames, is at most
    ``identity_limit``.
    Returns ``(scale, distance at full strength)``."""
    config = run.config
    if len(samples.pick) == 0:
        return 1.0, 0.0
    samples.collect(run)
    groups: list[tuple[CropBatch, list[np.ndarray], list[np.ndarray], np.ndarray]] = []
    for start in range(0, len(samples.pick), config.batch_size):
        idx = samples.pick[start : start + config.batch_size].tolist()
        pos, batch = run.crop_batch(idx, [samples.frames[i] for i in idx])
        if batch is not None:
            chosen = [idx[k] for k in pos]
            groups.append(
                (
                    batch,
                    [samples.frames[i] for i in chosen],
                    [samples.landmarks[i] for i in chosen],
                    run.plan.matrices[chosen],
                )
            )

    with Descriptors(config.track_workers) as descriptors:
        ref = descriptors(
            [face_chip(f, lm) for _, frames_in, landmarks, _ in groups for f, lm in zip(frames_in, landmarks)]
        )

        def distance(s: float) -> float:
            chips = []
            for batch, frames_in, landmarks, mats in groups:
                edited = apply_edit(
                    editor, batch, [f.copy() for f in frames_in], mats, s, BlendMode.delta
                )  # (in place)
                chips += [face_chip(e, lm) for e, lm in zip(edited, landmarks)]
            return float(np.mean(np.linalg.norm(descriptors(chips) - ref, axis=1)))

        full = distance(1.0)
        if full <= config.identity_limit:
            return 1.0, full
        return largest_scale_within(distance, config.identity_limit, full), full


def largest_scale_within(distance, limit: float, full: float) -> float:
    """The largest scale in [0, 1] whose ``distance(scale)`` is at most ``limit``, to within
    :data:`SCALE_TOLERANCE`, given ``full = distance(1) > limit`` (and ``distance(0) = 0``: the
    frames themselves). Brent's method on ``distance - limit``: its last bracket holds two evaluated
    scales on either side of the limit, at most twice its tolerance apart, so the largest scale it
    saw within the limit is that close to a crossing (the first one, for a distance that grows
    with the scale)."""
    seen = {0.0: 0.0, 1.0: full}

    def over(s: float) -> float:
        if s not in seen:
            seen[s] = distance(s)
        return seen[s] - limit

    brentq(over, 0.0, 1.0, xtol=SCALE_TOLERANCE / 2)
    return max(s for s, d in seen.items() if d <= limit)


def guard_note(scale: float, full: float, limit: float) -> str:
    """What the tool says when the guard scaled the edit down."""
    return (
        f"identity guard: the edit moved the identity descriptor {full:.2f} from the original "
        f"(limit {limit:g}), so it is applied at {scale:.2f} of its strength"
        + (
            " (almost no edit is left: this model cannot make it on this face without changing the person)"
            if scale < TINY_SCALE
            else ""
        )
    )
