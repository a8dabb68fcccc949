"""Linear attribute directions in a latent space (InterFaceGAN): one logistic regression per
attribute on labelled latents; the edit is ``z + s * step * n`` with ``n`` the unit normal of
the decision boundary and ``step`` the distance between the class means along ``n`` (so
strength 1 moves a typical face without the attribute to a typical face with it).

Stored as safetensors: ``normals`` ``(C, D)``, ``steps`` ``(C,)`` and the attribute names
in the metadata.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from stitchtime.errors import ModelError


@dataclass
class Directions:
    names: list[str]
    normals: np.ndarray  # (C, D) unit vectors
    steps: np.ndarray  # (C,) class-mean distance along each normal
    accuracy: np.ndarray  # (C,) held-out accuracy of the linear classifier

    def shift(self, name: str, strength: float) -> np.ndarray:
        k = self.names.index(name)
        return (strength * self.steps[k] * self.normals[k]).astype(np.float32)

    def save(self, path: Path) -> None:
        tensors = {
            "normals": torch.from_numpy(self.normals.astype(np.float32)),
            "steps": torch.from_numpy(self.steps.astype(np.float32)),
            "accuracy": torch.from_numpy(self.accuracy.astype(np.float32)),
        }
        save_file(tensors, str(path), metadata={"names": json.dumps(self.names), "format": "stitchtime-directions"})

    @classmethod
    def load(cls, path: Path) -> "Directions":
        try:
            from safetensors import safe_open

            with safe_open(str(path), framework="pt") as f:
                meta = f.metadata() or {}
            t = load_file(str(path))
            return cls(json.loads(meta["names"]), t["normals"].numpy(), t["steps"].numpy(), t["accuracy"].numpy())
        except Exception as err:  # noqa: BLE001 - any unreadable file is the same user error
            raise ModelError(f"{path}: not a directions file ({type(err).__name__})") from None


def fit_directions(latents: np.ndarray, labels: np.ndarray, names: list[str], seed: int = 0) -> Directions:
    """Fit one L2-regularised logistic regression per attribute column of ``labels`` (0/1)."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(seed)
    order = rng.permutation(len(latents))
    cut = int(0.8 * len(order))
    tr, va = order[:cut], order[cut:]
    normals, steps, accs = [], [], []
    for k in range(labels.shape[1]):
        y = labels[:, k]
        clf = LogisticRegression(C=1.0, max_iter=500, class_weight="balanced")
        clf.fit(latents[tr], y[tr])
        n = clf.coef_[0] / np.linalg.norm(clf.coef_[0])
        proj = latents @ n
        pos, neg = proj[y > 0.5], proj[y < 0.5]
        steps.append(float(pos.mean() - neg.mean()) if len(pos) and len(neg) else 1.0)
        normals.append(n)
        accs.append(float(clf.score(latents[va], y[va])))
    return Directions(list(names), np.stack(normals), np.array(steps), np.array(accs))
