"""`stitchtime prepare celeba`: align CelebA with OUR aligner so training crops look like video crops.

Reads the standard CelebA layout (``img_align_celeba/``, optionally the reduced
``img_align_celeba_89x109/``, ``list_attr_celeba.txt``, ``list_eval_partition.txt``)
and writes a prepared folder:

* ``images/<name>.png``: ``size x size`` FFHQ-style crops (same recipe as ``stitchtime align``)
* ``attributes.csv``: ``filename`` + the 40 attribute columns as 0/1
* ``split.csv``: ``filename,split`` with ``train`` / ``val`` / ``test``
* ``failed.txt``: images where no face was found (skipped)

Resumable: images already written are skipped; the CSVs are rewritten at the end.
"""

from __future__ import annotations

import csv
import io
import sys
from dataclasses import dataclass
from multiprocessing import Pool
from pathlib import Path

import cv2
import numpy as np
import torch
from tqdm import tqdm

from stitchtime.config import DetectConfig
from stitchtime.errors import InputError
from stitchtime.faces.align import crop_matrices, quads_from_landmarks, warp_to_crops
from stitchtime.faces.detect import make_backend
from stitchtime.io.paths import atomic_write_bytes

SPLITS = {"0": "train", "1": "val", "2": "test"}
# Image folders in preference order (a name present in both is taken from the first).
IMAGE_FOLDERS = ("img_align_celeba", "img_align_celeba_89x109")
# CelebA faces are small: detect at up to 2x upsampling and accept tiny faces.
PREPARE_DETECT = DetectConfig(max_side=1024, upsample=2, min_face=8)
# Where CelebA's own alignment puts the face (fraction of width/height), measured on HOG
# detections of the shared images; used for the landmark predictor when HOG finds nothing.
CELEBA_FACE_BOX = (0.25, 0.39, 0.74, 0.80)


@dataclass
class PrepareResult:
    out_dir: Path
    n_images: int
    n_written: int
    n_failed: int


def read_attributes(celeba: Path) -> tuple[list[str], dict[str, list[int]]]:
    path = celeba / "list_attr_celeba.txt"
    if not path.exists():
        raise InputError(f"{path}: missing (expected the standard CelebA attribute file)")
    lines = path.read_text().splitlines()
    names = lines[1].split()
    table = {}
    for line in lines[2:]:
        parts = line.split()
        if len(parts) == len(names) + 1:
            table[parts[0]] = [1 if v == "1" else 0 for v in parts[1:]]
    return names, table


def read_partition(celeba: Path) -> dict[str, str]:
    path = celeba / "list_eval_partition.txt"
    if not path.exists():
        raise InputError(f"{path}: missing (expected the standard CelebA partition file)")
    out = {}
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) == 2:
            out[parts[0]] = SPLITS.get(parts[1], parts[1])
    return out


def find_images(celeba: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for folder in IMAGE_FOLDERS:
        d = celeba / folder
        if d.is_dir():
            for p in sorted(d.glob("*.jpg")):
                found.setdefault(p.name, p)
    if not found:
        raise InputError(f"{celeba}: no images found in {' or '.join(IMAGE_FOLDERS)}")
    return found


_backend = None


def align_image(path: Path, size: int) -> np.ndarray | None:
    """One aligned ``size x size`` RGB crop of the largest face in an image, or None."""
    global _backend
    if _backend is None:
        _backend = make_backend(PREPARE_DETECT)
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        return None
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    faces = _backend.detect(rgb)
    if faces:
        landmarks = faces[0].landmarks
    else:  # CelebA is pre-aligned: the face is where CelebA puts it
        h, w = rgb.shape[:2]
        box = np.array(CELEBA_FACE_BOX, np.float32) * np.array([w, h, w, h], np.float32)
        landmarks = _backend.landmarks_in_box(rgb, box)
        if landmarks is None:  # a detect-only backend found no face there either
            return None
    quads = quads_from_landmarks(landmarks[None])
    m = torch.from_numpy(crop_matrices(quads, size)).float()
    frame = torch.from_numpy(rgb).permute(2, 0, 1)[None].float()
    crop = warp_to_crops(frame, m, size)[0]
    return crop.round().clamp(0, 255).byte().permute(1, 2, 0).numpy()


def _work(args: tuple[Path, Path, int]) -> tuple[str, bool]:
    src, dst, size = args
    torch.set_num_threads(1)
    crop = align_image(src, size)
    if crop is None:
        return src.name, False
    ok, buf = cv2.imencode(".png", crop[..., ::-1])
    atomic_write_bytes(dst, buf.tobytes())
    return src.name, True


def _write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    w.writerows(rows)
    atomic_write_bytes(path, buf.getvalue().encode())


def prepare_celeba(
    celeba: Path, out_dir: Path, size: int = 64, workers: int = 1, limit: int | None = None, progress: bool = True
) -> PrepareResult:
    celeba, out_dir = Path(celeba), Path(out_dir)
    if not celeba.is_dir():
        raise InputError(f"{celeba}: not a directory (expected a CelebA folder)")
    names, attrs = read_attributes(celeba)
    split = read_partition(celeba)
    images = find_images(celeba)
    keys = [k for k in sorted(images) if k in attrs and k in split]
    if limit is not None:
        keys = keys[:limit]
    img_dir = out_dir / "images"
    img_dir.mkdir(parents=True, exist_ok=True)
    stem = {k: Path(k).stem + ".png" for k in keys}
    todo = [(images[k], img_dir / stem[k], size) for k in keys if not (img_dir / stem[k]).exists()]
    failed_path = out_dir / "failed.txt"
    failed = set(failed_path.read_text().split()) if failed_path.exists() else set()
    todo = [t for t in todo if t[0].name not in failed]
    written = 0
    bar = tqdm(total=len(todo), desc="align celeba", unit="img", disable=not progress, dynamic_ncols=True)
    try:
        if workers > 1:
            with Pool(workers) as pool:
                for name, ok in pool.imap_unordered(_work, todo, chunksize=16):
                    written += ok
                    if not ok:
                        failed.add(name)
                    bar.update()
        else:
            for t in todo:
                name, ok = _work(t)
                written += ok
                if not ok:
                    failed.add(name)
                bar.update()
    finally:
        bar.close()
        atomic_write_bytes(failed_path, "\n".join(sorted(failed)).encode())
    done = [k for k in keys if (img_dir / stem[k]).exists()]
    _write_csv(out_dir / "attributes.csv", ["filename", *names], [[stem[k], *attrs[k]] for k in done])
    _write_csv(out_dir / "split.csv", ["filename", "split"], [[stem[k], split[k]] for k in done])
    return PrepareResult(out_dir=out_dir, n_images=len(keys), n_written=written, n_failed=len(failed))


#: Canny thresholds for the edges -> face pairs (on a lightly blurred grey 64-px face).
EDGE_LOW, EDGE_HIGH = 60, 140


def face_edges(image: np.ndarray) -> np.ndarray:
    """Black-on-white Canny edge drawing of an RGB face, as RGB (the pix2pix "edges" input)."""
    grey = cv2.GaussianBlur(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), (3, 3), 0)
    edges = 255 - cv2.Canny(grey, EDGE_LOW, EDGE_HIGH)
    return np.repeat(edges[..., None], 3, axis=2)


def prepare_edge_pairs(prepared: Path, output: Path, limit: int | None = None) -> dict[str, int]:
    """From a `prepare celeba` folder write ``output/{train,test}/NAME.png``, each edges | face side
    by side (pix2pix's layout) following the official split (val goes to test). Returns counts."""
    split_csv = prepared / "split.csv"
    if not split_csv.exists():
        raise InputError(
            f"{prepared}: not a prepared CelebA folder (no split.csv); run `stitchtime prepare celeba` first"
        )
    with split_csv.open() as f:
        rows = list(csv.DictReader(f))[:limit]
    counts = {"train": 0, "test": 0}
    for row in tqdm(rows, desc="edge pairs", unit="img", leave=False, disable=not sys.stderr.isatty()):
        src = prepared / "images" / row["filename"]
        if not src.exists():
            continue
        split = "train" if row["split"] == "train" else "test"
        dst = output / split / row["filename"]
        counts[split] += 1
        if dst.exists():
            continue
        face = cv2.cvtColor(cv2.imread(str(src)), cv2.COLOR_BGR2RGB)
        pair = np.concatenate([face_edges(face), face], axis=1)
        dst.parent.mkdir(parents=True, exist_ok=True)
        ok, png = cv2.imencode(".png", cv2.cvtColor(pair, cv2.COLOR_RGB2BGR))
        atomic_write_bytes(dst, png.tobytes())
    return counts
