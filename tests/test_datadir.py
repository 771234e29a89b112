"""The data directory format: a round trip, atomic writes, and one-line errors for every broken file."""
import json

import numpy as np
import pytest

from gradctrl.data.datadir import DataDir, read_data_dir, write_data_dir
from gradctrl.errors import UserError


def _example(n=12, w_dim=5):
    """A small valid DataDir: a binary attribute 'light' and a 3-class attribute 'hue'."""
    rng = np.random.default_rng(0)
    hue = rng.standard_normal((n, 3)).astype(np.float32)
    light_labels = np.full(n, -1, np.int64)
    light_labels[[0, 1, 2]] = 1
    light_labels[[3, 4, 5]] = 0
    return DataDir(
        latents=rng.standard_normal((n, w_dim)).astype(np.float32),
        scores={"light": rng.standard_normal(n).astype(np.float32), "hue": hue},
        labels={"light": light_labels, "hue": hue.argmax(1).astype(np.int64)},
        splits={"light": {"train": [0, 1, 3, 4], "val": [2, 5]}, "hue": {"train": [6, 7, 8], "val": [9]}},
        manifest={"seed": 3, "n_samples": n},
    )


def test_round_trip_keeps_every_array_and_order(tmp_path):
    data = _example()
    write_data_dir(tmp_path / "d", data)
    back = read_data_dir(tmp_path / "d")
    assert back.attributes == ["light", "hue"]
    assert back.num_classes("light") == 1 and back.num_classes("hue") == 3
    assert back.n_samples == 12 and back.w_dim == 5
    np.testing.assert_array_equal(back.latents, data.latents)
    for attr in data.attributes:
        np.testing.assert_array_equal(back.scores[attr], data.scores[attr])
        np.testing.assert_array_equal(back.labels[attr], data.labels[attr])
        assert back.labels[attr].dtype == np.int64 and back.scores[attr].dtype == np.float32
    assert back.splits == data.splits and back.manifest == data.manifest
    names = sorted(str(p.relative_to(tmp_path / "d")) for p in (tmp_path / "d").rglob("*"))
    assert names == ["labels", "labels/hue.npy", "labels/light.npy", "latents.npy", "manifest.json",
                     "scores", "scores/hue.npy", "scores/light.npy", "splits.json"]


def test_rewrite_replaces_and_leaves_no_temporaries(tmp_path):
    write_data_dir(tmp_path / "d", _example())
    data = _example(n=20)
    write_data_dir(tmp_path / "d", data)
    assert read_data_dir(tmp_path / "d").n_samples == 20
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]


def test_invalid_data_is_never_written(tmp_path):
    data = _example()
    data.splits["light"]["val"] = [2, 99]
    with pytest.raises(UserError, match=r"splits.json 'light'.val holds index 99 outside \[0, 12\)"):
        write_data_dir(tmp_path / "d", data)
    assert list(tmp_path.iterdir()) == []


def test_refuses_to_replace_a_folder_that_is_not_a_data_directory(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "thesis.tex").write_text("precious")
    with pytest.raises(UserError, match="exists and is not a data directory"):
        write_data_dir(tmp_path / "d", _example())
    assert (tmp_path / "d" / "thesis.tex").read_text() == "precious"


def _break(path, how):
    """Damage a written data directory in one way."""
    if how == "no latents":
        (path / "latents.npy").unlink()
    elif how == "no labels":
        (path / "labels" / "hue.npy").unlink()
    elif how == "short scores":
        np.save(path / "scores" / "light.npy", np.zeros(11, np.float32))
    elif how == "float labels":
        np.save(path / "labels" / "light.npy", np.zeros(12, np.float32))
    elif how == "nan scores":
        np.save(path / "scores" / "light.npy", np.full(12, np.nan, np.float32))
    elif how == "extra scores":
        np.save(path / "scores" / "age.npy", np.zeros(12, np.float32))
    elif how == "bad split":
        (path / "splits.json").write_text(json.dumps({"light": {"train": [0, 40], "val": []}, "hue": {"train": [6], "val": []}}))
    elif how == "bad json":
        (path / "manifest.json").write_text("{")
    elif how == "unselected label":
        labels = np.load(path / "labels" / "light.npy")
        labels[0] = -1
        np.save(path / "labels" / "light.npy", labels)
    elif how == "pickled":
        np.save(path / "latents.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)


@pytest.mark.parametrize("how, message", [
    ("no latents", "missing latents.npy"),
    ("no labels", "missing labels/hue.npy"),
    ("short scores", r"scores/light.npy must be float32 of shape \(12,\) or \(12, K >= 2\) to match 12 latents, "
                     r"got float32 \(11,\)"),
    ("float labels", r"labels/light.npy must be int64 of shape \(12,\)"),
    ("nan scores", "scores/light.npy holds NaN"),
    ("extra scores", "scores/age.npy has no entry in splits.json"),
    ("bad split", r"'light'.train holds index 40 outside \[0, 12\)"),
    ("bad json", "manifest.json is not valid JSON"),
    ("unselected label", r"gives a selected sample a label outside \[0, 2\)"),
    ("pickled", "latents.npy is not a readable .npy file"),
])
def test_broken_directories_are_one_line_errors(tmp_path, how, message):
    write_data_dir(tmp_path / "d", _example())
    _break(tmp_path / "d", how)
    with pytest.raises(UserError, match=message) as info:
        read_data_dir(tmp_path / "d")
    assert "\n" not in str(info.value) and f"data directory '{tmp_path / 'd'}'" in str(info.value)


def test_missing_directory(tmp_path):
    with pytest.raises(UserError, match="does not exist: create it with prepare_data.py"):
        read_data_dir(tmp_path / "nowhere")
