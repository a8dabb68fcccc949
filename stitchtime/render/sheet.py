"""Contact sheets and side-by-side previews as uint8 RGB arrays (written with OpenCV)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from stitchtime.io.paths import atomic_write_bytes


def grid(images: list[np.ndarray], cols: int, pad: int = 2, fill: int = 255) -> np.ndarray:
    """Tile equally sized ``(H, W, 3)`` uint8 images row-major into one image."""
    if not images:
        raise ValueError("grid needs at least one image")
    h, w = images[0].shape[:2]
    rows = (len(images) + cols - 1) // cols
    out = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, 3), fill, np.uint8)
    for k, img in enumerate(images):
        r, c = divmod(k, cols)
        y, x = pad + r * (h + pad), pad + c * (w + pad)
        out[y : y + h, x : x + w] = img
    return out


def draw_points(image: np.ndarray, points: np.ndarray, color=(0, 255, 0), radius: int = 1) -> np.ndarray:
    out = np.ascontiguousarray(image.copy())
    for x, y in np.asarray(points):
        if np.isfinite(x) and np.isfinite(y):
            cv2.circle(out, (int(round(x)), int(round(y))), radius, color, -1, lineType=cv2.LINE_AA)
    return out


def label(image: np.ndarray, text: str) -> np.ndarray:
    out = np.ascontiguousarray(image.copy())
    scale = max(0.35, image.shape[1] / 700)
    cv2.putText(out, text, (4, int(16 * scale / 0.5)), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(out, text, (4, int(16 * scale / 0.5)), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def write_png(path: Path, image: np.ndarray) -> None:
    """Atomically write an RGB uint8 image as PNG."""
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(image[..., ::-1]))
    if not ok:
        raise ValueError(f"could not encode {path} as PNG")
    atomic_write_bytes(Path(path), buf.tobytes())
