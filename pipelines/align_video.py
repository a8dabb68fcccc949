"""`stitchtime align`: aligned face crops of a video, their landmarks and a contact sheet."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stitchtime.config import PipelineConfig
from stitchtime.io.paths import atomic_directory, check_output_dir
from stitchtime.render.mask import mask_polygon
from stitchtime.render.sheet import draw_points, grid, write_png
from stitchtime.video_run import VideoRun

SHEET_TILES = 16  # crops on the contact sheet, evenly spread over the face frames


@dataclass
class AlignResult:
    out_dir: Path
    n_frames: int
    n_face_frames: int
    sheet: Path
    notes: list[str]


def _nan_to_none(a: np.ndarray) -> list:
    return [None if not np.isfinite(r).all() else np.round(r, 3).tolist() for r in a]


def align_video(
    path: Path, out_dir: Path, config: PipelineConfig = PipelineConfig(), overwrite: bool = False
) -> AlignResult:
    path, out_dir = Path(path), Path(out_dir)
    check_output_dir(out_dir, overwrite, inputs=[path])  # before any work
    run = VideoRun.analyse(path, config)
    meta, track, plan = run.meta, run.track, run.plan
    face_frames = np.flatnonzero(plan.valid)
    sheet_frames = set(
        face_frames[
            np.linspace(0, len(face_frames) - 1, min(SHEET_TILES, len(face_frames))).round().astype(int)
        ].tolist()
    )
    tiles = []
    with atomic_directory(out_dir, overwrite=overwrite, inputs=[path]) as tmp:
        (tmp / "crops").mkdir()
        for batch in run.crops("align"):
            images = batch.crops.round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()
            for i, img in zip(batch.frame_indices.tolist(), images):
                write_png(tmp / "crops" / f"frame_{i:06d}.png", img)
                if i in sheet_frames:
                    lm = plan.crop_landmarks[i]
                    tile = draw_points(img, lm, (0, 255, 0), 1)
                    tiles.append(draw_points(tile, mask_polygon(lm, config.mask), (255, 64, 64), 1))
        write_png(tmp / "contact_sheet.png", grid(tiles, cols=4))
        record = {
            "video": str(path),
            "n_frames": meta.n_frames,
            "fps": meta.fps,
            "size": [meta.width, meta.height],
            "sar": [meta.sar.numerator, meta.sar.denominator],
            "crop_size": plan.crop_size,
            "convention": "points (x, y) in stored frame pixels, pixel centres at integers; "
            "matrices map frame -> crop pixels; null where the face is absent",
            "detected": track.detected.tolist(),
            "valid": plan.valid.tolist(),
            "landmarks": _nan_to_none(track.landmarks),
            "crop_matrices": _nan_to_none(plan.matrices),
            "notes": plan.notes,
        }
        (tmp / "landmarks.json").write_text(json.dumps(record))
    return AlignResult(out_dir, meta.n_frames, int(plan.valid.sum()), out_dir / "contact_sheet.png", plan.notes)
