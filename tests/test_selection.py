"""Selection and split against brute-force expectations written independently of the implementation."""
import numpy as np
import pytest

from gradctrl.data.selection import label_array, per_class_count, select, split
from gradctrl.errors import UserError


def test_binary_takes_the_n_highest_as_1_and_the_n_lowest_as_0():
    rng = np.random.default_rng(5)
    scores = rng.permutation(200).astype(np.float32)  # distinct values: the sample with score v is rank v
    indices, labels = select(scores, 0.05)
    expected_high = {i for i in range(200) if scores[i] >= 190}
    expected_low = {i for i in range(200) if scores[i] < 10}
    assert set(indices[labels == 1]) == expected_high and set(indices[labels == 0]) == expected_low
    assert len(indices) == 20 and np.all(np.diff(indices) > 0)
    assert indices.dtype == np.int64 and labels.dtype == np.int64


def test_multiclass_takes_the_most_confident_members_of_each_class():
    rng = np.random.default_rng(6)
    scores = rng.standard_normal((300, 4)).astype(np.float32)
    scores[:, 3] = -10.0
    scores[:5, 3] = 10.0 + np.arange(5)  # class 3 wins exactly 5 samples: fewer than n
    n = per_class_count(0.1, 300)
    indices, labels = select(scores, 0.1)
    for c in range(4):
        members = [i for i in range(300) if max(range(4), key=lambda k: scores[i, k]) == c]
        members.sort(key=lambda i: -scores[i, c])
        assert set(indices[labels == c]) == set(members[:n])  # the highest, never the lowest, scores
    assert n == 30 and set(indices[labels == 3]) == set(range(5))


def test_label_array_marks_unselected_binary_samples():
    scores = np.array([0.1, 0.9, 0.5, 0.2], np.float32)
    indices, labels = select(scores, 0.25)
    np.testing.assert_array_equal(label_array(scores, indices, labels), [0, 1, -1, -1])
    multi = np.array([[1, 0], [0, 2], [3, 1]], np.float32)
    np.testing.assert_array_equal(label_array(multi, *select(multi, 0.4)), [0, 1, 0])


@pytest.mark.parametrize("p, n_samples, n", [(0.05, 1000, 50), (0.29, 100, 29), (0.07, 100, 7), (0.5, 9, 4)])
def test_per_class_count_is_the_floor(p, n_samples, n):
    assert per_class_count(p, n_samples) == n


def test_too_small_p_perclass_is_a_user_error():
    with pytest.raises(UserError, match=r"--p_perclass 0.001 selects no samples for attribute 'smile' "
                                        r"\(floor\(0.001 x 500\) = 0\): raise it to at least 0.002"):
        select(np.zeros(500, np.float32), 0.001, "smile")
    with pytest.raises(UserError, match=r"--p_perclass 0.6 is outside \(0, 0.5\]"):
        select(np.zeros(500, np.float32), 0.6, "smile")


def test_split_is_seeded_disjoint_and_stratified():
    rng = np.random.default_rng(7)
    indices = np.sort(rng.choice(10000, 200, replace=False))
    labels = np.repeat([0, 1], 100)
    train, val = split(indices, 0.3, seed=1, labels=labels)
    assert len(val) == 60 and len(train) == 140
    assert set(train) | set(val) == set(indices) and not set(train) & set(val)
    label_of = dict(zip(indices, labels))
    assert sum(label_of[i] for i in val) == 30  # 30 % of each group
    again = split(indices, 0.3, seed=1, labels=labels)
    other = split(indices, 0.3, seed=2, labels=labels)
    np.testing.assert_array_equal(again[1], val)
    assert not np.array_equal(other[1], val)
    assert np.all(np.diff(train) > 0) and np.all(np.diff(val) > 0)


def test_split_without_validation_and_bad_p_val():
    train, val = split(np.arange(10), 0.0, seed=0)
    np.testing.assert_array_equal(train, np.arange(10))
    assert len(val) == 0
    with pytest.raises(UserError, match=r"--p_val 1.0 is outside \[0, 1\)"):
        split(np.arange(10), 1.0, seed=0)
