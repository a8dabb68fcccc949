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
