"""Training on planted structure: nonlinear and correlated labels, K classes, best-epoch weights, train.py."""
import json

import numpy as np
import pytest

from gradctrl import UserError
from gradctrl.classifier.model import load_classifier
from gradctrl.classifier.training import accuracy, train_classifier
from gradctrl.commands import train
from gradctrl.data.datadir import DataDir, write_data_dir

N, W_DIM = 1600, 12


def select_extremes(score, fraction, seed):
    """Binary labels for the top / bottom ``fraction`` of ``score`` (1 = high), -1 elsewhere, and a 70/30 split."""
    lo, hi = np.quantile(score, [fraction, 1 - fraction])
    labels = np.full(len(score), -1, np.int64)
    labels[score >= hi], labels[score <= lo] = 1, 0
    chosen = np.random.default_rng(seed).permutation(np.flatnonzero(labels >= 0))
    n_val = int(0.3 * len(chosen))
    return labels, {"train": sorted(chosen[n_val:].tolist()), "val": sorted(chosen[:n_val].tolist())}


@pytest.fixture(scope="module")
def planted():
    """Latents with a nonlinear attribute 'ring' and a second attribute 'mixed' correlated with it."""
    rng = np.random.default_rng(0)
    w = rng.standard_normal((N, W_DIM)).astype(np.float32)
    ring = w[:, 0] ** 2 + w[:, 1] ** 2 - 0.5 * w[:, 2]            # no linear rule separates its extremes
    mixed = ring + 1.5 * w[:, 3] * w[:, 4]
    labels, splits = {}, {}
    for i, (name, score) in enumerate((("ring", ring), ("mixed", mixed))):
        labels[name], splits[name] = select_extremes(score, 0.25, i)
    return w, {"ring": ring, "mixed": mixed}, labels, splits


def test_nonlinear_and_correlated_labels_learned(planted):
    w, scores, labels, splits = planted
    assert np.corrcoef(scores["ring"], scores["mixed"])[0, 1] > 0.6
    # The extremes of 'ring' are not linearly separable: a linear branch stays well below a hidden one.
    linear, _ = train_classifier(w, {"ring": labels["ring"]}, {"ring": splits["ring"]}, {"ring": 1},
                                 hidden_size=None, n_epochs=8, lr=1e-2)
    val = np.asarray(splits["ring"]["val"])
    assert accuracy(linear.predict(w[val])["ring"], labels["ring"][val], 1) < 0.85
    clf, metrics = train_classifier(w, labels, splits, {"ring": 1, "mixed": 1}, hidden_size=16, n_epochs=12,
                                    lr=1e-2, seed=1)
    for name in ("ring", "mixed"):
        assert metrics["best_val_accuracy"][name] >= 0.95, metrics["best_val_accuracy"]
        # the returned weights are those of the recorded best epoch
        val = np.asarray(splits[name]["val"])
        assert accuracy(clf.predict(w[val])[name], labels[name][val], 1) == metrics["best_val_accuracy"][name]
        epoch = metrics["best_epoch"][name]
        assert metrics["epochs"][epoch - 1]["val_accuracy"][name] == metrics["best_val_accuracy"][name]
    assert [e["epoch"] for e in metrics["epochs"]] == list(range(1, 13))


def test_k_class_training():
    rng = np.random.default_rng(3)
    w = rng.standard_normal((900, 8)).astype(np.float32)
    scores = np.stack([w[:, 0] * w[:, 1], w[:, 2], -w[:, 2] + 0.5 * w[:, 3] ** 2], axis=1)
    labels = np.argmax(scores, axis=1).astype(np.int64)
    order = rng.permutation(900)
    split = {"train": sorted(order[:630].tolist()), "val": sorted(order[630:].tolist())}
    clf, metrics = train_classifier(w, {"c": labels}, {"c": split}, {"c": 3}, n_epochs=15, lr=1e-2, seed=0)
    assert clf.num_classes == {"c": 3}
    assert metrics["best_val_accuracy"]["c"] >= 0.85


def test_branch_reads_only_its_own_samples_and_seed_determinism(planted):
    w, _, labels, splits = planted
    kwargs = dict(n_epochs=2, seed=4, hidden_size=4)
    a, _ = train_classifier(w, labels, splits, {"ring": 1, "mixed": 1}, **kwargs)
    noisy = {name: np.where(v >= 0, v, 5) for name, v in labels.items()}     # garbage outside the selection
    b, _ = train_classifier(w, noisy, splits, {"ring": 1, "mixed": 1}, **kwargs)
    for x, y in zip(a.model.get_weights(), b.model.get_weights()):
        np.testing.assert_array_equal(x, y)


def test_learning_rate_is_honoured(planted):
    w, _, labels, splits = planted
    data = ({"ring": labels["ring"]}, {"ring": splits["ring"]}, {"ring": 1})
    from gradctrl.classifier.model import LatentClassifier

    untrained = LatentClassifier(W_DIM, ["ring"], {"ring": 1}, hidden_size=4, seed=2).model.get_weights()
    tiny, _ = train_classifier(w, *data, hidden_size=4, n_epochs=1, lr=1e-9, seed=2)
    big, _ = train_classifier(w, *data, hidden_size=4, n_epochs=1, lr=1e-2, seed=2)
    moved_tiny = max(np.abs(x - y).max() for x, y in zip(tiny.model.get_weights(), untrained))
    moved_big = max(np.abs(x - y).max() for x, y in zip(big.model.get_weights(), untrained))
    assert moved_tiny < 1e-6 < 1e-2 < moved_big


def test_input_errors(planted):
    w, _, labels, splits = planted
    with pytest.raises(UserError, match="labels must lie in"):
        bad = labels["ring"].copy()
        bad[splits["ring"]["train"][0]] = 2
        train_classifier(w, {"ring": bad}, {"ring": splits["ring"]}, {"ring": 1}, n_epochs=1)
    with pytest.raises(UserError, match="no training samples"):
        train_classifier(w, {"ring": labels["ring"]}, {"ring": {"train": [], "val": [1]}}, {"ring": 1}, n_epochs=1)


def _write_data(path, planted):
    w, scores, labels, splits = planted
    data = DataDir(latents=w, scores={k: v.astype(np.float32) for k, v in scores.items()}, labels=labels,
                   splits=splits, manifest={"seed": 0})
    write_data_dir(path, data)


def test_train_cli(tmp_path, planted, capsys):
    _write_data(tmp_path / "data", planted)
    assert train.main(["--data_dir", str(tmp_path / "data"), "--out_dir", str(tmp_path / "model"),
                       "--attributes", "mixed", "--n_epochs", "3", "--hidden_size", "none", "--lr", "0.01",
                       "--quiet"]) == 0
    clf = load_classifier(tmp_path / "model")
    assert clf.attributes == ["mixed"] and clf.hidden_size is None
    metrics = json.loads((tmp_path / "model" / "metrics.json").read_text())
    assert metrics["settings"] == {"lr": 0.01, "batch_size": 32, "n_epochs": 3, "hidden_size": None,
                                   "n_shared_layers": 0, "seed": 0}
    assert [sorted(e["val_accuracy"]) for e in metrics["epochs"]] == [["mixed"]] * 3
    assert all(0 <= e["train_accuracy"]["mixed"] <= 1 for e in metrics["epochs"])
    assert "best validation accuracy" in capsys.readouterr().out


@pytest.mark.parametrize("flags, message", [
    (["--attributes", "ring,hair"], "--attributes 'hair': the data directory .* has no such attribute"),
    (["--lr", "0"], "--lr 0.0: must be greater than 0"),
    (["--n_epochs", "0"], "--n_epochs 0: must be at least 1"),
    (["--config", "CONFIG"], "config .*c.toml: key 'attributes.ring.classes' is 3 but the data directory scores "
                             r"it with 1 class\(es\)"),
    (["--out_dir", "FILE"], "output '.*file.txt' exists and is not a gradctrl model directory"),
])
def test_train_cli_errors(tmp_path, planted, capsys, flags, message):
    _write_data(tmp_path / "data", planted)
    (tmp_path / "c.toml").write_text("[attributes.ring]\nclasses = 3\n")
    (tmp_path / "file.txt").write_text("not a model")
    places = {"CONFIG": str(tmp_path / "c.toml"), "FILE": str(tmp_path / "file.txt")}
    flags = [places.get(f, f) for f in flags]
    with pytest.raises(SystemExit) as exit_info:
        train.main(["--data_dir", str(tmp_path / "data"), "--out_dir", str(tmp_path / "model"), "--quiet", *flags])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("train.py: error: ") and len(err.strip().splitlines()) == 1
    import re
    assert re.search(message, err), err
    assert not (tmp_path / "model").exists()


def test_shared_layers_keep_best_mean_epoch(planted):
    w, _, labels, splits = planted
    clf, metrics = train_classifier(w, labels, splits, {"ring": 1, "mixed": 1}, hidden_size=8, n_shared_layers=1,
                                    n_epochs=3, lr=1e-2, seed=0)
    assert len(clf.shared_layers) == 1
    best = metrics["best_epoch"]["ring"]
    assert best == metrics["best_epoch"]["mixed"]
    means = [np.mean(list(e["val_accuracy"].values())) for e in metrics["epochs"]]
    assert best == 1 + int(np.argmax(means))
    for name in ("ring", "mixed"):
        val = np.asarray(splits[name]["val"])
        assert accuracy(clf.predict(w[val])[name], labels[name][val], 1) == metrics["best_val_accuracy"][name]


def test_without_validation_samples_last_epoch_is_kept(planted):
    w, _, labels, splits = planted
    split = {"train": splits["ring"]["train"], "val": []}
    _, metrics = train_classifier(w, {"ring": labels["ring"]}, {"ring": split}, {"ring": 1}, n_epochs=2)
    assert metrics["best_epoch"] == {"ring": 2} and metrics["best_val_accuracy"] == {"ring": None}
