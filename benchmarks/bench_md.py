"""Write one ``## Section`` of BENCHMARKS.md in place (the benchmark scripts' shared writer)."""

from __future__ import annotations

import re
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "BENCHMARKS.md"


def write_section(section: str, text: str, path: Path = BENCHMARKS) -> None:
    """Replace the section headed ``section`` (up to the next ``## ``) with ``text``, or append it."""
    old = path.read_text() if path.exists() else "# Benchmarks\n"
    pattern = re.compile(re.escape(section) + r".*?(?=\n## |\Z)", re.S)
    path.write_text(pattern.sub(lambda _: text.strip() + "\n", old) if section in old else old.rstrip() + "\n\n" + text)


def judged_cell(judge, out, ref, column: int, target: float) -> str:
    """One table cell of the model-space edit benchmarks: the share of edited images ``out``
    (``[-1, 1]``) the judge classifier reads as having ``target`` (0/1) in ``column``, and their
    mean PSNR against ``ref``."""
    import torch

    seen = ((judge.predict(out)[:, column] > 0.5).float() == target).float().mean()
    psnr = (10 * torch.log10(4.0 / ((out - ref) ** 2).mean(dim=(1, 2, 3)).clamp_min(1e-10))).mean()
    return f"{float(seen):.2f} ({float(psnr):.0f} dB)"
