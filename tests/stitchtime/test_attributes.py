"""Friendly attribute names, their CelebA mapping and the per-direction condition gain."""

from __future__ import annotations

import numpy as np
import pytest

from stitchtime.config import CVAEEditConfig
from stitchtime.editors.attributes import ATTRIBUTES, resolve
from stitchtime.editors.cvae import condition_gain, edited_condition


def test_gain_depends_on_the_direction_of_the_celeba_edit():
    age, gender, smile = ATTRIBUTES["age"], ATTRIBUTES["gender"], ATTRIBUTES["smile"]
    # "older" removes Young: its strength arrives negated (sign -1) and takes the larger off-gain
    assert condition_gain(age, CVAEEditConfig(), age.sign * 1.0) == 2.0
    assert condition_gain(age, CVAEEditConfig(), age.sign * -1.0) == 1.5  # younger
    assert (
        condition_gain(gender, CVAEEditConfig(), 1.0) == 2.5 and condition_gain(gender, CVAEEditConfig(), -1.0) == 1.5
    )
    assert condition_gain(smile, CVAEEditConfig(), 1.0) == condition_gain(smile, CVAEEditConfig(), -1.0) == 1.5
    # an explicit gain overrides every attribute's own
    assert condition_gain(age, CVAEEditConfig(cond_gain=1.0), -1.0) == 1.0


def test_edited_condition_moves_towards_present_or_absent():
    cond = np.array([[0.2, 0.9], [0.6, 0.1]], dtype=np.float32)
    on = edited_condition(cond, 0, 1.0)
    off = edited_condition(cond, 0, -1.0)
    assert np.allclose(on[:, 0], 1.0) and np.allclose(off[:, 0], 0.0)
    assert np.allclose(edited_condition(cond, 0, 2.0)[:, 0], cond[:, 0] + 2 * (1 - cond[:, 0]))  # extrapolates
    assert np.array_equal(on[:, 1], cond[:, 1])  # other attributes untouched


def test_resolve_friendly_and_celeba_names_and_unknown():
    names = ["Smiling", "Young", "Male"]
    assert resolve("Smile", names).celeba == "Smiling"
    assert resolve("young", names).name == "age"
    with pytest.raises(KeyError, match="valid: none, smile, age, gender"):
        resolve("wings", names)


def test_every_attribute_edits_a_known_region():
    from stitchtime.config import REGION_MASKS

    assert {a.region for a in ATTRIBUTES.values()} <= set(REGION_MASKS)
    assert ATTRIBUTES["glasses"].region == "eyes" and ATTRIBUTES["mouth_open"].region == "lower"
