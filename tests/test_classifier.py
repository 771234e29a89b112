"""The latent classifier: architecture, probabilities, our model-directory format."""
import json

import numpy as np
import pytest

from gradctrl import UserError
from gradctrl.classifier.model import LatentClassifier, load_classifier, save_classifier


def reference_probabilities(clf, w):
    """Forward pass in float64 numpy from the layers' weights: shared LeakyReLU layers, then each branch."""
    def leaky(x):
        return np.where(x > 0, x, 0.1 * x)

    x = w.astype(np.float64)
    for layer in clf.shared_layers:
        kernel, bias = layer.get_weights()
        x = leaky(x @ kernel + bias)
    out = {}
    for name in clf.attributes:
        h = x
        layers = clf.branch_layers[name]
        for i, layer in enumerate(layers):
            kernel, bias = layer.get_weights()
            h = h @ kernel + bias
            if i < len(layers) - 1:
                h = leaky(h)
        if clf.num_classes[name] == 1:
            out[name] = 1 / (1 + np.exp(-h[:, 0]))
        else:
            e = np.exp(h - h.max(1, keepdims=True))
            out[name] = e / e.sum(1, keepdims=True)
    return out


@pytest.mark.parametrize("hidden_size, n_shared", [(16, 0), (None, 0), (8, 2)])
def test_architecture_and_probabilities(hidden_size, n_shared):
    clf = LatentClassifier(12, ["a", "b"], {"a": 1, "b": 4}, hidden_size=hidden_size, n_shared_layers=n_shared, seed=3)
    assert [len(clf.branch_layers[n]) for n in clf.attributes] == [1 if hidden_size is None else 2] * 2
    assert [layer.units for layer in clf.branch_layers["b"]] == ([4] if hidden_size is None else [hidden_size, 4])
    assert len(clf.shared_layers) == n_shared
    w = np.random.default_rng(0).standard_normal((7, 12)).astype(np.float32)
    probs = clf.predict(w, batch_size=3)
    assert probs["a"].shape == (7,) and probs["b"].shape == (7, 4)
    expected = reference_probabilities(clf, w)
    for name in clf.attributes:
        np.testing.assert_allclose(probs[name], expected[name], atol=1e-6)
    # the differentiable path gives the same numbers
    np.testing.assert_allclose(np.asarray(clf.probabilities(w)["b"]), probs["b"], atol=1e-7)


def test_seed_fixes_initial_weights():
    def weights(seed):
        return LatentClassifier(8, ["a"], {"a": 1}, seed=seed).model.get_weights()

    for x, y in zip(weights(5), weights(5)):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(weights(5)[0], weights(6)[0])


def test_save_load_roundtrip(tmp_path):
    clf = LatentClassifier(10, ["smile", "color"], {"smile": 1, "color": 3}, hidden_size=None, n_shared_layers=1, seed=1)
    save_classifier(clf, tmp_path / "m", extra_json={"metrics.json": {"x": 1}})
    files = sorted(p.name for p in (tmp_path / "m").iterdir())
    assert files == ["classifier.json", "classifier.weights.h5", "metrics.json"]
    spec = json.loads((tmp_path / "m" / "classifier.json").read_text())
    assert spec["attributes"] == ["smile", "color"] and spec["num_classes"] == {"smile": 1, "color": 3}
    assert spec["hidden_size"] is None and spec["n_shared_layers"] == 1 and spec["w_dim"] == 10
    loaded = load_classifier(tmp_path / "m")
    w = np.random.default_rng(1).standard_normal((5, 10)).astype(np.float32)
    for name in clf.attributes:
        np.testing.assert_array_equal(loaded.predict(w)[name], clf.predict(w)[name])
    # no temporary siblings left behind; saving again replaces the directory
    save_classifier(LatentClassifier(10, ["smile"], {"smile": 1}), tmp_path / "m")
    assert load_classifier(tmp_path / "m").attributes == ["smile"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


def test_load_errors(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        load_classifier(tmp_path / "missing")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("hi")
    with pytest.raises(UserError, match="is neither a gradctrl model .* nor an authors' released one"):
        load_classifier(tmp_path / "other")
    with pytest.raises(UserError, match="exists and is not a gradctrl model directory"):
        save_classifier(LatentClassifier(4, ["a"], {"a": 1}), tmp_path / "other")
    save_classifier(LatentClassifier(4, ["a"], {"a": 1}), tmp_path / "m")
    spec = json.loads((tmp_path / "m" / "classifier.json").read_text())
    (tmp_path / "m" / "classifier.json").write_text(json.dumps({**spec, "w_dim": 5}))
    with pytest.raises(UserError, match="classifier.weights.h5 does not match classifier.json"):
        load_classifier(tmp_path / "m")
    (tmp_path / "m" / "classifier.json").write_text(json.dumps({**spec, "num_classes": {"a": 0}}))
    with pytest.raises(UserError, match="class count 0"):
        load_classifier(tmp_path / "m")


def test_predict_rejects_other_widths():
    clf = LatentClassifier(6, ["a"], {"a": 1})
    with pytest.raises(UserError, match=r"takes \(N, 6\)"):
        clf.predict(np.zeros((2, 7), np.float32))
