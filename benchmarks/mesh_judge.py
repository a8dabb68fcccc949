"""An independent judge of the geometry edits (smile, mouth open): mediapipe's 468-point face mesh.

    /tmp/mpvenv/bin/python ...            (the side environment, see benchmarks/face_mesh.py)
    .venv/bin/python benchmarks/mesh_judge.py [--frames 100] [--edits smile:1,mouth_open:1,mouth_open:-1]
        [--clips d9,rf3] [--mp-python /tmp/mpvenv/bin/python] [--write]

The geometry editors move dlib's 68 landmarks and warp the crop with them, and their own benchmarks
read the result back with the same dlib predictor (refitted in the original's boxes), which is
evidence that shares the editor's landmark model. Here the original cut and each edited cut are read
by another model that played no part in making, tuning or selecting the edits: mediapipe's face
mesh, on each frame separately, on a head crop round dlib's face box in the original (the same
crop for the edited frame: dlib only says where to look). Per clip and edit, over the frames
where the mesh finds the face in both: in the original's face frame (the mesh's eye centres: the
midpoint at 0, the eyes along +x, the inter-ocular distance 1), the mouth corners' lift (61 and
291, up is positive) and the mouth's widening, and the inner lips' gap (the mean of the pairs 13-14,
82-87, 312-317) before -> after with the share of frames it opened (closed) by >= 0.05 IOD.

The two models draw the inner lips differently, so their gaps are on different scales. Each row
gives both judges' reading of the person's own real openings in the original (the 90th percentile of
the inner lips' gap over the cut, as they talk): the mesh's and dlib's 68-point predictor's. An
opening the mesh reads as large as the person's own real ones is one it believes, whatever dlib says.

mediapipe 0.10.21 cannot live in the project's environment (numpy < 2, protobuf < 5), so the edits
run here and the measuring runs in the side environment (``--mp-python``), this same file with
``--measure``, which imports nothing of stitchtime.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SECTION = "## Geometry edits read by an independent face mesh (issue 15)"
REFINED_SECTION = "## Geometry edits read by the attention mesh (issue 15)"  # --refine
CROP, CROP_PX = 2.0, 384  # the mesh's head crop: box sizes wide, pixels
MOVED = 0.05  # inter-ocular distances: a frame counts as opened (closed) past this
EYE_L, EYE_R = (33, 133, 159, 145), (362, 263, 386, 374)  # mesh eye contours (image left, right)
CORNERS = (61, 291)
INNER = ((13, 14), (82, 87), (312, 317))  # upper, lower inner lip
HEAD = (
    "| clip | edit | frames read (both) | corner lift | widening | inner lips' gap | "
    "frames opened / closed by >= 0.05 | real openings (p90): mesh / dlib |\n|---|---|---:|---:|---:|---|---:|---|"
)


def mesh_points(path: str, boxes: list, refine: bool = False) -> np.ndarray:
    """``(T, 468, 2)`` mesh points of each frame of the video at ``path`` in pixels, NaN where the
    mesh finds no face. The mesh reads each frame on a square head crop round ``boxes[t]`` (the
    original's face, ``(x0, y0, x1, y1)`` or None), :data:`CROP` box sizes wide and scaled to
    :data:`CROP_PX`: its detector is for faces near the camera, and on a whole frame of a small face
    (s13 stands full length in the picture) it puts a face on the neck. ``refine``: the attention
    mesh (``refine_landmarks``, also in the wheel), whose lips and eyes a second stage refines (its
    10 iris points after the 468 are left out)."""
    import cv2
    import mediapipe as mp

    cap = cv2.VideoCapture(path)
    out = []
    with mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1, refine_landmarks=refine) as mesh:
        for box in boxes:
            ok, bgr = cap.read()
            if not ok:
                break
            out.append(np.full((468, 2), np.nan))
            if box is None:
                continue
            x0, y0, x1, y1 = box
            half = CROP * max(x1 - x0, y1 - y0) / 2
            left, top, scale = (x0 + x1) / 2 - half, (y0 + y1) / 2 - half, CROP_PX / (2 * half)
            to_crop = np.float32([[scale, 0, -left * scale], [0, scale, -top * scale]])
            crop = cv2.warpAffine(bgr, to_crop, (CROP_PX, CROP_PX), flags=cv2.INTER_CUBIC)
            res = mesh.process(cv2.cvtColor(crop, cv2.COLOR_BGR2RGB))
            if res.multi_face_landmarks:
                pts = np.array([(p.x, p.y) for p in res.multi_face_landmarks[0].landmark[:468]]) * CROP_PX
                out[-1] = pts / scale + (left, top)
    return np.asarray(out, np.float64)


def in_face_frame(points: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``points`` ``(T, P, 2)`` in the face frame of ``reference`` ``(T, 468, 2)`` mesh points."""
    left, right = reference[:, EYE_L].mean(1), reference[:, EYE_R].mean(1)
    mid, axis = (left + right) / 2, right - left
    iod = np.linalg.norm(axis, axis=-1)
    ax = axis / iod[:, None]
    d = points - mid[:, None]
    x = d[..., 0] * ax[:, None, 0] + d[..., 1] * ax[:, None, 1]
    y = -d[..., 0] * ax[:, None, 1] + d[..., 1] * ax[:, None, 0]
    return np.stack([x, y], -1) / iod[:, None, None]


def judge(original: str, edited: str, boxes: list, refine: bool = False) -> dict:
    """The mouth's change from ``original`` to ``edited`` (same frames) as the mesh reads them."""
    a, b = mesh_points(original, boxes, refine), mesh_points(edited, boxes, refine)
    n = min(len(a), len(b))
    a, b = a[:n], b[:n]
    both = np.isfinite(a[:, 0, 0]) & np.isfinite(b[:, 0, 0])
    if not both.any():
        return {"frames": 0, "of": int(n)}
    a, b = a[both], b[both]
    fa, fb = in_face_frame(a, a), in_face_frame(b, a)
    c0, c1 = CORNERS
    lift = -((fb[:, c0, 1] - fa[:, c0, 1]) + (fb[:, c1, 1] - fa[:, c1, 1])) / 2
    width = (fb[:, c1, 0] - fb[:, c0, 0]) - (fa[:, c1, 0] - fa[:, c0, 0])

    def gap(f: np.ndarray) -> np.ndarray:
        return np.mean([f[:, lo, 1] - f[:, up, 1] for up, lo in INNER], axis=0)

    return {
        "frames": int(both.sum()),
        "of": int(n),
        "lift": float(lift.mean()),
        "width": float(width.mean()),
        "gap_before": gap(fa).tolist(),
        "gap_after": gap(fb).tolist(),
    }


def row(clip: str, edit: str, strength: float, r: dict, dlib_p90: float) -> str:
    if not r["frames"]:
        return f"| {clip} | {edit} | 0 of {r['of']} | - | - | - | - | - / {dlib_p90:.3f} |"
    g0, g1 = np.asarray(r["gap_before"]), np.asarray(r["gap_after"])
    moved = (g1 - g0) * (1 if strength > 0 else -1) >= MOVED
    return (
        f"| {clip} | {edit} | {r['frames']} of {r['of']} | {r['lift']:+.3f} | {r['width']:+.3f} "
        f"| {g0.mean():.3f} -> {g1.mean():.3f} | {moved.mean():.0%} "
        f"| {np.percentile(g0, 90):.3f} / {dlib_p90:.3f} |"
    )


def dlib_faces(original: Path, backend) -> tuple[list, float]:
    """dlib's largest face in each frame of ``original`` (its box, or None: where the mesh looks)
    and dlib's reading of the person's own openings: the 90th percentile of the inner lips' gap
    (face frame, inter-ocular distances) over the frames with a face."""
    from stitchtime.faces.mouth import mouth_opening
    from stitchtime.faces.shape import normalise
    from stitchtime.io import read_frames

    boxes, shapes = [], []
    for frame in read_frames(original)[1]:
        faces = backend.detect(frame)
        if not faces:
            boxes.append(None)
            continue
        face = max(faces, key=lambda f: (f.box[2] - f.box[0]) * (f.box[3] - f.box[1]))
        boxes.append([float(v) for v in face.box])
        shapes.append(face.landmarks)
    real = np.percentile(mouth_opening(normalise(np.asarray(shapes))), 90) if shapes else np.nan
    return boxes, float(real)


def make_edits(args: argparse.Namespace, tmp: Path) -> list[dict]:
    """Cut each clip and edit the cut with each of ``args.edits``: the pairs to judge."""
    sys.path.insert(0, str(REPO))
    from benchmarks.edit_quality import cut, shared_clips
    from pipelines.edit_video import edit_video
    from stitchtime.config import DetectConfig, PipelineConfig
    from stitchtime.editors.registry import make_editor
    from stitchtime.errors import NoFaceError
    from stitchtime.faces.detect import make_backend

    edits = [(e.split(":")[0], float(e.split(":")[1])) for e in args.edits.split(",")]
    pairs, backend = [], make_backend(DetectConfig())
    for clip in shared_clips(args.clips):
        short = cut(clip, tmp / clip.name, args.frames)
        boxes, real = dlib_faces(short, backend)
        for attr, s in edits:
            out = tmp / f"{attr}_{s:g}_{clip.name}"
            try:
                edit_video(short, out, make_editor(attr, s), PipelineConfig(progress=False), overwrite=True)
            except NoFaceError as err:
                print(f"{clip.name}: {err}", flush=True)
                break
            pair = {"clip": clip.name, "attr": attr, "strength": s, "original": str(short), "edited": str(out)}
            pairs.append({**pair, "dlib_p90": real, "boxes": boxes})
            print(f"edited {out.name}", flush=True)
    return pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--edits", default="smile:1,mouth_open:1,mouth_open:-1")
    parser.add_argument("--clips", default="", help="comma-separated name parts (default: every shared clip)")
    parser.add_argument("--mp-python", default="/tmp/mpvenv/bin/python", help="the side environment's python")
    parser.add_argument("--keep", help="keep the cuts and the edits in this folder (to look at them)")
    parser.add_argument("--refine", action="store_true", help="the attention mesh (refined lips and eyes)")
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--measure", help=argparse.SUPPRESS)  # a JSON file of pairs: the side run
    args = parser.parse_args()
    if args.measure:
        pairs = json.loads(Path(args.measure).read_text())
        results = [judge(p["original"], p["edited"], p["boxes"], args.refine) for p in pairs]
        Path(args.measure).with_suffix(".out.json").write_text(json.dumps(results))
        return
    if not Path(args.mp_python).exists():
        sys.exit(f"mesh_judge: no side environment at {args.mp_python} (see benchmarks/face_mesh.py)")
    with tempfile.TemporaryDirectory() as scratch:
        tmp = Path(args.keep or scratch)
        tmp.mkdir(parents=True, exist_ok=True)
        pairs = make_edits(args, tmp)
        spec = tmp / "pairs.json"
        spec.write_text(json.dumps(pairs))
        subprocess.run(
            [args.mp_python, __file__, "--measure", str(spec), *(["--refine"] if args.refine else [])], check=True
        )
        results = json.loads(spec.with_suffix(".out.json").read_text())
    rows = [HEAD] + [
        row(p["clip"], f"{p['attr']} {p['strength']:+g}", p["strength"], r, p["dlib_p90"])
        for p, r in sorted(zip(pairs, results, strict=True), key=lambda pr: (pr[0]["attr"], -pr[0]["strength"]))
    ]
    table = "\n".join(rows)
    print(table)
    if args.write:
        from benchmarks.bench_md import write_section

        command = " ".join(["`.venv/bin/python benchmarks/mesh_judge.py", *sys.argv[1:]]).strip() + "`"
        section = REFINED_SECTION if args.refine else SECTION
        write_section(
            section,
            f"{section}\n\nCommand: {command} (first {args.frames} frames of each clip; the edits at the defaults; "
            "corner lift, widening and the gap in the original's inter-ocular distances, read by "
            "mediapipe 0.10.21's face mesh on each frame, on a head crop round dlib's face box in the original).\n\n"
            + table
            + "\n",
        )


if __name__ == "__main__":
    main()
