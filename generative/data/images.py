"""Image helpers: decode/resize to uint8, uint8 <-> [-1, 1] tensors, a small make_grid, atomic PNG writes.

Convention: uint8 images are ``(H, W, 3)`` RGB (numpy) or ``(N, 3, H, W)`` (torch); float images
are ``(N, 3, H, W)`` in ``[-1, 1]``.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import torch

from generative.errors import DatasetError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
GRID_PAD_VALUE = 1.0  # white padding between grid cells (in [-1, 1])


def list_images(folder: Path) -> list[Path]:
    """Image files directly in ``folder``, sorted by name."""
    return sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def read_rgb(path: Path) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB; raises DatasetError for a missing or undecodable file."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise DatasetError(f"cannot read image {path}")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def center_crop(image: np.ndarray, side: int | None = None, center_y: float | None = None) -> np.ndarray:
    """Square crop of ``side`` (default: the shorter side) centred at the image centre (or row ``center_y``)."""
    h, w = image.shape[:2]
    side = min(side or min(h, w), h, w)
    cy = h / 2 if center_y is None else center_y
    top = int(round(min(max(cy - side / 2, 0), h - side)))
    left = (w - side) // 2
    return image[top : top + side, left : left + side]


def resize(image: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """Resize to ``size`` (square int, or ``(width, height)``); area filter when shrinking."""
    width, height = (size, size) if isinstance(size, int) else size
    if image.shape[1] == width and image.shape[0] == height:
        return image
    shrinking = width < image.shape[1]
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC)


def to_tensor_uint8(images: list[np.ndarray]) -> torch.Tensor:
    """Stack ``(H, W, 3)`` uint8 arrays into one ``(N, 3, H, W)`` uint8 tensor."""
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()


def uint8_to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 ``[0, 255]`` -> float ``[-1, 1]``."""
    return images.float().div(127.5).sub(1.0)


def float_to_uint8(images: torch.Tensor) -> torch.Tensor:
    """float ``[-1, 1]`` -> uint8 ``[0, 255]`` (clamped, rounded)."""
    return images.detach().float().add(1.0).mul(127.5).round().clamp(0, 255).to(torch.uint8)


def make_grid(images: torch.Tensor, nrow: int = 8, padding: int = 2, pad_value: float = GRID_PAD_VALUE) -> torch.Tensor:
    """Tile ``(N, C, H, W)`` images into one ``(C, H', W')`` image with ``nrow`` images per row."""
    if images.ndim != 4:
        raise ValueError(f"make_grid expects (N, C, H, W), got shape {tuple(images.shape)}")
    n, c, h, w = images.shape
    ncol = min(nrow, n)
    nrows = (n + ncol - 1) // ncol
    grid = images.new_full((c, nrows * (h + padding) + padding, ncol * (w + padding) + padding), pad_value)
    for i in range(n):
        r, col = divmod(i, ncol)
        top, left = padding + r * (h + padding), padding + col * (w + padding)
        grid[:, top : top + h, left : left + w] = images[i]
    return grid


def encode_png(image: torch.Tensor) -> bytes:
    """The PNG file of a ``(3, H, W)`` float ``[-1, 1]`` (or uint8) image."""
    if image.ndim != 3 or image.shape[0] not in (1, 3):
        raise ValueError(f"save_png expects (3, H, W), got shape {tuple(image.shape)}")
    if image.dtype != torch.uint8:
        image = float_to_uint8(image)
    array = image.permute(1, 2, 0).cpu().numpy()
    array = cv2.cvtColor(array, cv2.COLOR_RGB2BGR) if array.shape[2] == 3 else array[:, :, 0]
    ok, encoded = cv2.imencode(".png", array)
    if not ok:
        raise ValueError("PNG encoding failed")
    return encoded.tobytes()


def save_png(image: torch.Tensor, path: str | os.PathLike) -> Path:
    """Write a ``(3, H, W)`` float ``[-1, 1]`` (or uint8) image as PNG, atomically (temp file + rename)."""
    path = Path(path)
    data = encode_png(image)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path


def save_grid(images: torch.Tensor, path: str | os.PathLike, nrow: int = 8) -> Path:
    """``make_grid`` then ``save_png``."""
    return save_png(make_grid(images.detach().cpu().float(), nrow=nrow), path)
