"""The evaluation's curve maths on hand-made curves whose values are worked out by hand below."""
import numpy as np
import pytest

from gradctrl import UserError
from gradctrl.evaluate.curves import (crossing, pixel_drift, nontarget_curve, score_stds, summarise, target_curve,
                                      value_at)

# Two latents, four steps (plus step 0, the original).
TARGET = np.array([[0, 1, 2, 3, 4],            # changes 0 1 2 3 4
                   [1, 1, 3, 5, 7]], float)    # changes 0 0 2 4 6 -> mean 0 .5 2 3.5 5
OTHER = np.array([[10, 10, 12, 8, 10],         # |changes| 0 0 2 2 0
                  [14, 15, 14, 14, 18]], float)  # |changes| 0 1 0 0 4 -> mean 0 .5 1 1 2
# Originals: target (0, 1) -> std 0.5; other (10, 14) -> std 2 (population std over the held-out originals).
TARGET_STD_UNITS = np.array([0, 1, 4, 7, 10], float)
OTHER_STD_UNITS = np.array([0, 0.25, 0.5, 0.5, 1], float)


def test_stds_are_taken_over_the_originals_per_column():
    stds = score_stds({"t": TARGET[:, 0], "o": OTHER[:, 0], "k": np.array([[0, 1, 2], [2, 3, 6]], float)})
    assert stds["t"] == 0.5 and stds["o"] == 2.0
    np.testing.assert_allclose(stds["k"], [1.0, 1.0, 2.0])
    with pytest.raises(UserError, match="score of attribute 'k' is constant over the held-out originals"):
        score_stds({"k": np.array([[0, 1, 2], [2, 1, 6]], float)})      # column 1 never varies


def test_target_and_nontarget_curves_in_std_units():
    stds = score_stds({"t": TARGET[:, 0], "o": OTHER[:, 0]})
    np.testing.assert_allclose(target_curve(TARGET, stds["t"], sign=+1), TARGET_STD_UNITS)
    # A -1 edit that lowers the score by the same amounts has the same (rising) signed curve.
    np.testing.assert_allclose(target_curve(-TARGET, stds["t"], sign=-1), TARGET_STD_UNITS)
    curve = nontarget_curve({"t": TARGET, "o": OTHER}, stds, target="t")
    np.testing.assert_allclose(curve, OTHER_STD_UNITS)
    # A second non-target attribute that never moves halves the mean.
    still = np.repeat(np.array([[3.0], [5.0]]), 5, axis=1)
    stds["s"] = 1.0
    np.testing.assert_allclose(nontarget_curve({"t": TARGET, "o": OTHER, "s": still}, stds, "t"), OTHER_STD_UNITS / 2)
    with pytest.raises(UserError, match="no attribute besides 't'"):
        nontarget_curve({"t": TARGET}, stds, "t")


def test_k_class_target_uses_its_column_and_k_class_others_average_their_columns():
    # Column 1 is TARGET, the other columns constant: the class-1 curve is TARGET's.
    scores = np.stack([np.zeros_like(TARGET), TARGET, np.ones_like(TARGET)], axis=2)     # (2, 5, 3)
    std = np.array([1.0, 0.5, 1.0])
    np.testing.assert_allclose(target_curve(scores, std, column=1), TARGET_STD_UNITS)
    with pytest.raises(UserError, match="needs the column"):
        target_curve(scores, std)
    # As a non-target attribute: mean over its 3 columns of |change| / std = (0 + TARGET|.|/0.5 + 0) / 3.
    curve = nontarget_curve({"x": TARGET, "k": scores}, {"x": 1.0, "k": std}, target="x")
    np.testing.assert_allclose(curve, TARGET_STD_UNITS / 3)


def test_interpolation_at_target_levels():
    # Level 0.5: first reached at step 1 (0 -> 1), halfway: position 0.5, non-target 0.125.
    # Level 1: exactly step 1: non-target 0.25.  Level 2: between steps 1 and 2 (1 -> 4), a third of the
    # way: position 4/3, non-target 0.25 + (0.5 - 0.25) / 3.  Level 20: never reached.
    assert crossing(TARGET_STD_UNITS, 0.5) == pytest.approx(0.5)
    assert crossing(TARGET_STD_UNITS, 2.0) == pytest.approx(4 / 3)
    assert crossing(TARGET_STD_UNITS, 20.0) is None
    assert crossing(TARGET_STD_UNITS, 0.0) == 0.0
    summary = summarise(TARGET_STD_UNITS, {"nontarget": OTHER_STD_UNITS}, levels=(0.5, 1.0, 2.0, 20.0))
    assert summary[0.5]["nontarget"] == pytest.approx(0.125)
    assert summary[1.0]["nontarget"] == pytest.approx(0.25)
    assert summary[2.0]["nontarget"] == pytest.approx(0.25 + 0.25 / 3)
    assert summary[20.0]["nontarget"] is None
    assert value_at(OTHER_STD_UNITS, None) is None


def test_crossing_takes_the_first_passage_of_a_non_monotone_curve():
    target = np.array([0.0, 1.5, 0.2, 3.0])
    assert crossing(target, 1.0) == pytest.approx(2 / 3)        # on the way to step 1, not the later rise
    assert crossing(target, 2.0) == pytest.approx(2 + 1.8 / 2.8)


def test_identity_drift_is_mean_absolute_pixel_difference():
    images = np.zeros((2, 3, 2, 2, 3), np.uint8)
    images[0, 1] = 255                     # latent 0, step 1: every value 255 away from the original
    images[1, 0] = 200                     # latent 1: original 200, step 1 the same, step 2 all 0
    images[1, 1] = 200
    images[0, 2, 0, 0, 0] = 12             # one value of twelve moves by 12 at step 2 of latent 0
    # step 1: latent 0 -> 255, latent 1 -> 0. step 2: latent 0 -> 12 / 12 = 1, latent 1 -> 200.
    np.testing.assert_allclose(pixel_drift(images), [[0.0, 255.0, 1.0], [0.0, 0.0, 200.0]])
