"""CLI conventions: -h and --version, one-line usage errors, help on every option, the same edit
options on `edit` and `batch`, old spellings still accepted, options checked before any work."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from cli import app

runner = CliRunner()


def _commands(group, path=()):
    for name, cmd in group.commands.items():
        if hasattr(cmd, "commands"):
            yield from _commands(cmd, (*path, name))
        else:
            yield (*path, name), cmd


COMMANDS = list(_commands(typer.main.get_command(app)))


def test_version_and_short_help():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout.startswith("stitchtime ")
    assert runner.invoke(app, ["-h"]).exit_code == 0
    for path, _ in COMMANDS:
        result = runner.invoke(app, [*path, "-h"])
        assert result.exit_code == 0 and "Usage" in result.stdout, path


@pytest.mark.parametrize("path,cmd", COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_every_option_has_help(path, cmd):
    assert cmd.help, path
    for param in cmd.params:
        if not getattr(param, "hidden", False) and param.name != "help":
            assert getattr(param, "help", None), f"{' '.join(path)}: {param.name} has no help"


def test_every_writing_command_takes_dash_o():
    for path, cmd in COMMANDS:
        if path[0] in ("attrs", "batch", "ui"):  # attrs and ui write no file; batch takes IN_DIR OUT_DIR, like cp
            continue
        opts = {o for p in cmd.params for o in getattr(p, "opts", [])}
        assert {"-o", "--output"} <= opts, path


def test_batch_takes_every_edit_option():
    cmds = dict(COMMANDS)
    names = lambda c: {o for p in c.params for o in getattr(p, "opts", []) if o.startswith("--")}
    own_edit = {"--output"}
    assert names(cmds[("edit",)]) - own_edit <= names(cmds[("batch",)])


@pytest.mark.parametrize(
    "args,needle",
    [
        (["edit", "in.mp4", "-o", "o.mp4", "--attr", "smile", "--method", "bogus"], "--method"),
        (["edit", "in.mp4", "-o", "o.mp4", "--attr", "smile", "--preset", "bogus"], "--preset"),
        (["edit", "in.mp4", "-o", "o.mp4", "--attr", "smile", "--device", "tpu"], "--device"),
        (["edit", "in.mp4", "-o", "o.mp4", "--attr", "smile", "--blend", "mix"], "--blend"),
        (["edit", "in.mp4", "--attr", "smile"], "--output"),
        (["batch", "a", "b", "--attr", "smile", "--detector", "hog"], "--detector"),
        (["edit", "in.mp4", "-o", "o.mp4", "--attr", "smile", "--bogus"], "--bogus"),
        (["edit", "in.mp4", "-o", "o.mp4", "--attr", "smile", "--strength", "nan"], "--strength"),
        (["edit", "in.mp4", "-o", "o.mp4", "--attr", "smile", "--strength", "inf"], "--strength"),
        (["edit", "in.mp4", "-o", "o.mp4", "--attr", "smile", "--sigma-center", "nan"], "--sigma-center"),
        (["edit", "in.mp4", "-o", "o.mp4", "--attr", "smile", "--latent-sigma", "inf"], "--latent-sigma"),
        (["edit", "in.mp4", "-o", "o.mp4", "--attr", "smile", "--crop-size", "100000"], "--crop-size"),
        (["batch", "a", "b", "--attr", "smile", "--strength", "nan"], "--strength"),
    ],
)
def test_bad_options_are_one_line_before_any_work(tmp_path, args, needle):
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("stitchtime: error:") and needle in lines[0], result.stderr


def test_unavailable_device_is_one_line(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    args = ["edit", "in.mp4", "-o", str(tmp_path / "o.mp4"), "--attr", "smile", "--device", "cuda"]
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and "no usable CUDA" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o.mp4").exists()


def test_sample_keeps_its_old_count_spelling():
    cmd = dict(COMMANDS)[("sample",)]
    number = next(p for p in cmd.params if p.name == "n")
    old = next(p for p in cmd.params if p.name == "n_old")
    assert "-n" in number.opts and "--number" in number.opts and old.hidden and old.opts == ["--n"]


def test_train_takes_dash_o_and_the_old_out(tmp_path):
    # both spellings reach the same check (the config is validated before any data is read)
    for flag in ("-o", "--out"):
        args = ["train", "vae", "--data", str(tmp_path), "--steps", "1", flag, str(tmp_path / "r"), "--set", "nope=1"]
        result = runner.invoke(app, args)
        assert result.exit_code == 2 and "unknown field 'nope'" in result.stderr, (flag, result.stderr)
    result = runner.invoke(app, ["train", "vae", "--data", str(tmp_path), "--steps", "1"])
    assert result.exit_code == 2 and "-o/--output" in result.stderr


def test_experimental_edits_need_the_flag_and_attrs_says_why(tmp_path):
    out = tmp_path / "o.mp4"
    result = runner.invoke(app, ["edit", "in.mp4", "-o", str(out), "--attr", "age"])
    line = result.stderr.strip()
    assert result.exit_code == 2 and len(line.splitlines()) == 1 and "experimental" in line and "--experimental" in line
    result = runner.invoke(app, ["edit", "in.mp4", "-o", str(out), "--attr", "smile", "--method", "diffusion"])
    assert result.exit_code == 2 and "experimental" in result.stderr  # the latent smile is; the geometry one is not
    assert not out.exists()
    listed = runner.invoke(app, ["attrs"]).stdout.splitlines()
    assert [ln.split()[0] for ln in listed[:2]] == ["none", "smile"] and "experimental in this release" in listed[-1]
    full = runner.invoke(app, ["attrs", "--experimental"]).stdout
    assert "age " in full and "experimental: a grey, blotchy lower face" in full


def test_json_output_for_scripts(tmp_path):
    import json

    from pipelines.synth import make_astronaut_clip

    clip = make_astronaut_clip(tmp_path / "a.mp4", seconds=0.6, size=(192, 192))
    out = tmp_path / "o.mp4"
    result = runner.invoke(app, ["edit", str(clip), "-o", str(out), "--attr", "none", "-q", "--json"])
    record = json.loads(result.stdout)
    assert result.exit_code == 0 and record["output"] == str(out) and record["frames"] == 15
    assert set(record) == {"output", "frames", "face_frames", "seconds", "notes", "preview"}
    again = runner.invoke(app, ["edit", str(clip), "-o", str(out), "--attr", "none", "-q", "--json"])
    assert again.exit_code == 2 and json.loads(again.stdout) == {
        "error": f"{out}: already exists (use --overwrite to replace it)",
        "exit_code": 2,
    }
    names = [a["name"] for a in json.loads(runner.invoke(app, ["attrs", "--json"]).stdout)]
    assert names == ["none", "smile", "glasses", "blond_hair", "gray_hair", "mouth_open", "makeup", "lipstick"]
    metrics = json.loads(runner.invoke(app, ["evaluate", str(clip), str(out), "--json", "-", "-q"]).stdout)
    assert metrics["integrity"]["ok"] and metrics["n_frames"] == 15
    folder = tmp_path / "in"
    folder.mkdir()
    clip.rename(folder / "a.mp4")
    lines = runner.invoke(app, ["batch", str(folder), str(tmp_path / "b"), "--attr", "none", "-q", "--json"])
    events = [json.loads(ln) for ln in lines.stdout.splitlines()]
    assert [e["event"] for e in events] == ["file", "summary"] and events[0]["status"] == "done"
    assert events[1]["done"] == 1 and events[1]["failed"] == 0
