"""The colour editor (lipstick, makeup): its fit, how far it goes, where it paints, the shipped model, and
a real clip edited through the CLI, measured on the lips and on the rest of the face."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from cli import app
from stitchtime.editors.attributes import ATTRIBUTES
from stitchtime.editors.colour import (
    EYES,
    INNER,
    OUTER,
    UPPER_LIDS,
    ColourEditor,
    ColourModel,
    _eye_outlines,
    fit_colour,
    liner_mask,
    lip_colour,
    lip_mask,
    load_colour,
    measure_regions,
    region_colours,
    to_lab,
)
from stitchtime.editors.contract import CropBatch
from stitchtime.editors.models import WEIGHTS_DIR
from stitchtime.editors.registry import make_editor
from stitchtime.errors import InputError, ModelError
from stitchtime.faces.mouth import interior_mask
from tests.conftest import SHARED_DATA, _need, shared_video
from tests.stitchtime.test_geometry import _landmarks

runner = CliRunner()


def _astronaut() -> np.ndarray:
    from skimage import data

    return np.ascontiguousarray(data.astronaut())


def test_the_fit_finds_a_planted_colour_change_and_its_range():
    rng = np.random.default_rng(0)
    label = rng.random(4000) < 0.7
    colours = rng.normal([-8.0, 8.0, -5.0], [8.0, 5.0, 5.0], (4000, 3))
    colours[label] += [-4.0, 5.0, 0.0]
    m = fit_colour(colours, label, "Wearing_Lipstick")
    np.testing.assert_allclose(m.shift, [-4.0, 5.0, 0.0], atol=0.6)
    on, off = m.level(colours[label]), m.level(colours[~label])
    assert m.ceiling == pytest.approx(np.quantile(on, 0.9)) and m.floor == pytest.approx(np.median(off))
    assert np.median(on) - np.median(off) == pytest.approx(1.0, abs=0.15)  # levels in units of the shift


def test_the_amount_stops_at_the_ceiling_and_minus_one_takes_the_lips_to_the_floor():
    m = ColourModel("Wearing_Lipstick", np.array([0.0, 5.0, 0.0]), ceiling=4.0, floor=1.0)
    bare, bold = np.array([0.0, 5.0, 0.0]), np.array([0.0, 18.0, 0.0])  # levels 1.0 and 3.6
    assert m.amount(1.0, bare, gain=2.0) == 2.0  # far below the ceiling: the whole strength
    assert m.amount(1.0, bold, gain=2.0) == pytest.approx(0.4)  # only up to the ceiling
    assert m.amount(1.0, np.array([0.0, 30.0, 0.0]), gain=2.0) == 0.0  # already past it: unchanged
    assert m.amount(-1.0, bold, gain=2.0) == pytest.approx(-2.6)  # -1: down to bare lips (level 1.0)
    assert m.amount(-0.5, bold, gain=2.0) == pytest.approx(-1.3) and m.amount(-3.0, bold) == pytest.approx(-2.6)
    assert m.amount(-1.0, bare) == 0.0  # bare lips: nothing to take away
    # unmeasured lips count as bare: the strength up to the ceiling's distance, nothing to take away
    assert m.amount(0.75, None, gain=2.0) == 1.5 and m.amount(5.0, None, gain=2.0) == 3.0
    assert m.amount(-1.0, None) == 0.0


def test_the_lips_colour_does_not_depend_on_the_faces_size():
    import cv2

    image, lm = _astronaut(), _landmarks()  # (her eyes are 43 px apart, about CelebA's 38)
    model = ColourModel.load_all(WEIGHTS_DIR / "colour")["Wearing_Lipstick"]["lips"]
    level = float(model.level(lip_colour(image, lm)))
    for f in (1.5, 2.0, 3.0):  # a video's face is usually larger than CelebA's: all measured at one scale
        scaled = cv2.resize(image, None, fx=f, fy=f, interpolation=cv2.INTER_CUBIC)
        assert float(model.level(lip_colour(scaled, (lm + 0.5) * f - 0.5))) == pytest.approx(level, abs=0.2)
    assert lip_colour(cv2.resize(image, (40, 40), interpolation=cv2.INTER_AREA), lm * 40 / 512) is None  # too small


def test_the_lip_mask_covers_the_lips_and_not_the_teeth_or_the_skin():
    lm = _landmarks()
    image = _astronaut()
    mask = lip_mask(lm, image.shape[:2])
    lips, skin = measure_regions(lm, image.shape[:2])
    assert mask[lips].mean() > 0.8  # (the soft edge reaches in a little)
    assert mask[skin].max() < 0.05
    y, x = np.round(lm[INNER].mean(0)).astype(int)[::-1]
    assert mask[y, x] < 0.01  # her smile's teeth
    far = np.ones(image.shape[:2], bool)
    x0, y0 = lm[OUTER].min(0) - 15
    x1, y1 = lm[OUTER].max(0) + 15
    far[int(y0) : int(y1), int(x0) : int(x1)] = False
    assert mask[far].max() == 0


def _astronaut_batch(editor: ColourEditor) -> CropBatch:
    lm = _landmarks()
    crops = torch.from_numpy(_astronaut().astype(np.float32)).permute(2, 0, 1)[None]
    batch = CropBatch(torch.arange(1), crops, torch.ones(1, 1, 512, 512), landmarks=torch.from_numpy(lm[None]).float())
    editor.fit(lambda: iter([batch]), 1)
    return batch


def test_the_editor_recolours_only_the_lips_the_way_the_model_says():
    model = ColourModel.load_all(WEIGHTS_DIR / "colour")["Wearing_Lipstick"]["lips"]
    editor = ColourEditor({"lips": model}, ATTRIBUTES["lipstick"], 1.0)
    batch = _astronaut_batch(editor)
    assert editor.colour is not None and editor.amount == pytest.approx(model.amount(1.0, editor.colour, 2.0))
    assert editor.amount > 0.5  # the astronaut's lips are far from the boldest lipsticks
    image = _astronaut()
    edited = editor.edited(batch)[0].permute(1, 2, 0).numpy()
    lm = _landmarks()
    lips, skin = measure_regions(lm, image.shape[:2])
    change = to_lab(edited)[lips].mean(0) - to_lab(image.astype(np.float32))[lips].mean(0)
    expected = editor.amount * model.shift
    np.testing.assert_allclose(change, expected, atol=0.25 * np.abs(expected).max())
    untouched = lip_mask(lm, image.shape[:2]) == 0
    assert np.abs(edited - image)[untouched].max() < 1e-3
    after = lip_colour(np.round(edited).astype(np.uint8), lm)
    assert model.level(after) > model.level(editor.colour) + 0.6 * editor.amount
    none = ColourEditor({"lips": model}, ATTRIBUTES["lipstick"], 0.0)
    assert not _delta(none).any() and not none.notes


def test_the_editor_says_when_it_has_nothing_to_change_or_could_not_measure():
    model = ColourModel.load_all(WEIGHTS_DIR / "colour")["Wearing_Lipstick"]["lips"]
    bold = ColourModel("Wearing_Lipstick", model.shift, ceiling=-5.0, floor=-6.0)  # her lips count as past it
    editor = ColourEditor({"lips": bold}, ATTRIBUTES["lipstick"], 1.0)
    assert not _delta(editor).any() and "0% of the asked change" in editor.notes[0]
    blind = ColourEditor({"lips": model}, ATTRIBUTES["lipstick"], -1.0)
    batch = _astronaut_batch(blind)
    batch.landmarks[:] = float("nan")  # no lips to measure
    blind.fit(lambda: iter([batch]), 1)
    assert blind.amount == 0 and "could not be measured" in blind.notes[0]
    bare = ColourModel("Wearing_Lipstick", model.shift, ceiling=9.0, floor=8.0)  # her lips count as bare
    minus = ColourEditor({"lips": bare}, ATTRIBUTES["lipstick"], -1.0)
    assert not _delta(minus).any() and "bare already" in minus.notes[0]


def _delta(editor):
    return editor.delta(_astronaut_batch(editor))


def test_minus_one_takes_the_colour_back_and_the_guard_scale_shrinks_it():
    model = ColourModel.load_all(WEIGHTS_DIR / "colour")["Wearing_Lipstick"]["lips"]
    bold = ColourModel("Wearing_Lipstick", model.shift, model.ceiling, floor=-5.0)  # her lips count as made up
    minus = ColourEditor({"lips": bold}, ATTRIBUTES["lipstick"], -1.0)
    full = _delta(minus)
    assert minus.amount == pytest.approx(-(bold.level(minus.colour) - bold.floor))  # to the floor
    lm = _landmarks()
    lips, _ = measure_regions(lm, (512, 512))
    image = _astronaut().astype(np.float32)
    after = to_lab(image + full[0].permute(1, 2, 0).numpy())[lips].mean(0) - to_lab(image)[lips].mean(0)
    assert after[1] < -0.8 * 5 * 4.5 and after[0] > 0.8 * 5 * 3  # less red, lighter, by more than 5 shifts
    half = minus.delta(_astronaut_batch(minus), scale=0.5)
    assert float(half.abs().sum()) == pytest.approx(0.5 * float(full.abs().sum()), rel=0.1)


def test_the_shipped_model_and_a_damaged_one(tmp_path):
    models = load_colour(WEIGHTS_DIR / "colour")
    assert models.attributes == ["Heavy_Makeup", "Wearing_Lipstick"]
    m = models.models["Wearing_Lipstick"]["lips"]
    assert m.shift[1] > 2 and m.shift[0] < 0  # redder and darker
    assert m.floor < m.ceiling
    ColourModel.save_all(models.models, tmp_path / "copy", {})
    again = ColourModel.load_all(tmp_path / "copy")["Wearing_Lipstick"]["lips"]
    np.testing.assert_allclose(again.shift, m.shift)
    assert again.ceiling == pytest.approx(m.ceiling) and again.floor == pytest.approx(m.floor)
    for broken in ({"shift": np.zeros(3)}, {"floor": m.ceiling + 1}):  # no change; a range upside down
        fields = {"attribute": "Wearing_Lipstick", "shift": m.shift, "ceiling": m.ceiling, "floor": m.floor}
        ColourModel.save_all(
            {"Wearing_Lipstick": {"lips": ColourModel(**{**fields, **broken})}}, tmp_path / "broken", {}
        )
        with pytest.raises(ModelError, match="not a colour change"):
            load_colour(tmp_path / "broken")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "config.json").write_text(json.dumps({"family": "colour", "cond_names": ["Wearing_Lipstick"]}))
    (tmp_path / "bad" / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ModelError, match="not a colour model"):
        make_editor("lipstick", 1.0, model=tmp_path / "bad")


def test_lipstick_is_offered_by_default_and_edits_by_colour():
    result = runner.invoke(app, ["attrs"])
    assert result.exit_code == 0
    line = next(x for x in result.output.splitlines() if x.startswith("lipstick"))
    assert "colour" in line and "experimental" not in line
    assert isinstance(make_editor("lipstick", 1.0), ColourEditor)


def test_lipstick_on_a_real_clip_reddens_the_lips_and_nothing_else(tmp_path):
    from benchmarks.edit_quality import cut
    from benchmarks.lipstick import colour_change
    from stitchtime.evaluate import evaluate

    # a woman talking, the teeth showing now and then, the lips far from the ceiling
    src = cut(shared_video("retalking_face_4.mp4"), tmp_path / "rf4.mp4", 48)
    out = tmp_path / "lipstick.mp4"
    result = runner.invoke(app, ["edit", str(src), "-o", str(out), "-q", "--attr", "lipstick"])
    assert result.exit_code == 0, result.output
    model = ColourModel.load_all(WEIGHTS_DIR / "colour")["Wearing_Lipstick"]["lips"]
    c = colour_change(src, out)
    assert model.level(c["after"]) - model.level(c["before"]) > 1.2  # strength 1: about 2 shifts
    assert c["after"][1] - c["before"][1] > 5  # Lab a: redder
    assert np.abs(c["rest"]).max() < 0.5  # the rest of the face keeps its colour
    assert len(c["interior"]) and np.abs(c["interior"]).mean() < 1.0  # the teeth are not painted
    assert np.abs(c["ring"]).mean() < 1.5  # nor the skin round the lips (the soft edge only)
    m = evaluate(src, out)
    assert m.identity_distance <= 0.35 and m.tl_id >= 0.995 and m.flicker_ratio <= 1.1, m
    assert m.sharpness_ratio >= 0.9 and m.background_psnr >= 40, m


def test_the_lip_mask_lands_on_the_lips_of_hand_labelled_faces():
    """CelebAMask-HQ's face-parsing maps (upper and lower lip, drawn by people) against the mask
    made from dlib's landmarks: most of the colour lands on the lips, little on the skin."""
    import cv2

    from stitchtime.config import DetectConfig
    from stitchtime.faces.detect import make_backend

    folder = _need(SHARED_DATA / "celebamask_hq")
    backend = make_backend(DetectConfig())
    images = sorted(folder.glob("*.jpg"))
    assert images
    for jpg in images:
        rgb = cv2.cvtColor(cv2.imread(str(jpg)), cv2.COLOR_BGR2RGB)  # (1024, 1024)
        rgb = cv2.resize(rgb, (512, 512), interpolation=cv2.INTER_AREA)
        parsing = cv2.imread(str(jpg.with_suffix(".png")), cv2.IMREAD_GRAYSCALE)  # (512, 512) class map
        mask = lip_mask(backend.detect(rgb)[0].landmarks, (512, 512))
        lips, skin = np.isin(parsing, (11, 12)), parsing == 1
        iou = ((mask >= 0.5) & lips).sum() / ((mask >= 0.5) | lips).sum()
        # measured: IoU 0.56-0.76, 80-93% of the weight on the lips, 7-20% on the skin (its soft edge)
        assert iou > 0.5 and mask[lips].sum() / mask.sum() > 0.75 and mask[skin].sum() / mask.sum() < 0.25, jpg.name


def test_a_fit_that_fails_while_saving_leaves_the_old_model(tmp_path, monkeypatch):
    import os

    models = load_colour(WEIGHTS_DIR / "colour").models
    ColourModel.save_all(models, tmp_path, {"run": 1})
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    def broken(*args, **kwargs):  # the files are written, then the rename fails (say, the disk is gone)
        raise OSError("no rename")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(OSError, match="no rename"):
        ColourModel.save_all(models, tmp_path, {"run": 2})
    monkeypatch.undo()
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # the old model, no partial file


def test_the_liner_sits_on_the_upper_lash_lines_of_hand_labelled_faces():
    """CelebAMask-HQ's parsings (drawn by people) against the eyeliner mask made from dlib's
    landmarks: it hugs each eye from above, off the eye's own pixels and the brows."""
    import cv2

    from stitchtime.config import DetectConfig
    from stitchtime.faces.detect import make_backend

    folder = _need(SHARED_DATA / "celebamask_hq")
    backend = make_backend(DetectConfig())
    for jpg in sorted(folder.glob("*.jpg")):
        rgb = cv2.resize(
            cv2.cvtColor(cv2.imread(str(jpg)), cv2.COLOR_BGR2RGB), (512, 512), interpolation=cv2.INTER_AREA
        )
        parsing = cv2.imread(str(jpg.with_suffix(".png")), cv2.IMREAD_GRAYSCALE)
        lm = backend.detect(rgb)[0].landmarks
        liner = liner_mask(lm, (512, 512))
        eyes, brows = np.isin(parsing, (4, 5)), np.isin(parsing, (6, 7))
        near = cv2.dilate(eyes.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0  # 4 px round the drawn eyes
        # measured: 19-35% of the weight on the drawn eyes' own pixels (their outline, the lash line,
        # sits a pixel or two above dlib's), 90-99% within 4 px of them, none on the brows
        assert liner[eyes].sum() / liner.sum() < 0.45, jpg.name
        assert liner[near].sum() / liner.sum() > 0.85 and liner[brows].sum() / liner.sum() < 1e-4, jpg.name
        # above each upper lid line: every pixel at least half dark lies above the lid at its column
        ys, xs = np.nonzero(liner > 0.5)
        for lid in UPPER_LIDS:
            inside = (xs >= lm[lid[0], 0]) & (xs <= lm[lid[-1], 0])
            assert inside.sum() > 20, jpg.name
            assert (ys[inside] <= np.interp(xs[inside], lm[lid, 0], lm[lid, 1]) + 1.0).all(), jpg.name


def test_the_shipped_makeup_darkens_the_lash_lines_and_reddens_the_lips_and_nothing_else():
    image, lm = _astronaut(), _landmarks()
    models = ColourModel.load_all(WEIGHTS_DIR / "colour")["Heavy_Makeup"]
    assert sorted(models) == ["liner", "lips"]
    assert models["liner"].shift[0] < -3  # a darker lash line
    assert models["lips"].shift[1] > 2 and models["lips"].shift[0] < 0  # redder, darker lips
    editor = ColourEditor(models, ATTRIBUTES["makeup"], 1.0)
    batch = _astronaut_batch(editor)
    assert all(editor.colours[r] is not None for r in models) and all(editor.amounts[r] > 0.5 for r in models)
    edited = editor.edited(batch)[0].permute(1, 2, 0).numpy()
    before, after = region_colours(image, lm), region_colours(np.round(edited).astype(np.uint8), lm)
    # each part moves along its own shift by most of the amount (measured: lips 0.68 of it; the liner
    # 0.59, a band under 2 px high on her 43-px-apart eyes, whose soft edge is most of it)
    for r, m in models.items():
        assert m.level(after[r]) - m.level(before[r]) > 0.5 * editor.amounts[r], r
    shape = image.shape[:2]
    eyes = np.logical_or.reduce([interior_mask(e, shape) > 0 for e in _eye_outlines(lm)])
    assert (
        eyes.sum() > np.logical_or.reduce([interior_mask(lm[e], shape) > 0 for e in EYES]).sum()
    )  # (dlib's, and more)
    assert np.abs(edited - image)[eyes].max() == 0  # the whites and the iris keep their colour
    untouched = (liner_mask(lm, shape) == 0) & (lip_mask(lm, shape) == 0)
    assert np.abs(edited - image)[untouched].max() == 0
    minus = ColourEditor(models, ATTRIBUTES["makeup"], -1.0)
    _astronaut_batch(minus)
    for r, m in models.items():  # -1 takes each part at most down to the bare faces' median
        assert minus.amounts[r] == pytest.approx(-max(float(m.level(minus.colours[r])) - m.floor, 0.0))


def test_a_colour_model_saved_before_parts_existed_is_the_lips_and_an_unknown_part_is_refused(tmp_path):
    from stitchtime.editors.fitted import save_fitted

    m = load_colour(WEIGHTS_DIR / "colour").models["Wearing_Lipstick"]["lips"]
    flat = {"shift": m.shift, "range": np.array([m.floor, m.ceiling])}
    save_fitted(tmp_path / "old", "colour", {"Wearing_Lipstick": flat}, {})
    old = load_colour(tmp_path / "old").models["Wearing_Lipstick"]
    assert list(old) == ["lips"] and old["lips"].ceiling == pytest.approx(m.ceiling)
    save_fitted(tmp_path / "odd", "colour", {"Heavy_Makeup": {f"nose.{k}": v for k, v in flat.items()}}, {})
    with pytest.raises(ModelError, match="unknown region 'nose'"):
        load_colour(tmp_path / "odd")


def test_makeup_on_a_real_clip_lines_the_eyes_and_reddens_the_lips_and_minus_one_is_refused(tmp_path):
    from benchmarks.edit_quality import cut
    from benchmarks.makeup import makeup_change
    from stitchtime.evaluate import evaluate

    src = cut(shared_video("retalking_face_4.mp4"), tmp_path / "rf4.mp4", 48)  # a woman talking, light makeup
    out = tmp_path / "makeup.mp4"
    result = runner.invoke(app, ["edit", str(src), "-o", str(out), "-q", "--attr", "makeup"])
    assert result.exit_code == 0, result.output
    models = ColourModel.load_all(WEIGHTS_DIR / "colour")["Heavy_Makeup"]
    c = makeup_change(src, out)
    for r in ("liner", "lips"):  # strength 1: up to 2 shifts on each part
        assert models[r].level(c[f"{r} after"]) - models[r].level(c[f"{r} before"]) > 1.0, r
    assert c["liner after"][0] - c["liner before"][0] < -5  # a darker lash line
    # the eyes and the rest keep their colour (measured: the eyes 1.03 mean |Lab|, a plain round trip
    # through `--attr none` alone 0.85: the liner's soft edge on the lash line dlib puts a pixel lower)
    assert c["eyes"].mean() < 1.4 and np.abs(c["rest"]).max() < 0.5
    m = evaluate(src, out)
    assert m.identity_distance <= 0.35 and m.tl_id >= 0.995 and m.flicker_ratio <= 1.1, m
    assert m.sharpness_ratio >= 0.9 and m.background_psnr >= 40, m
    minus = runner.invoke(
        app, ["edit", str(src), "-o", str(tmp_path / "minus.mp4"), "--attr", "makeup", "--strength", "-1"]
    )
    assert minus.exit_code != 0 and "greys the lashes" in minus.output and "--experimental" in minus.output
    assert not (tmp_path / "minus.mp4").exists()


def test_negative_makeup_is_refused_unless_experimental():
    from stitchtime.config import EditOptions, Method

    models = load_colour(WEIGHTS_DIR / "colour")
    for options in (None, EditOptions()):
        with pytest.raises(InputError, match="greys the lashes"):
            ColourEditor.from_options(models, ATTRIBUTES["makeup"], -1.0, Method.colour, options, False)
    allowed = ColourEditor.from_options(
        models, ATTRIBUTES["makeup"], -1.0, Method.colour, EditOptions(experimental=True), False
    )
    assert sorted(allowed.models) == ["liner", "lips"]
    assert isinstance(make_editor("makeup", -1.0, options=EditOptions(experimental=True)), ColourEditor)
    lipstick = ColourEditor.from_options(models, ATTRIBUTES["lipstick"], -1.0, Method.colour, None, False)
    assert list(lipstick.models) == ["lips"]  # lipstick comes off without --experimental
