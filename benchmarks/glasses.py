"""Glasses (the default `edit --attr glasses`, the accessory editor) on every shared clip, measured.

    .venv/bin/python benchmarks/glasses.py [--frames 100] [--strengths 1] [--clips a,b] [--write]

Each clip is cut to its first ``--frames`` frames and edited with `stitchtime edit --attr glasses
--strength S`. Reported per clip:
- the editor's detector of glasses worn (its mean probability over the sampled frames, and whether
  it therefore drew nothing);
- the probability of eyeglasses by the shipped CelebA attribute classifier (64-px crops) before ->
  after: it plays no part in the accessory editor, whose frame and detector come from CelebA's
  labels, landmarks and pixels, but it was trained on the same images, so it is not independent;
- identity distance, TL-ID, TG-ID, flicker, sharpness ratio, background PSNR (stitchtime.evaluate),
  and the edit's frames per second;
- the glasses' *slip* on the face (:func:`slip`): how far, from one frame to the next, the drawn
  glasses move from where the face's own skin carries them (corners on the forehead and the nose
  tracked by optical flow in the original video, with the same tracker the editor carries the
  glasses by in its crops: not independent, it says how well the carrying works), and from where
  dlib's nose-bridge landmarks on the original frames move (independent of any tracking, but
  floored by dlib's own jitter), median over frames, in inter-ocular distances (0.01 is a pixel on a face
  whose eyes are 100 px apart). stitchtime's flicker ratio compares plain
  frame-to-frame change, which a high-contrast object that rightly moves with a moving head raises
  by itself; the slip measures whether the glasses stay put on the face. Also the face's own
  motion (median px per frame), for scale.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import cv2
import numpy as np

from benchmarks.edit_quality import (
    ClipRun,
    clip_arguments,
    identity_cells,
    judge_probs,
    quality_cells,
    report_clip_table,
    timed_edit,
)
from generative.training.checkpoint import load_family
from stitchtime.config import DetectConfig
from stitchtime.editors.models import WEIGHTS_DIR
from stitchtime.editors.registry import make_editor
from stitchtime.faces.align import invert_affine, transform_points
from stitchtime.faces.detect import make_backend
from stitchtime.faces.shape import face_frame
from stitchtime.io import read_frames

SECTION = "## Glasses on the shared clips (issue 15)"


def face_motion(original: Path) -> tuple[dict[int, tuple[np.ndarray, float]], dict[int, tuple[np.ndarray, float]]]:
    """For each frame t with a face, two estimates of how the head moved since frame t-1, each a
    ``(2, 3)`` transform with the face's inter-ocular distance: the similarity transform that
    carries frame t-1's skin onto frame t's, from corners tracked by Lucas-Kanade in the
    *original* video on the forehead and the nose (away from the eyes, brows and mouth, which move
    by themselves); and the plain shift of dlib's nose-bridge landmarks (27-30) fitted on each
    original frame (independent of any tracking, but with dlib's jitter)."""
    backend = make_backend(DetectConfig())
    _, frames = read_frames(original)
    grey = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames]
    out, bridge = {}, {}
    found = [backend.detect(f) for f in frames]
    for t in range(1, len(frames)):
        faces = found[t - 1]
        if not faces:
            continue
        lm = faces[0].landmarks
        if found[t]:
            shift = found[t][0].landmarks[27:31].mean(0) - lm[27:31].mean(0)
            bridge[t] = (np.array([[1.0, 0.0, shift[0]], [0.0, 1.0, shift[1]]]), float(face_frame(lm)[2]))
        iod = float(face_frame(lm)[2])
        mask = np.zeros(grey[0].shape, np.uint8)
        top = lm[17:27, 1].min()
        cv2.rectangle(mask, (int(lm[19, 0]), int(top - 0.6 * iod)), (int(lm[24, 0]), int(top - 0.1 * iod)), 255, -1)
        nose = np.concatenate([lm[27:31], lm[31:36]]).astype(np.int32)
        cv2.fillConvexPoly(mask, cv2.convexHull(nose), 255)
        p0 = cv2.goodFeaturesToTrack(grey[t - 1], 60, 0.01, 3, mask=mask)
        if p0 is None or len(p0) < 6:
            continue
        p1, ok, _ = cv2.calcOpticalFlowPyrLK(grey[t - 1], grey[t], p0, None, winSize=(21, 21), maxLevel=3)
        ok = ok[:, 0] == 1
        if ok.sum() < 6:
            continue
        m, _ = cv2.estimateAffinePartial2D(p0[ok], p1[ok], method=cv2.RANSAC, ransacReprojThreshold=1.0)
        if m is not None:
            out[t] = (m, iod)
    return out, bridge


def slip(centres: dict[int, np.ndarray], motion: dict[int, tuple[np.ndarray, float]]) -> float:
    """Median over frames of how far the glasses' centre moves from where the face's skin carries
    it (:func:`face_motion`), in inter-ocular distances per frame."""
    d = []
    for t, (m, iod) in motion.items():
        if t in centres and t - 1 in centres:
            carried = m[:, :2] @ centres[t - 1] + m[:, 2]
            d.append(float(np.linalg.norm(centres[t] - carried)) / iod)
    return float(np.median(d)) if d else float("nan")


class Recorder:
    """Wraps an accessory editor's :meth:`paint` to keep where each frame's glasses were placed (the
    eyes' corners of the landmarks :meth:`paint` lays them out on, in frame pixels)."""

    def __init__(self, editor) -> None:
        self.centres: dict[int, np.ndarray] = {}
        inner = editor.paint

        def paint(frames, batch, matrices, scale=1.0, weights=None):
            points = transform_points(invert_affine(np.asarray(matrices, np.float64)), editor._steady_landmarks(batch))
            for t, p in zip(batch.frame_indices.numpy(), points):
                self.centres[int(t)] = p[[36, 39, 42, 45]].mean(0)
            return inner(frames, batch, matrices, scale, weights)

        editor.paint = paint


HEAD = (
    "| clip | strength | glasses worn (detector p) | drawn | classifier p(glasses) | identity | TL-ID | TG-ID "
    "| flicker | slip on the skin (IOD/frame) | slip on dlib's nose | face motion (px/frame) | sharpness "
    "| background PSNR | fps |\n"
    "|---|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
)


def main() -> None:
    args = clip_arguments(__doc__.splitlines()[0], "1")
    judge = load_family(WEIGHTS_DIR / "classifier").eval()
    column = list(judge.config.cond_names).index("Eyeglasses")

    def measure(run: ClipRun) -> str:
        editor = make_editor("glasses", run.strength)
        record = Recorder(editor)
        m, fps = timed_edit(run, editor)
        p0, p1 = judge_probs(run.short, run.out, judge, column)
        motion, nose = face_motion(run.short)
        moved = np.median([np.hypot(*m[:, 2]) for m, _ in nose.values()]) if nose else np.nan
        slipped, slipped_nose = slip(record.centres, motion), slip(record.centres, nose)
        drawn = "no (worn)" if editor.worn > editor.model.threshold else "yes"
        if drawn != "yes":  # nothing drawn: nothing to slip
            slipped = slipped_nose = float("nan")
        return (
            f"{editor.worn:.2f} | {drawn} | {p0:.2f} -> {p1:.2f} "
            f"| {identity_cells(m)} "
            f"| {slipped:.4f} | {slipped_nose:.4f} | {moved:.1f} "
            f"| {quality_cells(m, fps)}"
        )

    report_clip_table(args, HEAD, SECTION, "glasses.py", "glasses", measure)


if __name__ == "__main__":
    main()
