"""Round-trip speed (`edit --attr none`) per shared clip, per stage, against the ffmpeg floor.

    .venv/bin/python benchmarks/roundtrip.py [--clips d3,d0] [--write]

Stages are timed inside one instrumented run of the same passes the pipeline makes
(pass 1: decode + track; pass 2: decode + crop + paste + encode); "round trip" is a
separate end-to-end `edit_video` call; "floor" is a plain ffmpeg decode + x264 encode of
the same clip with the same CRF/preset and audio copy. Ratios come from one run.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.bench_md import write_section
from pipelines.edit_video import edit_video
from stitchtime.config import EncodeConfig, PipelineConfig
from stitchtime.editors.none import IdentityEditor
from stitchtime.faces.align import plan_crops
from stitchtime.faces.detect import make_backend
from stitchtime.faces.track import FaceTracker
from stitchtime.io import VideoReader, VideoWriter, ffmpeg_exe, probe
from stitchtime.render.blend import paste_frames
from stitchtime.video_run import VideoRun

VIDEOS = REPO.parent / "shared" / "data" / "videos"
SECTION = "## Round trip, `edit --attr none` (issue 2)"


def _timed_iter(it, acc: dict, key: str):
    it = iter(it)
    while True:
        t = time.perf_counter()
        try:
            item = next(it)
        except StopIteration:
            acc[key] += time.perf_counter() - t
            return
        acc[key] += time.perf_counter() - t
        yield item


def stages(path: Path, out: Path, config: PipelineConfig) -> dict[str, float]:
    acc = dict.fromkeys(["decode", "track", "crop", "paste", "encode"], 0.0)
    meta = probe(path)
    tracker = FaceTracker(make_backend(config.detect), config.detect, config.track)
    with VideoReader(path, meta) as r:
        for frame in _timed_iter(r, acc, "decode"):
            t = time.perf_counter()
            tracker.update(frame)
            acc["track"] += time.perf_counter() - t
    track = tracker.finish()
    run = VideoRun(path, meta, config, track, plan_crops(track, float(meta.sar), config.align, config.mask))
    plan = run.plan
    editor = IdentityEditor()
    t0 = time.perf_counter()
    writer = VideoWriter(out, meta, config.encode, overwrite=True, audio_from=path if meta.has_audio else None)
    writer.__enter__()
    acc["encode"] += time.perf_counter() - t0
    idx, frames = [], []
    with VideoReader(path, meta) as r:
        for i, frame in enumerate(_timed_iter(r, acc, "decode")):
            idx.append(i)
            frames.append(frame)
            if len(frames) == config.batch_size or i == meta.n_frames - 1:
                t = time.perf_counter()
                pos, batch = run.crop_batch(idx, frames)
                acc["crop"] += time.perf_counter() - t
                if batch is not None:
                    t = time.perf_counter()
                    out_frames = paste_frames(
                        [frames[k] for k in pos],
                        editor.delta(batch),
                        batch.masks,
                        plan.matrices[batch.frame_indices.numpy()],
                    )
                    for j, k in enumerate(pos):
                        frames[k] = out_frames[j]
                    acc["paste"] += time.perf_counter() - t
                t = time.perf_counter()
                for f in frames:
                    writer.write(f)
                acc["encode"] += time.perf_counter() - t
                idx, frames = [], []
    t = time.perf_counter()
    writer.__exit__(None, None, None)
    acc["encode"] += time.perf_counter() - t
    acc["n_frames"] = meta.n_frames
    acc["size"] = f"{meta.width}x{meta.height}"
    return acc


def tracking_vs_detection(path: Path, config: PipelineConfig, n: int = 100) -> tuple[float, float, float]:
    """fps of our window tracker vs the full detector on every frame (first ``n`` frames), and the
    mean landmark distance between the two, in units of the face's eye-to-eye distance."""
    backend = make_backend(config.detect)
    frames = []
    with VideoReader(path) as r:
        for i, f in enumerate(r):
            if i >= n:
                break
            frames.append(f)
    tracker = FaceTracker(backend, config.detect, config.track)
    t = time.perf_counter()
    ours = [tracker.update(f) for f in frames]
    t_ours = time.perf_counter() - t
    t = time.perf_counter()
    full = [backend.detect(f) for f in frames]
    t_full = time.perf_counter() - t
    errs = []
    for o, fs in zip(ours, full):
        if o is not None and fs:
            lm = fs[0].landmarks
            iod = np.linalg.norm(lm[36:42].mean(0) - lm[42:48].mean(0))
            errs.append(np.linalg.norm(o.landmarks - lm, axis=1).mean() / iod)
    return len(frames) / t_ours, len(frames) / t_full, float(np.mean(errs)) if errs else float("nan")


def ffmpeg_floor(path: Path, out: Path, enc: EncodeConfig) -> float:
    cmd = [
        ffmpeg_exe(),
        "-v",
        "error",
        "-y",
        "-i",
        str(path),
        "-map",
        "0:v:0",
        "-map",
        "0:a?",
        "-c:v",
        enc.codec,
        "-crf",
        str(enc.crf),
        "-preset",
        enc.preset,
        "-pix_fmt",
        enc.pix_fmt,
        "-c:a",
        "copy",
        str(out),
    ]
    t = time.perf_counter()
    subprocess.run(cmd, check=True)
    return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", default="", help="comma-separated name fragments (default: all shared clips)")
    parser.add_argument("--write", action="store_true", help="replace the section in BENCHMARKS.md")
    args = parser.parse_args()
    clips = sorted(VIDEOS.glob("*.mp4"))
    if args.clips:
        keys = args.clips.split(",")
        clips = [c for c in clips if any(k in c.name for k in keys)]
    config = PipelineConfig(progress=False)
    rows = []
    track_rows = [
        "| clip | tracker fps | full detection fps | speed-up | landmark difference (x eye distance) |",
        "|---|---|---|---|---|",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for clip in clips:
            tmpd = Path(tmp)
            floor = ffmpeg_floor(clip, tmpd / "floor.mp4", config.encode)
            st = stages(clip, tmpd / "stages.mp4", config)
            t = time.perf_counter()
            edit_video(clip, tmpd / "rt.mp4", IdentityEditor(), config, overwrite=True)
            whole = time.perf_counter() - t
            n = st["n_frames"]
            trk, det, err = tracking_vs_detection(clip, config)
            track_rows.append(f"| {clip.name} | {trk:.0f} | {det:.0f} | {trk / det:.1f}x | {err:.3f} |")
            fps = {k: n / st[k] if st[k] > 0 else float("inf") for k in ("decode", "track", "crop", "paste", "encode")}
            rows.append((clip.name, st["size"], n, n / whole, n / floor, whole / floor, fps))
            print(
                f"{clip.name}: {n / whole:.1f} fps round trip, floor {n / floor:.1f} fps, ratio {whole / floor:.2f}x",
                flush=True,
            )
    head = (
        "| clip | size | frames | round trip fps | ffmpeg floor fps | time / floor "
        "| decode | track | crop | paste | encode |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|"
    )
    lines = [head]
    for name, size, n, rt, fl, ratio, fps in rows:
        stage = " | ".join(f"{fps[k]:.0f}" for k in ("decode", "track", "crop", "paste", "encode"))
        lines.append(f"| {name} | {size} | {n} | {rt:.1f} | {fl:.1f} | {ratio:.2f}x | {stage} |")
    table = (
        "\n".join(lines)
        + "\n\nTracking (first 100 frames): our window tracker against running the full detector on every frame.\n\n"
        + "\n".join(track_rows)
    )
    print(table)
    if args.write:
        text = (
            f"{SECTION}\n\nCommand: `.venv/bin/python benchmarks/roundtrip.py --write` (2 cores; stage columns are "
            f"frames/s of that stage alone inside one instrumented run; ratios from one run).\n\n{table}\n"
        )
        write_section(SECTION, text)


if __name__ == "__main__":
    main()
