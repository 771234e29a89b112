"""The embedded demo, reduced in size: scripts/demo.sh runs prepare_data -> train -> manipulate -> summary."""
import json
import os
import subprocess
from pathlib import Path

import numpy as np

from gradctrl.data.datadir import read_data_dir

ROOT = Path(__file__).resolve().parents[1]


def test_demo_script_end_to_end(tmp_path):
    # A checkout view whose build/ folder is fresh: the demo generator is built there on first use.
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    for entry in ("configs", "gradctrl", "stylegan2", "scripts", "prepare_data.py", "train.py", "manipulate.py"):
        (checkout / entry).symlink_to(ROOT / entry)
    out = tmp_path / "out"
    env = dict(os.environ, GRADCTRL_DEMO_N_SAMPLES="600", GRADCTRL_DEMO_EPOCHS="2", GRADCTRL_DEMO_EDITS="3",
               GRADCTRL_DEMO_ATTRIBUTES="warmth color", GRADCTRL_DEMO_CONFIG="configs/demo.toml",
               TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run(["bash", str(checkout / "scripts" / "demo.sh"), str(out)], env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert (checkout / "build" / "demo" / "generator_skip32_seed2026.pkl").is_file()

    data = read_data_dir(out / "data")
    assert data.n_samples == 600 and data.w_dim == 128
    assert data.attributes == ["brightness", "warmth", "color"] and data.num_classes("color") == 3
    metrics = json.loads((out / "model" / "metrics.json").read_text())
    assert metrics["attributes"] == ["brightness", "warmth", "color"]
    for setting in ("with_exclusion", "without_exclusion"):
        folder = out / "edits" / setting
        assert len(list(folder.glob("*_warmth_*.png"))) == 2 * 3 and len(list(folder.glob("*_color_*.png"))) == 3 * 3
        settings = json.loads((folder / "warmth_settings.json").read_text())
        assert settings["exclude"] == ({"brightness": 32, "color": 32} if setting == "with_exclusion" else {})
        assert (folder / "index.html").is_file() and len(list(folder.glob("page/*.gif"))) == 2 * 3 + 3 * 3
    assert 'href="edits/with_exclusion/index.html"' in (out / "index.html").read_text()  # the demo's page

    summary = (out / "summary.txt").read_text()
    assert summary == result.stdout.split("== 4/4 summary\n")[1].split("demo finished")[0]
    rows = json.loads((out / "edits" / "summary.json").read_text())["rows"]
    labels = [(r["attribute"], r["label"], r["setting"]) for r in rows]
    assert labels == [(a, c, s) for a, cases in (("warmth", ("+1", "-1")), ("color", ("to red", "to green", "to blue")))
                      for c in cases for s in ("with_exclusion", "without_exclusion")]
    for row in rows:
        others = {"warmth": ("brightness", "color"), "color": ("brightness", "warmth")}[row["attribute"]]
        assert all(np.isfinite(row[f"{o}_mean_abs_change"]) and row[f"{o}_mean_abs_change"] >= 0 for o in others)
        assert np.isfinite(row["target_mean_change"])
        assert f"{row['target_mean_change']:+.4f}" in summary


def test_world_demo_reports_exact_labels(tmp_path):
    """The default demo (configs/world.toml, the shipped world generator), reduced: exact-label table for
    eyeglasses and hair colour edits, with and without exclusion."""
    out = tmp_path / "out"
    env = dict(os.environ, GRADCTRL_DEMO_N_SAMPLES="800", GRADCTRL_DEMO_EPOCHS="2", GRADCTRL_DEMO_EDITS="4",
               GRADCTRL_DEMO_ATTRIBUTES="eyeglasses hair_colour", TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run(["bash", str(ROOT / "scripts" / "demo.sh"), str(out)], env=env, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    data = read_data_dir(out / "data")
    assert data.attributes == ["eyeglasses", "smile", "age", "hair_length", "pose", "hair_colour"]
    assert data.w_dim == 128 and data.num_classes("hair_colour") == 4
    rows = json.loads((out / "edits" / "summary.json").read_text())["rows"]
    assert [(r["attribute"], r["label"]) for r in rows[::2]] == [
        ("eyeglasses", "+1"), ("eyeglasses", "-1"), ("hair_colour", "to black"), ("hair_colour", "to brown"),
        ("hair_colour", "to blond"), ("hair_colour", "to red")]
    for row in rows:
        assert 0 <= row["target_label_before"] <= 1 and 0 <= row["target_label_after"] <= 1
        others = [name for name in data.attributes if name != row["attribute"]]
        assert all(0 <= row[f"{name}_label_changed"] <= 1 for name in others)
    assert "Exact labels (world scorer)" in (out / "summary.txt").read_text()
