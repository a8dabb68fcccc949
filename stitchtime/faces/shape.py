"""Landmark shapes in the *face frame*: the eye midpoint at the origin, the eyes along +x (y points
down, as in the image) and the inter-ocular distance (IOD) as the unit. Shapes of different faces,
sizes and head rolls compare there; displacements there carry over to any face.

Convention: landmarks ``(..., 68, 2)`` in dlib's 68-point order, ``(x, y)`` pixels.
"""

from __future__ import annotations

import numpy as np

LEFT_EYE, RIGHT_EYE = np.r_[36:42], np.r_[42:48]
CORNERS = (48, 54)  # the mouth's outer corners


def face_frame(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For ``(..., 68, 2)`` landmarks: the eye midpoint ``(..., 2)``, the unit eye axis ``(..., 2)``
    and the inter-ocular distance ``(...)``."""
    left, right = landmarks[..., LEFT_EYE, :].mean(-2), landmarks[..., RIGHT_EYE, :].mean(-2)
    axis = right - left
    iod = np.linalg.norm(axis, axis=-1)
    return (left + right) / 2, axis / np.maximum(iod, 1e-6)[..., None], iod


def in_frame(points: np.ndarray, centre: np.ndarray, axis: np.ndarray, iod: np.ndarray) -> np.ndarray:
    """``(..., P, 2)`` pixel points in the face frame given by :func:`face_frame`'s outputs."""
    rel = points - centre[..., None, :]
    x = (rel * axis[..., None, :]).sum(-1)
    y = rel[..., 1] * axis[..., None, 0] - rel[..., 0] * axis[..., None, 1]
    return np.stack([x, y], -1) / iod[..., None, None]


def normalise(landmarks: np.ndarray) -> np.ndarray:
    """``(..., 68, 2)`` landmarks in their own face frame (eye midpoint 0, eyes along +x, IOD 1)."""
    return in_frame(landmarks, *face_frame(landmarks))


def to_frame_vectors(vectors: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """Face-frame displacement vectors ``(..., 68, 2)`` as pixel vectors for faces at ``landmarks``."""
    _, axis, iod = face_frame(landmarks)
    ax, ay = axis[..., None, 0], axis[..., None, 1]
    vx, vy = vectors[..., 0], vectors[..., 1]
    return np.stack([vx * ax - vy * ay, vx * ay + vy * ax], -1) * iod[..., None, None]


def mouth_change(original: np.ndarray, edited: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """How the mouth of ``edited`` landmarks differs from ``original`` ones (``(N, 68, 2)``, the
    same faces), in the original's face frame: the lift of the corners (mean of both, up is
    positive) and the change of the mouth's width (corner to corner), each ``(N,)`` in IODs."""
    frame = face_frame(original)
    a, b = in_frame(original, *frame), in_frame(edited, *frame)
    lift = -((b[:, CORNERS[0], 1] - a[:, CORNERS[0], 1]) + (b[:, CORNERS[1], 1] - a[:, CORNERS[1], 1])) / 2
    width = (b[:, CORNERS[1], 0] - b[:, CORNERS[0], 0]) - (a[:, CORNERS[1], 0] - a[:, CORNERS[0], 0])
    return lift, width
