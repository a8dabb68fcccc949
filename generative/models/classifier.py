"""A small multi-label image classifier (e.g. CelebA attributes).

Used to label images for conditional models (which attribute vector does this
image have?) and to measure conditional models (does the requested attribute
appear?). Convention: images ``(B, 3, S, S)`` in ``[-1, 1]``; ``cond`` targets
``(B, n_cond)`` in ``{0, 1}`` ordered as ``config.cond_names``; ``predict``
returns probabilities in the same order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from generative.training.family import DataKind, FamilyBase, StepOutput, eval_mode, settle_cond_names


@dataclass
class ClassifierConfig:
    image_size: int = 64
    channels: tuple[int, ...] = (32, 64, 128, 256)  # one stride-2 stage each
    lr: float = 1e-3
    weight_decay: float = 1e-4
    cond_names: list[str] = field(default_factory=lambda: ["Smiling"])
    n_cond: int = 0  # 0: len(cond_names)

    def __post_init__(self) -> None:
        settle_cond_names(self)


def _stage(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class AttributeClassifierFamily(FamilyBase):
    """Conv net + global average pool + one logit per attribute (binary cross-entropy)."""

    Config = ClassifierConfig
    family = "classifier"
    data = DataKind.attributes

    def __init__(self, config: ClassifierConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or self.Config()
        chans = (3, *config.channels)
        self.features = nn.Sequential(*[_stage(a, b) for a, b in zip(chans[:-1], chans[1:])])
        self.head = nn.Linear(chans[-1], config.n_cond)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"images must be (B, 3, H, W), got {tuple(x.shape)}")
        return self.head(self.features(x).mean(dim=(2, 3)))

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Attribute probabilities ``(B, n_cond)``."""
        with eval_mode(self):
            return torch.sigmoid(self.logits(x))

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"model": torch.optim.AdamW(self.parameters(), lr=self.config.lr, weight_decay=self.config.weight_decay)}

    def training_step(self, batch: dict[str, torch.Tensor], optimizers: dict[str, torch.optim.Optimizer]) -> StepOutput:
        x, y = batch["image"], batch["cond"].float()
        logits = self.logits(x)
        loss = F.binary_cross_entropy_with_logits(logits, y)
        opt = optimizers["model"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        acc = ((logits > 0).float() == y).float().mean()
        return StepOutput(losses={"loss": loss.item(), "acc": acc.item()}, n_images=x.shape[0])

    @torch.no_grad()
    def sample_grid(self, batch: dict[str, torch.Tensor], n: int) -> torch.Tensor:
        return batch["image"][:n].clamp(-1, 1)

    def sample(self, n: int, cond: torch.Tensor | None = None, **kwargs: Any) -> torch.Tensor:
        raise NotImplementedError("a classifier does not generate images; use predict()")
