"""Face detector + 68-point landmark backends behind one base class.

Backends (chosen by :class:`stitchtime.config.DetectorBackend`):

* ``dlib`` (default, works offline): dlib's HOG frontal face detector and the
  68-point shape predictor shipped by ``face-recognition-models``. Full-frame
  detection runs on a copy downscaled to ``DetectConfig.max_side``; tracking
  re-detects only in a small window around the previous face (a few ms).
* ``face-alignment``: Bulat's FAN landmarks with the SFD detector, for users who
  have its weights in torch's hub cache. Missing package or weights give one
  clear :class:`BackendError` naming the fix; nothing is downloaded.

Convention: frames are uint8 RGB ``(H, W, 3)``; boxes ``(x0, y0, x1, y1)`` and
landmarks ``(68, 2)`` as ``(x, y)`` in full-frame pixel units.
"""

from __future__ import annotations

import importlib.util
from abc import ABC, abstractmethod
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from stitchtime.config import DetectConfig, DetectorBackend
from stitchtime.errors import BackendError
from stitchtime.types import FaceObservation

# HOG's template is 80x80: a window is scaled so the tracked face is about this big.
_LOCAL_FACE_PX = 100
# The local search window spans this many face widths around the previous face.
_LOCAL_WINDOW = 2.2
# FaceBackend.landmarks_in_box's default takes a detected face as the one in the box from this IoU
# (the tracker's rule for in-window candidates).
_IN_BOX_IOU = 0.3


def _model_dir() -> Path:
    """Where ``face-recognition-models`` keeps its dlib model files (no import of the package:
    its ``__init__`` needs ``pkg_resources``)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise BackendError("the dlib model files are missing: pip install face-recognition-models")
    return Path(list(spec.submodule_search_locations)[0]) / "models"


# dlib's own chip geometry for its identity network (compute_face_descriptor(img, shape) crops the
# same chip internally; the descriptors are identical)
DESCRIPTOR_CHIP = 150
DESCRIPTOR_PADDING = 0.25


@lru_cache(maxsize=None)
def _dlib_models():
    import dlib

    models = _model_dir()
    predictor_path = models / "shape_predictor_68_face_landmarks.dat"
    if not predictor_path.exists():
        raise BackendError(f"dlib landmark model not found at {predictor_path}: reinstall face-recognition-models")
    return dlib.get_frontal_face_detector(), dlib.shape_predictor(str(predictor_path))


@lru_cache(maxsize=None)
def _dlib_face_encoder():
    import dlib

    path = _model_dir() / "dlib_face_recognition_resnet_model_v1.dat"
    if not path.exists():
        raise BackendError(f"dlib identity model not found at {path}: reinstall face-recognition-models")
    return dlib.face_recognition_model_v1(str(path))


def box_from_landmarks(landmarks: np.ndarray) -> np.ndarray:
    """Tight box of the landmarks, ``(x0, y0, x1, y1)``."""
    lo = landmarks.min(axis=0)
    hi = landmarks.max(axis=0)
    return np.array([lo[0], lo[1], hi[0], hi[1]], dtype=np.float32)


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


class FaceBackend(ABC):
    """Detects faces and their 68 landmarks in a frame.

    A backend must implement only :meth:`detect`; every other method the tracker calls has a
    working default built on it. A backend with a landmark predictor that runs without a detector
    overrides :meth:`landmarks_in_box` and sets ``cheap_landmarks``.
    """

    name: str = "base"
    # True when landmarks_in_box is much cheaper than detect_near (a predictor, no detector): the
    # tracker then follows the face by landmarks alone between window detections.
    cheap_landmarks: bool = False

    def __init__(self, config: DetectConfig = DetectConfig()):
        self.config = config

    @abstractmethod
    def detect(self, frame: np.ndarray) -> list[FaceObservation]:
        """All faces in the whole frame, largest first."""

    def detect_near(self, frame: np.ndarray, box: np.ndarray) -> list[FaceObservation]:
        """Faces in a window around ``box`` (previous position). Default: whole frame."""
        return self.detect(frame)

    def landmarks_in_box(self, frame: np.ndarray, box: np.ndarray) -> np.ndarray | None:
        """68 landmarks for a face known to be inside ``box``, or None when there is none.

        Default (a detect-only backend): the landmarks of the face :meth:`detect_near` finds
        overlapping ``box`` most (IoU at least ``_IN_BOX_IOU``), so None when no face is there.
        """
        box = np.asarray(box, np.float32)
        best = max(self.detect_near(frame, box), key=lambda f: box_iou(f.box, box), default=None)
        if best is None or box_iou(best.box, box) < _IN_BOX_IOU:
            return None
        return np.asarray(best.landmarks, np.float32)

    def descriptor(self, frame: np.ndarray, face: FaceObservation) -> np.ndarray | None:
        """A 128-D identity descriptor (dlib), or None when unavailable."""
        return face_descriptor(frame, face.landmarks)


def load_descriptor_network() -> None:
    """Load dlib's identity network now (it is kept): before forking workers that use it."""
    _dlib_face_encoder()


def face_descriptor(frame: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """dlib's 128-D identity descriptor for the face with these 68 landmarks (L2 distance
    below ~0.6 means the same person)."""
    return chip_descriptor(face_chip(frame, landmarks))


def face_chip(frame: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """The 150 px aligned face chip dlib's identity network reads (a cheap warp; the network is
    the expensive part, so chips are what goes to worker processes)."""
    import dlib

    rect = dlib.rectangle(*[int(round(v)) for v in box_from_landmarks(landmarks)])
    parts = [dlib.point(int(round(x)), int(round(y))) for x, y in landmarks]
    shape = dlib.full_object_detection(rect, parts)
    return dlib.get_face_chip(np.ascontiguousarray(frame), shape, size=DESCRIPTOR_CHIP, padding=DESCRIPTOR_PADDING)


def chip_descriptor(chip: np.ndarray) -> np.ndarray:
    """:func:`face_descriptor` of a :func:`face_chip` (about 0.12 s on one core; dlib holds the GIL)."""
    return np.asarray(_dlib_face_encoder().compute_face_descriptor(chip), dtype=np.float32)


class DlibBackend(FaceBackend):
    """dlib HOG detector + 68-point shape predictor (offline default)."""

    name = "dlib"
    cheap_landmarks = True  # the 68-point predictor alone: ~1 ms, vs a few ms for a window detection

    def __init__(self, config: DetectConfig = DetectConfig()):
        super().__init__(config)
        self._detector, self._predictor = _dlib_models()

    def _landmarks(self, gray: np.ndarray, box: np.ndarray) -> np.ndarray:
        import dlib

        rect = dlib.rectangle(*[int(round(v)) for v in box])
        shape = self._predictor(gray, rect)
        return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)

    def landmarks_in_box(self, frame: np.ndarray, box: np.ndarray) -> np.ndarray:
        """68 landmarks for a face known to be inside ``box`` (no detection; never None)."""
        return self._landmarks(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), np.asarray(box, np.float32))

    def _run(self, gray: np.ndarray, upsample: int) -> list[tuple[np.ndarray, float]]:
        rects, scores, _ = self._detector.run(gray, upsample, 0.0)
        return [
            (np.array([r.left(), r.top(), r.right(), r.bottom()], dtype=np.float32), float(s))
            for r, s in zip(rects, scores)
        ]

    def detect(self, frame: np.ndarray) -> list[FaceObservation]:
        gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        h, w = gray.shape
        scale = min(1.0, self.config.max_side / max(h, w))
        small = (
            cv2.resize(gray, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA) if scale < 1 else gray
        )
        found = self._run(small, 0)
        if not found and self.config.upsample > 0:  # small faces: retry on an upsampled pyramid
            found = self._run(small, self.config.upsample)
        faces = []
        for box, score in found:
            box = box / scale
            faces.append(FaceObservation(box=box, landmarks=self._landmarks(gray, box), score=score))
        faces.sort(key=lambda f: -(f.box[2] - f.box[0]) * (f.box[3] - f.box[1]))
        return faces

    def detect_near(self, frame: np.ndarray, box: np.ndarray) -> list[FaceObservation]:
        gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        h, w = gray.shape
        size = max(box[2] - box[0], box[3] - box[1])
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        half = size * _LOCAL_WINDOW / 2
        x0, y0 = int(max(0, cx - half)), int(max(0, cy - half))
        x1, y1 = int(min(w, cx + half)), int(min(h, cy + half))
        if x1 - x0 < 8 or y1 - y0 < 8:
            return []
        scale = _LOCAL_FACE_PX / max(size, 1.0)
        window = gray[y0:y1, x0:x1]
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        window = cv2.resize(
            window, (max(1, round((x1 - x0) * scale)), max(1, round((y1 - y0) * scale))), interpolation=interp
        )
        faces = []
        for b, score in self._run(window, 0):
            full = b / scale + np.array([x0, y0, x0, y0], dtype=np.float32)
            faces.append(FaceObservation(box=full, landmarks=self._landmarks(gray, full), score=score))
        return faces


class FaceAlignmentBackend(FaceBackend):
    """face-alignment (FAN + SFD). Needs the package and its weights already in torch's hub cache."""

    name = "face-alignment"
    # File name prefixes face-alignment stores in <torch hub>/checkpoints.
    _WEIGHT_PREFIXES = ("2DFAN4", "s3fd")

    def __init__(self, config: DetectConfig = DetectConfig()):
        super().__init__(config)
        if importlib.util.find_spec("face_alignment") is None:
            raise BackendError(
                "the face-alignment backend is not installed: "
                "pip install 'stitchtime[face-alignment]' (or use --detector dlib)"
            )
        import torch

        ckpt_dir = Path(torch.hub.get_dir()) / "checkpoints"  # honours TORCH_HOME
        present = [p.name for p in ckpt_dir.glob("*")] if ckpt_dir.exists() else []
        missing = [pre for pre in self._WEIGHT_PREFIXES if not any(n.startswith(pre) for n in present)]
        if missing:
            raise BackendError(
                f"face-alignment weights ({', '.join(missing)}) not found in {ckpt_dir}: run face-alignment once "
                "on a machine with internet to cache them there, or use --detector dlib"
            )
        import face_alignment

        from generative.device import pick_device

        self._fa = face_alignment.FaceAlignment(
            face_alignment.LandmarksType.TWO_D, device=str(pick_device()), face_detector="sfd"
        )

    def detect(self, frame: np.ndarray) -> list[FaceObservation]:
        h, w = frame.shape[:2]
        scale = min(1.0, self.config.max_side / max(h, w))
        small = (
            cv2.resize(frame, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
            if scale < 1
            else frame
        )
        boxes = self._fa.face_detector.detect_from_image(small[..., ::-1].copy())
        faces = []
        for b in boxes:
            box = np.asarray(b[:4], dtype=np.float32) / scale
            lms = self._fa.get_landmarks_from_image(frame, detected_faces=[box.tolist()])
            if lms:
                faces.append(
                    FaceObservation(box=box, landmarks=np.asarray(lms[0][:, :2], np.float32), score=float(b[4]))
                )
        faces.sort(key=lambda f: -(f.box[2] - f.box[0]) * (f.box[3] - f.box[1]))
        return faces


_BACKENDS: dict[DetectorBackend, type[FaceBackend]] = {
    DetectorBackend.dlib: DlibBackend,
    DetectorBackend.face_alignment: FaceAlignmentBackend,
}


def make_backend(config: DetectConfig = DetectConfig()) -> FaceBackend:
    """The backend named by ``config.backend`` (DetectConfig has already refused unknown names)."""
    return _BACKENDS[DetectorBackend(config.backend)](config)
