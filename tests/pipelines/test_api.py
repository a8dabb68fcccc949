"""The Python API (`from stitchtime import edit_file, batch_folder, list_attributes`): the same
results and the same exception types as the CLI."""

from __future__ import annotations

import pytest

import stitchtime
from stitchtime.errors import InputError
from tests.pipelines.test_batch import _complete, folder  # noqa: F401 (the folder fixture)


def test_edit_file_returns_a_typed_result_and_raises_the_clis_errors(folder, tmp_path):
    from stitchtime import edit_file

    out = tmp_path / "o.mp4"
    result = edit_file(folder / "a.mp4", out, attr="smile", strength=-1)
    assert (
        result.status == "done"
        and result.output == str(out)
        and result.frames == 25
        and _complete(folder / "a.mp4", out)
    )
    with pytest.raises(InputError, match="already exists"):
        edit_file(folder / "a.mp4", out, attr="smile")
    with pytest.raises(InputError, match="experimental"):
        edit_file(folder / "a.mp4", tmp_path / "p.mp4", attr="age")
    assert InputError.exit_code == 2


def test_batch_folder_and_list_attributes(folder, tmp_path):
    results = stitchtime.batch_folder(folder, tmp_path / "out", attr="none")
    assert sorted(r.status for r in results) == ["done"] * 4 and all(r.output for r in results)
    names = [a["name"] for a in stitchtime.list_attributes()]
    assert names == ["smile", "glasses", "blond_hair", "gray_hair", "mouth_open", "makeup", "lipstick"]
    assert "age" in [a["name"] for a in stitchtime.list_attributes(experimental=True)]
    with pytest.raises(AttributeError):
        stitchtime.no_such_function  # noqa: B018
