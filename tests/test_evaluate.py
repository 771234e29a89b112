"""evaluate.py end to end on the tiny generator with the built-in scorers (fast settings)."""
import csv
import json

import numpy as np
import pytest

from gradctrl.commands import evaluate

STEPS = 3
STEP = 0.5
CONFIG = f"""
[generator]
file = "GENERATOR"
truncation = 0.7

[attributes.brightness]
scorer = "builtin:brightness"
exclude = {{ warmth = 8 }}
steps = {STEPS}
step_size = {STEP}

[attributes.warmth]
scorer = "builtin:warmth"
layers = [1, 4]
steps = {STEPS}
step_size = {STEP}

[attributes.color]
classes = 3
class_names = ["red", "green", "blue"]
scorer = "builtin:color3"
steps = {STEPS}
step_size = {STEP}
"""


@pytest.fixture(scope="module")
def setup(tmp_path_factory, tiny_generator_path, tiny_generator):
    """Config, data directory (300 samples scored by the built-ins) and an untrained classifier on them."""
    from gradctrl.classifier.model import LatentClassifier, save_classifier
    from gradctrl.data.datadir import build_data_dir
    from gradctrl.data.datadir import write_data_dir
    from gradctrl.data.latents import STREAM_DATA, sample_w
    from gradctrl.data.scorers import make_scorer
    import stylegan2

    root = tmp_path_factory.mktemp("evaluate")
    config = root / "tiny.toml"
    config.write_text(CONFIG.replace("GENERATOR", str(tiny_generator_path)))
    G = tiny_generator
    w = sample_w(G, 0, np.arange(300), 0.7, STREAM_DATA)
    images = stylegan2.to_uint8(G.synthesis(np.repeat(w[:, None], G.num_ws, axis=1)))
    scores = {name: make_scorer(spec)(images) for name, spec in
              (("brightness", "builtin:brightness"), ("warmth", "builtin:warmth"), ("color", "builtin:color3"))}
    write_data_dir(root / "data", build_data_dir(w, scores, {"generator": "tiny"}, 0, 0.1, 0.3))
    clf = LatentClassifier(G.w_dim, ["brightness", "warmth", "color"], {"brightness": 1, "warmth": 1, "color": 3},
                           seed=3)
    save_classifier(clf, root / "model")
    return root


def _args(root, out, *extra):
    return ["--config", str(root / "tiny.toml"), "--model_dir", str(root / "model"), "--data_dir",
            str(root / "data"), "--out_dir", str(out), "--n_samples", "6", "--batch_size", "4", *extra]


def _read_csv(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def test_image_evaluation_writes_consistent_curves_and_tables(setup, tiny_generator, capsys):
    out = setup / "eval"
    evaluate.main(_args(setup, out))
    assert sorted(p.name for p in out.iterdir()) == ["curves.csv", "curves.png", "evaluation.json", "index.html",
                                                     "summary.csv", "summary.md"]
    curves = _read_csv(out / "curves.csv")
    summary = _read_csv(out / "summary.csv")
    settings = json.loads((out / "evaluation.json").read_text())
    # Exclusion methods only where the config excludes something (brightness); everything else for all edits.
    edits = {(r["attribute"], r["edit"]) for r in summary}
    assert edits == {("brightness", "+1"), ("brightness", "-1"), ("warmth", "+1"), ("warmth", "-1"),
                     ("color", "to red"), ("color", "to green"), ("color", "to blue")}
    methods = {(r["attribute"], r["method"]) for r in summary}
    assert ("brightness", "gradctrl_exclude") in methods and ("brightness", "interfacegan_cond") in methods
    assert ("warmth", "gradctrl_exclude") not in methods and ("warmth", "ganspace") in methods
    assert len(summary) == 2 * 5 + 2 * 3 + 3 * 3
    for row in curves:                                   # every method walks the same path, from zero change
        assert float(row["distance"]) == pytest.approx(int(row["step"]) * STEP)
        if row["step"] == "0":
            assert float(row["target"]) == 0 and float(row["nontarget"]) == 0 and float(row["drift"]) == 0
    assert len(curves) == len(summary) * (STEPS + 1)
    assert "| GradCtrl (exclusion) |" in (out / "summary.md").read_text()
    assert "Notes:" in (out / "summary.md").read_text()            # exclusion methods skipped for warmth...
    assert settings["n_samples"] == 6 and settings["targets"] == ["brightness", "warmth", "color"]

    # Independent recomputation of one value: InterFaceGAN on warmth, -1, last step, rendered here directly.
    import stylegan2
    from gradctrl.data.datadir import read_data_dir
    from gradctrl.data.latents import STREAM_EVAL, sample_w
    from gradctrl.data.scorers import make_scorer
    from gradctrl.edit.methods import baseline_directions

    G = tiny_generator
    w = sample_w(G, 0, np.arange(6), 0.7, STREAM_EVAL)
    direction = baseline_directions("interfacegan", read_data_dir(setup / "data"), "warmth")[0]
    ws = np.repeat(w[:, None], G.num_ws, axis=1)
    edited = ws.copy()
    edited[:, 1:4] -= STEPS * STEP * direction                       # layers [1, 4) get the edited w
    warmth = make_scorer("builtin:warmth")
    before = warmth(stylegan2.to_uint8(G.synthesis(ws)))
    after = warmth(stylegan2.to_uint8(G.synthesis(edited)))
    expected = -np.mean(after - before) / np.std(before)
    row = [r for r in curves if (r["attribute"], r["edit"], r["method"], r["step"]) ==
           ("warmth", "-1", "interfacegan", str(STEPS))][0]
    assert float(row["target"]) == pytest.approx(expected, rel=1e-4, abs=1e-6)
    assert settings["stds"]["warmth"] == pytest.approx(np.std(before), rel=1e-5)
    assert "wrote" in capsys.readouterr().out


def test_latent_only_evaluation_has_no_drift(setup):
    out = setup / "eval_latent"
    evaluate.main(_args(setup, out, "--latent_only", "--methods", "gradctrl,interfacegan", "--attributes", "color"))
    summary = _read_csv(out / "summary.csv")
    assert {r["method"] for r in summary} == {"gradctrl", "interfacegan"}
    assert all(r["drift@1"] == "" for r in summary) and "drift" not in _read_csv(out / "curves.csv")[0]
    # GradCtrl climbs the very classifier that scores it here: its class-probability curves rise.
    for row in summary:
        if row["method"] == "gradctrl":
            assert float(row["target_end"]) > 0


@pytest.mark.parametrize("extra, message", [
    (["--methods", "gradctrl,svm"], "--methods 'gradctrl,svm': unknown method 'svm'"),
    (["--attributes", "pose"], "--attributes: 'pose' is not an attribute of the classifier"),
    (["--n_samples", "1"], "--n_samples 1: at least 2 held-out latents"),
    (["--steps", "0"], "--steps 0: must be at least 1"),
])
def test_bad_flags_are_one_line_errors(setup, capsys, extra, message):
    with pytest.raises(SystemExit) as e:
        evaluate.main(_args(setup, setup / "never", *extra))
    err = capsys.readouterr().err
    assert e.value.code == 2 and message in err and err.count("\n") == 1
    assert not (setup / "never").exists()


def test_baselines_need_a_data_directory_and_outputs_are_not_clobbered(setup, capsys):
    args = ["--config", str(setup / "tiny.toml"), "--model_dir", str(setup / "model"), "--out_dir",
            str(setup / "never")]
    with pytest.raises(SystemExit):
        evaluate.main(args)
    assert "--methods includes interfacegan_cond, which needs --data_dir" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        evaluate.main(_args(setup, setup / "data", "--latent_only", "--methods", "gradctrl"))
    assert "exists and is not an evaluation directory" in capsys.readouterr().err and (setup / "data" / "latents.npy").exists()


def test_an_attribute_with_an_empty_class_blocks_no_other_and_bars_show_progress(setup, tmp_path, capsys):
    """Issue 13, items 3, 8, 9: InterFaceGAN cannot fit 'color' (no selected sample of class 1) and says so in
    the notes while every other comparison is made; the summary gives each method's levels with counts; the
    edit and render loops show bars with rate and ETA, none under --no_progress."""
    import shutil

    data = tmp_path / "data"
    shutil.copytree(setup / "data", data)
    labels = np.load(data / "labels" / "color.npy")
    np.save(data / "labels" / "color.npy", np.where(labels == 1, 0, labels))
    out = tmp_path / "eval"
    args = _args(setup, out, "--methods", "gradctrl,interfacegan")
    args[args.index("--data_dir") + 1] = str(data)
    evaluate.main(args)
    captured = capsys.readouterr()
    for bar in ("editing", "rendering"):
        assert any(line.startswith(f"{bar}: 100%") and "<00:00" in line and "/s]" in line
                   for line in captured.err.replace("\r", "\n").splitlines()), captured.err
    summary = (out / "summary.md").read_text()
    assert ("InterFaceGAN on 'color' to green left out: attribute 'color' has no selected training sample of class 1 "
            "in the data directory, so InterFaceGAN has no boundary to fit") in summary
    rows = _read_csv(out / "summary.csv")
    assert {(r["attribute"], r["method"]) for r in rows} == {  # InterFaceGAN fits all classes of 'color' at once
        (a, m) for a in ("brightness", "warmth", "color") for m in ("gradctrl", "interfacegan")} - {("color", "interfacegan")}
    made = {m: sum(r["method"] == m for r in rows) for m in ("gradctrl", "interfacegan")}
    table = summary.split("Every edit")[0]
    for method, title in (("gradctrl", "GradCtrl (no exclusion)"), ("interfacegan", "InterFaceGAN")):
        line = next(l for l in table.splitlines() if l.startswith(f"| {title} |"))
        assert line.count(f"/{made[method]})") == 6, line  # every cell: its mean and reached / made
    evaluate.main(args + ["--no_progress"])
    assert capsys.readouterr().err == ""


def test_the_latent_only_summary_promises_no_drift(setup, tmp_path):
    """Issue 13, item 12: the latent-only header and tables say nothing of drift."""
    out = tmp_path / "eval"
    evaluate.main(_args(setup, out, "--latent_only", "--methods", "gradctrl", "--no_progress"))
    assert "drift" not in (out / "summary.md").read_text().lower()


def test_a_class_count_unlike_the_classifiers_leaves_out_only_that_attributes_baseline(setup, tmp_path):
    """Issue 13, item 3: a data directory whose 'color' is binary while the classifier has 3 classes leaves
    InterFaceGAN on 'color' out with a note naming the mismatch; every other comparison is made."""
    import shutil

    data = tmp_path / "data"
    shutil.copytree(setup / "data", data)
    scores = np.load(data / "scores" / "color.npy")
    labels = np.load(data / "labels" / "color.npy")
    np.save(data / "scores" / "color.npy", scores[:, 0])
    np.save(data / "labels" / "color.npy", (labels == 0).astype(labels.dtype))
    out = tmp_path / "eval"
    args = _args(setup, out, "--methods", "gradctrl,interfacegan", "--no_progress")
    args[args.index("--data_dir") + 1] = str(data)
    evaluate.main(args)
    summary = (out / "summary.md").read_text()
    assert ("InterFaceGAN on 'color' to red left out: attribute 'color' has 1 score column(s) in --data_dir but 3 "
            "in the classifier") in summary
    rows = _read_csv(out / "summary.csv")
    assert {(r["attribute"], r["method"]) for r in rows} == {
        (a, m) for a in ("brightness", "warmth", "color") for m in ("gradctrl", "interfacegan")} - {("color", "interfacegan")}
