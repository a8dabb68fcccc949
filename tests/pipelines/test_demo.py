"""The demo script says what each default edit changed and where to look."""

from __future__ import annotations

import sys

import pytest

from pipelines import demo


@pytest.mark.parametrize(
    ("attr", "strength", "said"),
    [
        ("lipstick", "1", "the colour of the lips (look"),
        ("makeup", "1", "the colour of the lips and lash lines (look"),
        ("glasses", "1", "glasses, drawn over the eyes"),
        ("gray_hair", "1", "the hair's colour"),
    ],
)
def test_the_demo_says_what_changed(tmp_path, monkeypatch, capsys, attr, strength, said):
    monkeypatch.setattr(sys, "argv", ["demo", "-o", str(tmp_path), "--attr", attr, "--strength", strength])
    assert demo.main() == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith("what changed:"))
    assert said in line
