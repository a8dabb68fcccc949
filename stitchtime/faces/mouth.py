"""The mouth crop: a square around the mouth in the face frame (eyes level, inter-ocular distance
as the unit), where the mouth-interior model paints what a warp cannot show (teeth).

The crop is centred on the mouth's landmarks (48-67), :data:`MOUTH_SIDE` inter-ocular distances
wide, rotated with the eyes; :func:`mouth_matrix` maps image pixels to crop pixels.
:func:`interior_mask` is the polygon of the inner lips (60-67): what lies between them.
"""

from __future__ import annotations

import cv2
import numpy as np

from stitchtime.faces.shape import face_frame

MOUTH_SIDE = 1.4  # crop side in inter-ocular distances (a smiling mouth is about 1 IOD wide)
MOUTH_DROP = 0.05  # the crop's centre sits this far below the landmarks' mean (IOD): room for the chin side
INNER = np.r_[60:68]  # the inner lip contour, in order around the opening
INNER_PAIRS = ((61, 67), (62, 66), (63, 65))  # upper / lower inner lip points facing each other
HOLE = (0, 255, 0)  # the flat colour that marks the region to paint in the model's input


def mouth_matrix(landmarks: np.ndarray, size: int) -> np.ndarray:
    """``(2, 3)`` affine: image pixels -> pixels of the ``size`` mouth crop of a face at ``landmarks``."""
    lm = np.asarray(landmarks, np.float64)
    _, axis, iod = face_frame(lm)
    centre = lm[48:68].mean(0) + np.array([-axis[1], axis[0]]) * MOUTH_DROP * iod
    s = size / (MOUTH_SIDE * iod)
    rot = np.array([[axis[0], axis[1]], [-axis[1], axis[0]]]) * s  # eye axis -> +x
    return np.concatenate([rot, (size / 2 - rot @ centre)[:, None]], 1)


def to_crop(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    return np.asarray(points, np.float64) @ matrix[:, :2].T + matrix[:, 2]


def mouth_opening(shapes: np.ndarray) -> np.ndarray:
    """``(N,)`` the gap between the inner lips of face-frame shapes ``(N, 68, 2)`` (inter-ocular
    distances)."""
    return np.mean([shapes[:, b, 1] - shapes[:, a, 1] for a, b in INNER_PAIRS], axis=0)


def interior_mask(points: np.ndarray, size: int | tuple[int, int], grow: float = 0.0) -> np.ndarray:
    """``(size, size)`` (or ``size`` = ``(h, w)``) float mask of the polygon ``points`` ``(P, 2)``
    (pixels; e.g. the inner lips, 60-67), filled at quarter-pixel precision and grown by ``grow``
    pixels."""
    m = np.zeros((size, size) if np.isscalar(size) else tuple(size), np.uint8)
    cv2.fillPoly(m, [np.round(np.asarray(points) * 4).astype(np.int32)], 1, lineType=cv2.LINE_8, shift=2)
    if grow > 0:
        r = int(np.ceil(grow))
        m = cv2.dilate(m, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    return m.astype(np.float32)


def model_input(crop: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """The mouth crop (uint8 RGB) with the ``hole`` mask painted in :data:`HOLE`."""
    out = crop.copy()
    out[hole > 0.5] = HOLE
    return out
