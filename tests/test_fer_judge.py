"""The independent judge of the benchmarks (FER2013 network, never trained on CelebA) tells CelebA's
smiling faces from the others, and the realism benchmark's KID tells sets apart."""

from __future__ import annotations

import cv2
import numpy as np

from benchmarks.fer_judge import FerJudge, face_input, fer_box
from benchmarks.realism import kid


def _celeba_test_faces(celeba_dir, n_each: int = 30):
    """The judge's inputs for the first ``n_each`` smiling and not smiling test faces (dlib detects
    them here: the benchmarks' landmark cache is not in a fresh clone)."""
    from pipelines.prepare_data import read_attributes, read_partition
    from stitchtime.config import DetectConfig
    from stitchtime.faces.detect import make_backend

    names, table = read_attributes(celeba_dir)
    split = read_partition(celeba_dir)
    col = names.index("Smiling")
    backend = make_backend(DetectConfig(upsample=0))
    picked: dict[bool, list] = {True: [], False: []}
    for name, values in table.items():
        smiling = bool(values[col])
        path = celeba_dir / "img_align_celeba" / name
        if split.get(name) != "test" or len(picked[smiling]) >= n_each or not path.exists():
            continue
        rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        faces = backend.detect(rgb)
        if faces:
            picked[smiling].append(face_input(rgb, fer_box(faces[0].landmarks)))
        if all(len(v) >= n_each for v in picked.values()):
            break
    return np.stack(picked[True]), np.stack(picked[False])


def test_the_judge_reads_smiles_on_celeba_and_its_features_separate_them(celeba_dir):
    from sklearn.metrics import roc_auc_score

    smiling, other = _celeba_test_faces(celeba_dir)
    judge = FerJudge()
    p = judge.probs(np.concatenate([smiling, other]))
    assert p.shape == (len(smiling) + len(other), 7)
    np.testing.assert_allclose(p.sum(1), 1.0, atol=1e-3)
    happy = p[:, 3]
    labels = np.r_[np.ones(len(smiling)), np.zeros(len(other))]
    assert roc_auc_score(labels, happy) > 0.85
    f_s, f_o = judge.features(smiling), judge.features(other)
    assert f_s.shape == (len(smiling), 128)
    half = len(f_s) // 2
    assert kid(f_s[:half], f_o[:half]) > kid(f_s[:half], f_s[half:])  # apart across, close within
