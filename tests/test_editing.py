"""Masked-gradient editing: the authors' trajectories, analytic expectations and planted structure."""
import numpy as np
import pytest

from conftest import shared_file
from gradctrl import UserError
from gradctrl.classifier.model import LatentClassifier, load_classifier
from gradctrl.classifier.training import train_classifier
from gradctrl.edit.editing import edit_trajectory, trace_edit

FFHQ_EXCLUDE = {"gender": {"smile": 250, "eyeglasses": 100, "age": 100},
                "smile": {"gender": 200, "eyeglasses": 50, "age": 100}}


@pytest.fixture(scope="module")
def ffhq():
    return load_classifier(shared_file("released/model_ffhq")), np.load(shared_file("fixtures/gradctrl/ffhq_ref.npz"))


@pytest.mark.parametrize("attribute", ["gender", "smile"])
@pytest.mark.parametrize("direction", [1, -1])
@pytest.mark.parametrize("exclude", [True, False])
def test_reproduces_authors_trajectories(ffhq, attribute, direction, exclude):
    clf, ref = ffhq
    key = f"{attribute}_{'pos' if direction > 0 else 'neg'}{'' if exclude else '_noexclude'}"
    edit = trace_edit(clf, ref["w0"], attribute, direction, exclude=FFHQ_EXCLUDE[attribute] if exclude else None,
                      steps=9, step_size=4 / 9)
    assert edit.traj.shape == (8, 9, 512) and edit.traj.dtype == np.float32
    np.testing.assert_allclose(edit.traj, ref[f"traj_{key}"], atol=1e-4, rtol=0)
    probs = clf.predict(edit.traj.reshape(-1, 512))
    probs = np.stack([probs[a] for a in clf.attributes], axis=1).reshape(8, 9, 5)
    np.testing.assert_allclose(probs, ref[f"probs_{key}"], atol=1e-4, rtol=0)
    if exclude:
        np.testing.assert_array_equal(edit.kept, ref[f"mask_{key}"].astype(bool))
    else:
        assert edit.kept.all()
    assert not edit.zero_gradient.any()
    # the target probability moves monotonically in the edit's direction
    target = np.concatenate([ref["probs0"][:, None, clf.attributes.index(attribute)],
                             probs[:, :, clf.attributes.index(attribute)]], axis=1)
    assert (direction * np.diff(target, axis=1) > 0).all()


def test_batch_equals_one_latent_at_a_time(ffhq):
    clf, ref = ffhq
    batch = edit_trajectory(clf, ref["w0"], "gender", -1, exclude=FFHQ_EXCLUDE["gender"], steps=3)
    for i in range(3):
        single = edit_trajectory(clf, ref["w0"][i:i + 1], "gender", -1, exclude=FFHQ_EXCLUDE["gender"], steps=3)
        np.testing.assert_allclose(batch[i:i + 1], single, atol=1e-6, rtol=0)


def linear_classifier(kernels):
    """Linear branches (hidden_size=None) with the given kernels {name: (w_dim,) or (w_dim, K)}, bias 0."""
    num_classes = {name: 1 if np.ndim(k) == 1 else np.shape(k)[1] for name, k in kernels.items()}
    w_dim = len(next(iter(kernels.values())))
    clf = LatentClassifier(w_dim, list(kernels), num_classes, hidden_size=None)
    for name, kernel in kernels.items():
        kernel = np.asarray(kernel, np.float32).reshape(w_dim, -1)
        clf.branch_layers[name][0].set_weights([kernel, np.zeros(kernel.shape[1], np.float32)])
    return clf


def test_linear_branch_with_masking_analytic():
    """p = sigmoid(u.w): the gradient is parallel to u and |d p_v / d w| ranks channels as |v| does."""
    rng = np.random.default_rng(0)
    d = 20
    u, v = rng.standard_normal(d), rng.standard_normal(d)
    clf = linear_classifier({"target": u, "other": v})
    w0 = rng.standard_normal((4, d)).astype(np.float32) * 0.3
    edit = trace_edit(clf, w0, "target", +1, exclude={"other": 5}, steps=6, step_size=0.5)
    masked = np.argsort(np.abs(v))[-5:]
    expected_kept = np.ones(d, bool)
    expected_kept[masked] = False
    assert (edit.kept == expected_kept).all()
    g = np.where(expected_kept, u, 0)
    step = 0.5 * g / np.linalg.norm(g)
    expected = w0[:, None, :] + np.arange(1, 7)[None, :, None] * step[None, None, :]
    np.testing.assert_allclose(edit.traj, expected, atol=1e-5)
    # masked channels never move, at any step
    prev = np.concatenate([w0[:, None], edit.traj[:, :-1]], axis=1)
    assert (edit.traj[:, :, masked] == prev[:, :, masked]).all()
    # every step moves w by exactly step_size
    np.testing.assert_allclose(np.linalg.norm(edit.traj - prev, axis=2), 0.5, rtol=1e-5)


def softmax_gradients(kernel, w):
    """d p_c / d w for a linear softmax: p_c (W_c - sum_j p_j W_j) -> (N, K, w_dim)."""
    logits = w.astype(np.float64) @ kernel
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    mean_row = p @ kernel.T                                           # (N, w_dim)
    return p[:, :, None] * (kernel.T[None] - mean_row[:, None, :])


def test_k_class_target_and_excluded_saliency_analytic():
    rng = np.random.default_rng(1)
    d, k = 16, 4
    colour = rng.standard_normal((d, k))
    shape = rng.standard_normal((d, 3))
    clf = linear_classifier({"colour": colour, "shape": shape})
    w0 = rng.standard_normal((5, d)).astype(np.float32)
    edit = trace_edit(clf, w0, "colour", +1, target_class=2, exclude={"shape": 6}, steps=1, step_size=0.25)
    saliency = np.abs(softmax_gradients(shape, w0)).max(axis=1)          # max over the classes of |d p_c / d w|
    for i in range(5):
        expected_kept = np.ones(d, bool)
        expected_kept[np.argsort(saliency[i])[-6:]] = False
        np.testing.assert_array_equal(edit.kept[i, 0], expected_kept)
        g = np.where(expected_kept, softmax_gradients(colour, w0[i:i + 1])[0, 2], 0)
        np.testing.assert_allclose(edit.traj[i, 0], w0[i] + 0.25 * g / np.linalg.norm(g), atol=1e-5)
    # the target class's probability rises along a longer edit
    traj = edit_trajectory(clf, w0, "colour", +1, target_class=2, exclude={"shape": 6}, steps=8, step_size=0.25)
    p = clf.predict(np.concatenate([w0[:, None], traj], axis=1).reshape(-1, d))["colour"][:, 2].reshape(5, 9)
    assert (np.diff(p, axis=1) > 0).all()


def test_k_zero_masks_nothing_and_full_mask_stays_put():
    rng = np.random.default_rng(2)
    clf = linear_classifier({"a": rng.standard_normal(8), "b": rng.standard_normal(8)})
    w0 = rng.standard_normal((3, 8)).astype(np.float32)
    np.testing.assert_array_equal(edit_trajectory(clf, w0, "a", exclude={"b": 0}), edit_trajectory(clf, w0, "a"))
    edit = trace_edit(clf, w0, "a", -1, exclude={"b": 8}, steps=4)
    assert edit.zero_gradient.all() and not edit.kept.any()
    np.testing.assert_array_equal(edit.traj, np.repeat(w0[:, None], 4, axis=1))


def test_zero_masked_gradient_for_some_latents_only():
    """Target uses channels 0-2 only; the excluded branch's top-3 channels are exactly those."""
    u = np.zeros(6)
    u[:3] = [1.0, -2.0, 0.5]
    v = np.array([5.0, 4.0, 3.0, 0.1, 0.1, 0.1])
    clf = linear_classifier({"a": u, "b": v})
    w0 = np.random.default_rng(3).standard_normal((2, 6)).astype(np.float32)
    edit = trace_edit(clf, w0, "a", +1, exclude={"b": 3}, steps=2)
    assert edit.zero_gradient.all()
    np.testing.assert_array_equal(edit.traj[:, 1], w0)
    edit = trace_edit(clf, w0, "a", +1, exclude={"b": 2}, steps=2)
    assert not edit.zero_gradient.any()
    np.testing.assert_allclose(edit.traj[:, 0, 2] - w0[:, 2], 4 / 9, rtol=1e-6)    # only channel 2 moves


def test_planted_linear_rule_first_step_aligns():
    """Labels follow sign(u . w); a trained (nonlinear) branch's first edit step points along u."""
    rng = np.random.default_rng(4)
    d, n = 16, 1500
    u = rng.standard_normal(d)
    u /= np.linalg.norm(u)
    w = rng.standard_normal((n, d)).astype(np.float32)
    score = w @ u
    labels = (score > 0).astype(np.int64)
    order = rng.permutation(n)
    split = {"train": sorted(order[:1000].tolist()), "val": sorted(order[1000:].tolist())}
    clf, metrics = train_classifier(w, {"a": labels}, {"a": split}, {"a": 1}, n_epochs=6, lr=1e-2, seed=0)
    assert metrics["best_val_accuracy"]["a"] > 0.95
    w0 = rng.standard_normal((20, d)).astype(np.float32) * 0.5
    for direction in (1, -1):
        traj = edit_trajectory(clf, w0, "a", direction, steps=5)
        first = (traj[:, 0] - w0) / (4 / 9)
        cosine = first @ u * direction
        assert cosine.mean() > 0.9 and cosine.min() > 0.7, cosine
        p = clf.predict(np.concatenate([w0[:, None], traj], axis=1).reshape(-1, d))["a"].reshape(20, 6)
        assert (direction * np.diff(p, axis=1) >= 0).all()              # (float32 saturates at 0 and 1)
        assert (direction * (p[:, -1] - p[:, 0]) > 0).all()


@pytest.mark.parametrize("kwargs, message", [
    (dict(attribute="hair"), "unknown attribute 'hair': the classifier has a, b, c"),
    (dict(exclude={"a": 3}), "excluded attribute 'a' is the edited attribute itself"),
    (dict(exclude={"zz": 3}), "excluded attribute 'zz' is unknown"),
    (dict(exclude={"b": 9}), r"top-k 9 for excluded attribute 'b' must be an integer in \[0, 8\]"),
    (dict(exclude={"b": -1}), r"must be an integer in \[0, 8\]"),
    (dict(target_class=1), "attribute 'a' is binary: give no target_class"),
    (dict(attribute="c"), r"attribute 'c' has 3 classes: target_class must be in \[0, 2\], got None"),
    (dict(direction=2), "direction must be"),
    (dict(w=np.zeros((2, 7), np.float32)), r"latents of shape \(2, 7\) do not fit the classifier"),
])
def test_bad_requests(kwargs, message):
    rng = np.random.default_rng(5)
    clf = linear_classifier({"a": rng.standard_normal(8), "b": rng.standard_normal(8),
                             "c": rng.standard_normal((8, 3))})
    call = {"w": np.zeros((2, 8), np.float32), "attribute": "a", **kwargs}
    with pytest.raises(UserError, match=message):
        edit_trajectory(clf, **call)
