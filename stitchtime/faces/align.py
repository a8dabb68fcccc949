"""FFHQ-style face alignment with temporal smoothing (the STIT recipe), and batched warps.

Convention
----------
* Landmarks and quads are ``(x, y)`` in **stored** frame pixels, pixel centres at
  integer coordinates. The oriented square is built in *display* space (x scaled by
  the sample aspect ratio) so faces in non-square-pixel video are not squashed,
  then mapped back to stored pixels.
* A quad is centre ``c`` plus half-axes ``x`` (crop right) and ``y`` (crop down);
  corners ``c-x-y`` (top-left), ``c+x-y`` (top-right), ``c-x+y`` (bottom-left).
* ``crop_matrices`` returns ``(T, 2, 3)`` affine maps **frame -> crop** so that the
  quad's outer edges land on the crop's outer pixel edges (``-0.5`` and ``S-0.5``).
* Warps use ``kornia.geometry.transform.warp_affine`` with ``align_corners=True``
  (pixel-centre convention, matching the matrices above). Images are float
  tensors ``(B, C, H, W)``; ``dsize`` is ``(height, width)``.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
from kornia.filters import gaussian_blur2d

from stitchtime.config import AlignConfig, MaskConfig
from stitchtime.faces.warp import warp_affine, warp_affine_uint8
from stitchtime.temporal.smooth import gaussian_smooth
from stitchtime.types import CropPlan, FaceTrack, Quads

# STIT / FFHQ quad recipe constants (see DESIGN.md).
EYE_TO_MOUTH_SHIFT = 0.1  # centre = eye_avg + 0.1 * eye_to_mouth
EYE_SCALE = 2.0  # half-side >= 2.0 * |eye_to_eye|
MOUTH_SCALE = 1.8  # half-side >= 1.8 * |eye_to_mouth|


def quads_from_landmarks(landmarks: np.ndarray, valid: np.ndarray | None = None, sar: float = 1.0) -> Quads:
    """Per-frame FFHQ quads from ``(T, 68, 2)`` landmarks (rows of invalid frames are ignored)."""
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.ndim != 3 or lm.shape[1:] != (68, 2):
        raise ValueError(f"landmarks must have shape (T, 68, 2), got {lm.shape}")
    t = lm.shape[0]
    valid = np.ones(t, bool) if valid is None else np.asarray(valid, bool)
    lm = lm * np.array([sar, 1.0])  # display space
    eye_l = lm[:, 36:42].mean(1)
    eye_r = lm[:, 42:48].mean(1)
    eye_avg = (eye_l + eye_r) / 2
    eye_to_eye = eye_r - eye_l
    mouth_avg = (lm[:, 48] + lm[:, 54]) / 2
    eye_to_mouth = mouth_avg - eye_avg
    # x axis: eye direction averaged with the perpendicular of the eye->mouth direction
    x = eye_to_eye + np.stack([eye_to_mouth[:, 1], -eye_to_mouth[:, 0]], axis=1)
    norm = np.hypot(x[:, 0], x[:, 1])[:, None]
    norm[norm == 0] = 1.0
    x = x / norm
    half = np.maximum(np.hypot(*eye_to_eye.T) * EYE_SCALE, np.hypot(*eye_to_mouth.T) * MOUTH_SCALE)
    x = x * half[:, None]
    y = np.stack([-x[:, 1], x[:, 0]], axis=1)  # x rotated +90 degrees (y points down the face)
    c = eye_avg + eye_to_mouth * EYE_TO_MOUTH_SHIFT
    bad = ~valid | ~np.isfinite(c).all(1) | ~np.isfinite(x).all(1)
    c[bad] = np.nan
    x[bad] = np.nan
    y[bad] = np.nan
    return _to_stored(Quads(center=c, x=x, y=y, valid=valid & ~bad), sar)


def _to_stored(q: Quads, sar: float) -> Quads:
    s = np.array([1.0 / sar, 1.0])
    return Quads(center=q.center * s, x=q.x * s, y=q.y * s, valid=q.valid)


def smooth_quads(quads: Quads, config: AlignConfig = AlignConfig(), sar: float = 1.0) -> Quads:
    """STIT's temporal smoothing: Gaussian over time on the centre (``sigma_center``) and on
    the axis vectors (``sigma_axis``), within each run of valid frames. The y axis is
    rebuilt from the smoothed x so the crop stays square. The smoothed centre is kept within
    ``max_center_lag`` x the crop side of the raw one (jitter is smoothed, motion followed)."""
    d = np.array([sar, 1.0])
    raw = quads.center * d
    c = gaussian_smooth(raw, quads.valid, config.sigma_center)
    if config.max_center_lag > 0:
        side = 2 * np.linalg.norm(quads.x * d, axis=1, keepdims=True)
        lag = c - raw
        norm = np.linalg.norm(lag, axis=1, keepdims=True)
        limit = config.max_center_lag * side
        with np.errstate(invalid="ignore", divide="ignore"):
            c = np.where(norm > limit, raw + lag * (limit / norm), c)
    x = gaussian_smooth(quads.x * d, quads.valid, config.sigma_axis)
    y = np.stack([-x[:, 1], x[:, 0]], axis=1)
    return _to_stored(Quads(center=c, x=x, y=y, valid=quads.valid.copy()), sar)


def crop_matrices(quads: Quads, crop_size: int) -> np.ndarray:
    """``(T, 2, 3)`` frame->crop affine matrices (NaN rows for invalid frames)."""
    s = float(crop_size)
    src = np.stack(
        [quads.center - quads.x - quads.y, quads.center + quads.x - quads.y, quads.center - quads.x + quads.y], axis=1
    )
    dst = np.array([[-0.5, -0.5], [s - 0.5, -0.5], [-0.5, s - 0.5]])
    out = np.full((len(quads), 2, 3), np.nan)
    for i in np.flatnonzero(quads.valid):
        a = np.concatenate([src[i], np.ones((3, 1))], axis=1)  # (3, 3): rows [x, y, 1]
        out[i] = np.linalg.solve(a, dst).T
    return out


def invert_affine(m: np.ndarray) -> np.ndarray:
    """Inverse of ``(..., 2, 3)`` affine matrices."""
    m = np.asarray(m, dtype=np.float64)
    a = m[..., :2]
    inv = np.linalg.inv(a)
    t = -np.einsum("...ij,...j->...i", inv, m[..., 2])
    return np.concatenate([inv, t[..., None]], axis=-1)


def transform_points(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Apply ``(..., 2, 3)`` affine maps to ``(..., N, 2)`` points."""
    return np.einsum("...ij,...nj->...ni", m[..., :2], pts) + m[..., None, :, 2]


def downscale_factor(m: np.ndarray) -> np.ndarray:
    """How much each frame->crop map shrinks the image (> 1 means downsampling)."""
    a = np.asarray(m)[..., :2]
    return 1.0 / np.sqrt(np.abs(np.linalg.det(a)))


def warp_to_crops(frames: torch.Tensor, matrices: torch.Tensor, crop_size: int, antialias: bool = True) -> torch.Tensor:
    """Warp ``(B, C, H, W)`` float frames to ``(B, C, S, S)`` crops with frame->crop ``matrices``
    ``(B, 2, 3)``. Outside the frame the image is reflected (as FFHQ pads). When the warp
    shrinks the face, the frames are low-passed first (Gaussian, sigma from the mean
    shrink factor of the batch) so crops do not alias."""
    if frames.ndim != 4:
        raise ValueError(f"frames must be (B, C, H, W), got shape {tuple(frames.shape)}")
    if matrices.shape != (frames.shape[0], 2, 3):
        raise ValueError(f"matrices must be ({frames.shape[0]}, 2, 3), got {tuple(matrices.shape)}")
    if antialias:
        shrink = float(downscale_factor(matrices.detach().cpu().double().numpy()).mean())
        sigma = max(0.0, (shrink - 1.0) / 2.0)
        if sigma > 0.3:
            k = 2 * int(np.ceil(3 * sigma)) + 1
            frames = gaussian_blur2d(frames, (k, k), (sigma, sigma), border_type="reflect")
    return warp_affine(frames, matrices, (crop_size, crop_size), "reflection")


def source_rect(
    matrices: np.ndarray, crop_size: int, width: int, height: int, margin: int = 2
) -> tuple[int, int, int, int]:
    """Union ``(x0, y0, x1, y1)`` of the frame regions that ``(B, 2, 3)`` frame->crop maps read,
    clipped to the frame (empty rect when the crops lie outside it)."""
    inv = invert_affine(matrices)
    s = crop_size - 0.5
    corners = np.array([[-0.5, -0.5], [s, -0.5], [-0.5, s], [s, s]])
    pts = np.einsum("bij,nj->bni", inv[..., :2], corners) + inv[:, None, :, 2]
    x0 = int(np.clip(np.floor(pts[..., 0].min()) - margin, 0, width))
    y0 = int(np.clip(np.floor(pts[..., 1].min()) - margin, 0, height))
    x1 = int(np.clip(np.ceil(pts[..., 0].max()) + margin + 1, 0, width))
    y1 = int(np.clip(np.ceil(pts[..., 1].max()) + margin + 1, 0, height))
    return x0, y0, max(x0, x1), max(y0, y1)


def crops_from_frames(
    frames: list[np.ndarray], matrices: np.ndarray, crop_size: int, engine: str = "auto"
) -> torch.Tensor:
    """Aligned ``(B, 3, S, S)`` float crops (``[0, 255]``) of uint8 ``(H, W, 3)`` frames.

    Fast path for the video pipeline: only the frame rectangle the crops read is touched;
    the anti-alias low-pass runs per frame with OpenCV on that rectangle; the warp is
    OpenCV's on the CPU (uint8 in, uint8 out: crops are 8-bit like the video) and kornia's
    batched warp on an accelerator (see :mod:`stitchtime.faces.warp`).
    """
    matrices = np.asarray(matrices, dtype=np.float64)
    h, w = frames[0].shape[:2]
    x0, y0, x1, y1 = source_rect(matrices, crop_size, w, h)
    inside = _reads_inside(matrices, crop_size, w, h)
    if not inside or x1 - x0 < 2 or y1 - y0 < 2:
        x0, y0, x1, y1 = 0, 0, w, h
    shrink = downscale_factor(matrices)
    sigma = float(max(0.0, (shrink.mean() - 1.0) / 2.0))
    rois = []
    for f in frames:
        roi = f[y0:y1, x0:x1]
        if sigma > 0.3:
            roi = cv2.GaussianBlur(roi, (0, 0), sigma, borderType=cv2.BORDER_REFLECT_101)
        rois.append(roi)
    shifted = matrices.copy()
    shifted[:, :, 2] += shifted[:, :, 0] * x0 + shifted[:, :, 1] * y0  # roi -> crop
    if engine == "kornia":  # frames live in host memory: OpenCV unless asked
        t = torch.from_numpy(np.stack(rois)).permute(0, 3, 1, 2).float()
        return warp_affine(t, shifted, (crop_size, crop_size), "reflection", engine="kornia")
    crops = warp_affine_uint8([np.ascontiguousarray(r) for r in rois], shifted, (crop_size, crop_size))
    return torch.from_numpy(crops).permute(0, 3, 1, 2).float()


def _reads_inside(matrices: np.ndarray, crop_size: int, width: int, height: int) -> bool:
    inv = invert_affine(matrices)
    s = crop_size - 0.5
    corners = np.array([[-0.5, -0.5], [s, -0.5], [-0.5, s], [s, s]])
    pts = np.einsum("bij,nj->bni", inv[..., :2], corners) + inv[:, None, :, 2]
    return bool(
        (pts[..., 0] >= 0).all()
        and (pts[..., 1] >= 0).all()
        and (pts[..., 0] <= width - 1).all()
        and (pts[..., 1] <= height - 1).all()
    )


# Landmarks used for the mask are smoothed this much (frames) so the mask edge does not jitter.
MASK_LANDMARK_SIGMA = 1.0


def plan_crops(track: FaceTrack, sar: float, align: AlignConfig, mask: MaskConfig) -> CropPlan:
    """Smoothed FFHQ quads -> crop matrices; landmarks mapped into crop space for masks."""
    quads = smooth_quads(quads_from_landmarks(track.landmarks, track.valid, sar), align, sar)
    matrices = crop_matrices(quads, align.crop_size)
    smooth_lm = gaussian_smooth(track.landmarks, track.valid, MASK_LANDMARK_SIGMA)
    crop_lm = np.full_like(smooth_lm, np.nan)
    v = quads.valid
    crop_lm[v] = transform_points(matrices[v], smooth_lm[v])
    return CropPlan(
        matrices=matrices,
        crop_landmarks=crop_lm,
        valid=v,
        detected=track.detected & v,
        crop_size=align.crop_size,
        notes=list(track.notes),
        mask=mask,
    )
