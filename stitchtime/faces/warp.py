"""One affine warp, two engines: kornia (batched, on the tensors' device) and OpenCV.

Convention (identical for both engines, so results agree to float rounding): ``M`` is the
``(B, 2, 3)`` **source -> destination** pixel map, pixel centres at integer coordinates
(kornia ``align_corners=True`` == OpenCV's convention), ``dsize`` is ``(height, width)``,
bilinear sampling; ``border`` is ``"reflection"`` (mirror about edge pixel centres: kornia
``reflection`` with aligned corners == OpenCV ``BORDER_REFLECT_101``) or ``"zeros"``.

``engine="auto"`` uses kornia's batched warp when the tensors live on an accelerator
(CUDA/MPS) and OpenCV's per-image warp on the CPU, where it is ~10x faster for our
frame-sized warps (measured in ``benchmarks/roundtrip.py``).
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
from kornia.geometry.transform import warp_affine as kornia_warp_affine
from scipy.interpolate import RBFInterpolator

_CV_BORDER = {"reflection": cv2.BORDER_REFLECT_101, "zeros": cv2.BORDER_CONSTANT}


def warp_affine(
    images: torch.Tensor,
    m: torch.Tensor | np.ndarray,
    dsize: tuple[int, int],
    border: str = "reflection",
    engine: str = "auto",
) -> torch.Tensor:
    """Warp float ``(B, C, H, W)`` images with ``(B, 2, 3)`` source->destination maps."""
    if images.ndim != 4:
        raise ValueError(f"images must be (B, C, H, W), got shape {tuple(images.shape)}")
    if tuple(np.shape(m)) != (images.shape[0], 2, 3):
        raise ValueError(f"M must be ({images.shape[0]}, 2, 3), got {tuple(np.shape(m))}")
    if border not in _CV_BORDER:
        raise ValueError(f"border must be one of {sorted(_CV_BORDER)}, got {border!r}")
    if engine == "auto":
        engine = "kornia" if images.device.type != "cpu" else "opencv"
    if engine == "kornia":
        mt = torch.as_tensor(
            np.asarray(m) if not isinstance(m, torch.Tensor) else m, dtype=images.dtype, device=images.device
        )
        return kornia_warp_affine(images, mt, dsize=dsize, mode="bilinear", padding_mode=border, align_corners=True)
    if engine != "opencv":
        raise ValueError(f"engine must be auto, kornia or opencv, got {engine!r}")
    mats = m.detach().cpu().double().numpy() if isinstance(m, torch.Tensor) else np.asarray(m, np.float64)
    h, w = dsize
    src = images.detach().cpu().float().permute(0, 2, 3, 1).numpy()
    out = np.empty((images.shape[0], h, w, images.shape[1]), np.float32)
    for i in range(len(src)):
        res = cv2.warpAffine(src[i], mats[i], (w, h), flags=cv2.INTER_LINEAR, borderMode=_CV_BORDER[border])
        out[i] = res.reshape(h, w, -1)
    return torch.from_numpy(out).permute(0, 3, 1, 2).to(images.device)


def warp_affine_uint8(
    images: list[np.ndarray], m: np.ndarray, dsize: tuple[int, int], border: str = "reflection"
) -> np.ndarray:
    """OpenCV warp of uint8 ``(H, W, 3)`` images straight to uint8 ``(B, h, w, 3)`` (CPU fast path)."""
    h, w = dsize
    out = np.empty((len(images), h, w, images[0].shape[2]), np.uint8)
    for i, img in enumerate(images):
        out[i] = cv2.warpAffine(
            img, np.asarray(m[i], np.float64), (w, h), flags=cv2.INTER_LINEAR, borderMode=_CV_BORDER[border]
        )
    return out


def thin_plate_spline(points: np.ndarray, values: np.ndarray):
    """A thin-plate spline (affine beyond the points) through ``points`` ``(P, 2)`` taking
    ``values`` ``(P, D)``, as a :class:`scipy.interpolate.RBFInterpolator`. Points that coincide
    (a closed mouth's facing inner lips, in dlib's integer landmarks) are merged, their values
    averaged: a spline through the same point twice has no solution, and scipy then returns
    numbers thousands of pixels off instead of raising."""
    points = np.asarray(points, np.float64)
    values = np.asarray(values, np.float64)
    keys, inverse = np.unique(np.round(points, 6), axis=0, return_inverse=True)
    if len(keys) < len(points):
        inverse = inverse.ravel()
        counts = np.bincount(inverse, minlength=len(keys)).astype(np.float64)[:, None]
        points = np.stack([np.bincount(inverse, points[:, k], len(keys)) for k in range(2)], 1) / counts
        values = np.stack([np.bincount(inverse, values[:, k], len(keys)) for k in range(values.shape[1])], 1) / counts
    return RBFInterpolator(points, values, kernel="thin_plate_spline", degree=1, smoothing=0.0)


def spline_on_grid(spline, shape: tuple[int, int], origin=(0.0, 0.0), step: int = 1, grid_step: int = 8) -> np.ndarray:
    """``(h, w, D)`` float32: ``spline`` (a :func:`thin_plate_spline`) over an output of ``shape``
    (h, w) whose pixel (0, 0) sits at ``origin`` in the spline's coordinates and whose pixels are
    ``step`` of them apart (centred as cv2.resize puts the pixels of an image ``step`` times
    smaller), evaluated every ``grid_step`` output pixels (the grid spans the output, its border
    pixels included) and bicubic between, at each pixel's own grid coordinate (cv2.resize would
    shift the grid by up to 1.5 px: its pixel centres differ)."""
    h, w = shape
    ny, nx = -(-(h - 1) // grid_step) + 1, -(-(w - 1) // grid_step) + 1
    gy, gx = np.linspace(0, h - 1, ny), np.linspace(0, w - 1, nx)
    centre = (step - 1) / 2
    mx, my = np.meshgrid(gx * step + centre + origin[0], gy * step + centre + origin[1])
    coarse = spline(np.stack([mx.ravel(), my.ravel()], 1)).reshape(ny, nx, -1).astype(np.float32)
    ux = np.arange(w, dtype=np.float32) * np.float32((nx - 1) / max(w - 1, 1))
    uy = np.arange(h, dtype=np.float32) * np.float32((ny - 1) / max(h - 1, 1))
    px, py = np.meshgrid(ux, uy)
    return cv2.remap(coarse, px, py, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
