"""Write one ``## Section`` of BENCHMARKS.md in place (the benchmark scripts' shared writer)."""

from __future__ import annotations

import re
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "BENCHMARKS.md"


# A line in a section after which the text is written by hand (what the numbers say, what a person
# sees): a rewrite of the section's table keeps it
KEEP = "<!-- written by hand: kept when the table above is rewritten -->"


def write_section(section: str, text: str, path: Path = BENCHMARKS) -> None:
    """Replace the section headed ``section`` (up to the next ``## ``) with ``text``, or append it;
    what follows a :data:`KEEP` line in the old section is kept after ``text``."""
    old = path.read_text() if path.exists() else "# Benchmarks\n"
    pattern = re.compile(re.escape(section) + r".*?(?=\n## |\Z)", re.S)
    found = pattern.search(old) if section in old else None
    if found is None:
        path.write_text(old.rstrip() + "\n\n" + text)
        return
    kept = found.group(0).partition(KEEP)[2] if KEEP in found.group(0) else None
    new = text.strip() + "\n" + ("" if kept is None else f"\n{KEEP}\n{kept.strip()}\n")
    path.write_text(old[: found.start()] + new + old[found.end() :])


def write_clip_table(section: str, script: str, argv: list[str], frames: int, table: str) -> None:
    """:func:`write_section` for a table of the shared clips' first ``frames`` frames made by
    ``benchmarks/<script>`` run with ``argv``."""
    text = (
        f"{section}\n\nCommand: `.venv/bin/python benchmarks/{script} {' '.join(argv)}` (first {frames} frames "
        "of each clip; 2 cores; see the script for what each column measures).\n\n" + table + "\n"
    )
    write_section(section, text)


def judged_cell(judge, out, ref, column: int, target: float) -> str:
    """One table cell of the model-space edit benchmarks: the share of edited images ``out``
    (``[-1, 1]``) the judge classifier reads as having ``target`` (0/1) in ``column``, and their
    mean PSNR against ``ref``."""
    import torch

    seen = ((judge.predict(out)[:, column] > 0.5).float() == target).float().mean()
    psnr = (10 * torch.log10(4.0 / ((out - ref) ** 2).mean(dim=(1, 2, 3)).clamp_min(1e-10))).mean()
    return f"{float(seen):.2f} ({float(psnr):.0f} dB)"
