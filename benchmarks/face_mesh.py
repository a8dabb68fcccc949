"""Issue 15, direction 3: does mediapipe's 468-point face mesh give steadier landmarks than dlib's
68 (what the warp and the masks are built on), and at what speed?

mediapipe 0.10.21 (the last version whose legacy face mesh ships inside the wheel) needs numpy < 2
and protobuf < 5, which the project's environment cannot hold (numpy 2, and Ray / Gradio's
protobuf), so this benchmark runs in a side environment and uses dlib directly, not stitchtime:

    python3 -m venv /tmp/mpvenv
    /tmp/mpvenv/bin/pip install mediapipe==0.10.21 "numpy<2" dlib-bin face-recognition-models setuptools
    /tmp/mpvenv/bin/python benchmarks/face_mesh.py [--frames 150] [--write]

Per clip (first ``--frames`` frames, decoded once with OpenCV): the time per frame of
* mediapipe FaceMesh in video mode (its own detector, then tracking; 468 points),
* dlib's 68-point predictor in the previous frame's box (how stitchtime tracks between
  detections) and dlib's HOG detector + predictor on every frame;
and the landmarks' jitter: the median over frames of ``|p(t+1) - 2 p(t) + p(t-1)|`` of the mouth
corners and the outer eye corners, in inter-ocular distances (real motion adds to it equally for
both; lower is steadier).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
VIDEOS = REPO.parent / "shared" / "data" / "videos"
SECTION = "## Face mesh against dlib's 68 points (issue 15)"
# mediapipe mesh indices: mouth corners, outer eye corners, and the eye contours for the IOD
MESH_CORNERS, MESH_EYES = (61, 291), (33, 263)
MESH_LEFT_EYE, MESH_RIGHT_EYE = (33, 133, 159, 145), (362, 263, 386, 374)
DLIB_CORNERS, DLIB_EYES = (48, 54), (36, 45)


def read(path: Path, n: int) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    frames = []
    while len(frames) < n:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(f, cv2.COLOR_BGR2RGB))
    return frames


def jitter(points: np.ndarray, iod: np.ndarray) -> float:
    """Median second difference of (T, K, 2) points over time, in IODs (frames with NaN skipped)."""
    acc = np.linalg.norm(points[2:] - 2 * points[1:-1] + points[:-2], axis=-1).mean(-1) / iod[1:-1]
    return float(np.nanmedian(acc))


def mesh_run(frames: list[np.ndarray]) -> tuple[float, np.ndarray, np.ndarray]:
    import mediapipe as mp

    h, w = frames[0].shape[:2]
    pts = np.full((len(frames), 4, 2), np.nan)
    iod = np.full(len(frames), np.nan)
    with mp.solutions.face_mesh.FaceMesh(static_image_mode=False, max_num_faces=1) as mesh:
        mesh.process(frames[0])  # graph start-up outside the timing
        t = time.perf_counter()
        for i, f in enumerate(frames):
            res = mesh.process(f)
            if not res.multi_face_landmarks:
                continue
            lm = np.array([(p.x * w, p.y * h) for p in res.multi_face_landmarks[0].landmark])
            pts[i] = lm[list(MESH_CORNERS + MESH_EYES)]
            iod[i] = np.linalg.norm(lm[list(MESH_RIGHT_EYE)].mean(0) - lm[list(MESH_LEFT_EYE)].mean(0))
        dt = (time.perf_counter() - t) / len(frames)
    return dt, pts, iod


def dlib_models():
    import dlib

    spec = importlib.util.find_spec("face_recognition_models")
    folder = Path(list(spec.submodule_search_locations)[0]) / "models"
    return dlib.get_frontal_face_detector(), dlib.shape_predictor(str(folder / "shape_predictor_68_face_landmarks.dat"))


def dlib_run(frames: list[np.ndarray], track: bool) -> tuple[float, np.ndarray, np.ndarray]:
    import dlib

    detector, predictor = dlib_models()
    pts = np.full((len(frames), 4, 2), np.nan)
    iod = np.full(len(frames), np.nan)
    box = None
    t = time.perf_counter()
    for i, f in enumerate(frames):
        if box is None or not track:
            found = detector(f, 0)
            if not found:
                box = None
                continue
            box = max(found, key=lambda r: r.width())
        shape = predictor(f, box)
        lm = np.array([(p.x, p.y) for p in shape.parts()], np.float64)
        pts[i] = lm[list(DLIB_CORNERS + DLIB_EYES)]
        iod[i] = np.linalg.norm(lm[42:48].mean(0) - lm[36:42].mean(0))
        if track:  # the next frame's box: the landmarks' bounding square
            x0, y0 = lm.min(0)
            x1, y1 = lm.max(0)
            side = max(x1 - x0, y1 - y0) * 1.1
            cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
            box = dlib.rectangle(int(cx - side / 2), int(cy - side / 2), int(cx + side / 2), int(cy + side / 2))
    return (time.perf_counter() - t) / len(frames), pts, iod


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    rows = [
        "| clip | size | mesh ms/frame | dlib tracked ms/frame | dlib detect+predict ms/frame "
        "| mesh jitter | dlib tracked jitter | dlib detect+predict jitter | frames with a face (mesh / dlib) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for clip in sorted(VIDEOS.glob("*.mp4")):
        frames = read(clip, args.frames)
        m_dt, m_pts, m_iod = mesh_run(frames)
        t_dt, t_pts, t_iod = dlib_run(frames, track=True)
        d_dt, d_pts, d_iod = dlib_run(frames, track=False)
        h, w = frames[0].shape[:2]
        rows.append(
            f"| {clip.name} | {w}x{h} | {1000 * m_dt:.1f} | {1000 * t_dt:.1f} | {1000 * d_dt:.1f} "
            f"| {jitter(m_pts, m_iod):.4f} | {jitter(t_pts, t_iod):.4f} | {jitter(d_pts, d_iod):.4f} "
            f"| {int(np.isfinite(m_iod).sum())} / {int(np.isfinite(t_iod).sum())} of {len(frames)} |"
        )
        print(rows[-1], flush=True)
    table = "\n".join(rows)
    print(table)
    if args.write:
        sys.path.insert(0, str(REPO))
        from benchmarks.bench_md import write_section

        text = (
            f"{SECTION}\n\nCommand: `/tmp/mpvenv/bin/python benchmarks/face_mesh.py {' '.join(sys.argv[1:])}` "
            "(a side environment: see the script; 2 cores, one thread each). Jitter: median "
            "|p(t+1) - 2p(t) + p(t-1)| of the mouth corners and outer eye corners, in inter-ocular distances.\n\n"
            + table
            + "\n"
        )
        write_section(SECTION, text)


if __name__ == "__main__":
    main()
