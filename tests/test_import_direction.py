"""Imports point one way: cli -> commands -> pipelines -> stitchtime -> generative."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# The stitchtime package's __init__ re-exports the public API of pipelines/api.py (lazily).
FACADES = {REPO / "stitchtime" / "__init__.py"}

# package -> packages it must never import
FORBIDDEN = {
    "generative": {"stitchtime", "pipelines", "commands", "cli"},
    "stitchtime": {"pipelines", "commands", "cli"},
    "pipelines": {"commands", "cli"},
}


def _imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_imports_point_one_way():
    bad = []
    for package, forbidden in FORBIDDEN.items():
        files = sorted((REPO / package).rglob("*.py"))
        assert files, f"package {package} has no python files"
        for path in files:
            hits = _imported_roots(path) & forbidden - ({"pipelines"} if path in FACADES else set())
            if hits:
                bad.append(f"{path.relative_to(REPO)} imports {sorted(hits)}")
    assert not bad, "\n".join(bad)


def test_checker_catches_a_bad_import(tmp_path):
    bad = tmp_path / "x.py"
    bad.write_text("from stitchtime.types import VideoMeta\nimport pipelines.demo\n")
    assert _imported_roots(bad) >= {"stitchtime", "pipelines"}
