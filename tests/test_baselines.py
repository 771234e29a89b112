"""Baselines on synthetic latents with planted linear structure: the directions they must recover are known."""
import numpy as np
import pytest

from gradctrl import UserError
from gradctrl.edit.baselines import (condition_direction, ganspace_direction, interfacegan_normals,
                                     linear_trajectory, pca_components, svm_normal)

W_DIM = 32


def _unit(v):
    return v / np.linalg.norm(v)


def _select_extremes(latents, score, fraction=0.1):
    """The paper's selection for a binary attribute: top fraction label 1, bottom fraction label 0."""
    order = np.argsort(score)
    n = int(fraction * len(score))
    indices = np.concatenate([order[-n:], order[:n]])
    return latents[indices], np.concatenate([np.ones(n, np.int64), np.zeros(n, np.int64)])


def _anisotropic_latents(rng, n):
    """w with unequal variances per channel, so a direction is not recovered by accident of isotropy."""
    return (rng.standard_normal((n, W_DIM)) * rng.uniform(0.5, 2.0, W_DIM)).astype(np.float32)


def test_linear_trajectory_walks_equal_steps_along_the_unit_direction():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((3, W_DIM)).astype(np.float32)
    vector = rng.standard_normal(W_DIM) * 5.0                         # not unit: normalised inside
    for direction in (1, -1):
        traj = linear_trajectory(w, vector, direction, steps=9, step_size=4 / 9)
        assert traj.shape == (3, 9, W_DIM) and traj.dtype == np.float32
        path = np.concatenate([w[:, None], traj], axis=1)
        step_lengths = np.linalg.norm(np.diff(path, axis=1), axis=2)
        np.testing.assert_allclose(step_lengths, 4 / 9, rtol=1e-5)
        np.testing.assert_allclose((traj[:, -1] - w) @ _unit(vector), direction * 4.0, rtol=1e-5)


def test_linear_trajectory_rejects_bad_input():
    w = np.zeros((2, W_DIM), np.float32)
    with pytest.raises(UserError, match="width 5 but the latents have width 32"):
        linear_trajectory(w, np.ones(5))
    with pytest.raises(UserError, match="edit direction is zero"):
        linear_trajectory(w, np.zeros(W_DIM))
    with pytest.raises(UserError, match="direction must be"):
        linear_trajectory(w, np.ones(W_DIM), direction=2)


def test_svm_recovers_a_planted_direction():
    rng = np.random.default_rng(1)
    planted = _unit(rng.standard_normal(W_DIM))
    latents = _anisotropic_latents(rng, 4000)
    score = latents @ planted + 0.05 * rng.standard_normal(len(latents))
    selected, labels = _select_extremes(latents, score)
    normal = svm_normal(selected, labels)
    assert normal.shape == (W_DIM,)
    np.testing.assert_allclose(np.linalg.norm(normal), 1.0, rtol=1e-6)
    assert normal @ planted > 0.95                                    # right direction, right sign


def test_one_vs_rest_normals_lead_to_their_class():
    rng = np.random.default_rng(2)
    axes = np.linalg.qr(rng.standard_normal((W_DIM, 3)))[0].T          # 3 orthonormal planted class axes
    latents = rng.standard_normal((3000, W_DIM)).astype(np.float32)
    labels = np.argmax(latents @ axes.T, axis=1)
    normals = interfacegan_normals(latents, labels, num_classes=3)
    assert normals.shape == (3, W_DIM)
    start = rng.standard_normal((200, W_DIM)).astype(np.float32)
    for c in range(3):
        end = linear_trajectory(start, normals[c], +1, steps=9, step_size=1.0)[:, -1]   # 9 units along row c
        assert np.mean(np.argmax(end @ axes.T, axis=1) == c) > 0.95


def test_one_vs_rest_needs_every_class():
    latents = np.random.default_rng(3).standard_normal((20, W_DIM))
    with pytest.raises(UserError, match="no selected sample of class 2"):
        interfacegan_normals(latents, np.arange(20) % 2, num_classes=3)


def test_conditional_direction_is_orthogonal_to_every_excluded_normal():
    rng = np.random.default_rng(4)
    target = _unit(rng.standard_normal(W_DIM))
    excluded = rng.standard_normal((3, W_DIM))
    excluded = np.concatenate([excluded, excluded[:1] + excluded[1:2]])    # a linearly dependent 4th row
    conditioned = condition_direction(target, excluded)
    np.testing.assert_allclose(np.linalg.norm(conditioned), 1.0, rtol=1e-6)
    np.testing.assert_allclose(excluded @ conditioned, 0.0, atol=1e-5)
    # It is the closest unit vector to the target in the complement: the residual lies in the excluded span.
    residual = target - (target @ conditioned) * conditioned
    coefficients = np.linalg.lstsq(excluded.T, residual, rcond=None)[0]
    np.testing.assert_allclose(excluded.T @ coefficients, residual, atol=1e-5)
    np.testing.assert_allclose(condition_direction(target, np.zeros((0, W_DIM))), target, rtol=1e-6)


def test_conditional_direction_of_a_target_inside_the_excluded_span_is_an_error():
    rng = np.random.default_rng(5)
    excluded = rng.standard_normal((2, W_DIM))
    with pytest.raises(UserError, match="span of the excluded normals"):
        condition_direction(excluded[0] - 2 * excluded[1], excluded)


def test_pca_recovers_a_planted_top_component_and_ganspace_picks_the_correlated_one():
    rng = np.random.default_rng(6)
    basis = np.linalg.qr(rng.standard_normal((W_DIM, W_DIM)))[0].T      # orthonormal rows
    spread = np.array([5.0, 3.0, 2.0] + [0.3] * (W_DIM - 3))             # planted variances along basis rows
    coords = rng.standard_normal((5000, W_DIM)) * spread
    latents = (coords @ basis + 7.0).astype(np.float32)                  # offset: PCA must centre
    mean, components, variances = pca_components(latents, 5)
    assert components.shape == (5, W_DIM) and variances.shape == (5,)
    np.testing.assert_allclose(mean, 7.0, atol=0.2)
    for k in range(3):
        assert abs(components[k] @ basis[k]) > 0.99
    np.testing.assert_allclose(variances[:3], spread[:3] ** 2, rtol=0.1)

    score = -coords[:, 2] + 0.5 * rng.standard_normal(len(coords))      # anti-aligned with planted axis 2
    direction, index, correlation = ganspace_direction(latents, score, mean, components)
    assert index == 2 and correlation > 0.8
    assert direction @ basis[2] < -0.99                                 # sign chosen to raise the score
    direction0, index0, correlation0 = ganspace_direction(latents, score, mean, components, index=0)
    assert index0 == 0 and correlation0 >= 0 and abs(direction0 @ basis[0]) > 0.99
    with pytest.raises(UserError, match="component index 5 is outside"):
        ganspace_direction(latents, score, mean, components, index=5)


def _planted_data_dir(rng, n=3000):
    """A DataDir whose scores are planted: 'a' and 'b' linear along correlated axes, 'k' 3-class."""
    from gradctrl.data.datadir import DataDir
    from gradctrl.data.selection import label_array, select, split

    axes = np.linalg.qr(rng.standard_normal((W_DIM, 5)))[0].T
    a_axis = axes[0]
    b_axis = _unit(axes[0] + axes[1])                    # b correlates with a (cos 0.71), as attributes do
    latents = rng.standard_normal((n, W_DIM)).astype(np.float32)
    scores = {"a": latents @ a_axis, "b": latents @ b_axis, "k": latents @ axes[2:5].T}
    data = DataDir(latents=latents, scores={}, labels={}, splits={}, manifest={})
    for name, value in scores.items():
        value = value.astype(np.float32)
        indices, labels = select(value, 0.1, name)
        train, val = split(indices, 0.3, seed=0, labels=labels)
        data.scores[name] = value
        data.labels[name] = label_array(value, indices, labels)
        data.splits[name] = {"train": train.tolist(), "val": val.tolist()}
    data.validate("planted")
    return data, a_axis, b_axis, axes[2:5]
