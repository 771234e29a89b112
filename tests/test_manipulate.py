"""manipulate.py (gradctrl.commands.manipulate): the edit stage end to end on the tiny generator, its outputs,
its one-line errors, and the baseline methods rendered like GradCtrl."""
import json
import pickle
import re

import numpy as np
import pytest
from PIL import Image

from gradctrl.classifier.model import LatentClassifier, load_classifier, save_classifier
from gradctrl.commands import manipulate
from gradctrl.data import latents
from gradctrl.edit.editing import edit_trajectory
from gradctrl.render import render_strips


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A random classifier on the tiny generator's 32-wide w: binary 'a', 'b' and a 3-class 'c'."""
    path = tmp_path_factory.mktemp("model") / "m"
    save_classifier(LatentClassifier(32, ["a", "b", "c"], {"a": 1, "b": 1, "c": 3}, hidden_size=8, seed=5), path)
    return path


def run(*flags):
    return manipulate.main([str(f) for f in flags])


def test_binary_edit_outputs(tmp_path, model_dir, tiny_generator, tiny_generator_path):
    out = tmp_path / "out"
    run("--model_dir", model_dir, "--attribute", "a", "--out_dir", out, "--generator", tiny_generator_path,
        "--n_samples", 3, "--exclude", "b,c", "--top_channels", "5,3", "--layerwise", "1:4", "--steps", 3,
        "--seed", 7, "--batch_size", 2)
    clf = load_classifier(model_dir)
    w0 = latents.sample_w(tiny_generator, 7, range(3), 0.4, latents.STREAM_EDIT)
    data = np.load(out / "a_edits.npz")
    np.testing.assert_array_equal(data["w0"], w0)
    settings = json.loads((out / "a_settings.json").read_text())
    assert settings["exclude"] == {"b": 5, "c": 3} and settings["layers"] == [1, 4] and settings["num_ws"] == 6
    assert settings["cases"] == ["positive", "negative"] and settings["zero_gradient_steps"] == {"positive": 0,
                                                                                                   "negative": 0}
    for case, direction in (("positive", 1), ("negative", -1)):
        expected = edit_trajectory(clf, w0, "a", direction, exclude={"b": 5, "c": 3}, steps=3)
        np.testing.assert_allclose(data[f"traj_{case}"], expected, atol=1e-6)
        assert data[f"probs_{case}_c"].shape == (3, 4, 3) and data[f"probs_{case}_b"].shape == (3, 4)
        np.testing.assert_allclose(data[f"probs_{case}_a"][:, 0], clf.predict(w0)["a"], atol=1e-6)
        np.testing.assert_allclose(data[f"probs_{case}_a"][:, 1:], clf.predict(expected.reshape(-1, 32))["a"]
                                   .reshape(3, 3), atol=1e-5)
        assert (direction * np.diff(data[f"probs_{case}_a"], axis=1) > 0).all()
        strips = render_strips(tiny_generator, w0, expected, (1, 4))
        for i in range(3):
            image = np.asarray(Image.open(out / f"{i:04d}_a_{case}.png"))
            assert image.shape == (16, 4 * 16, 3)
            assert np.abs(image.astype(int) - strips[i].astype(int)).max() <= 1
    assert not [p for p in out.iterdir() if p.name.startswith(".")]          # no temporaries left


def test_k_class_config_defaults_and_input_file(tmp_path, model_dir, tiny_generator_path):
    config = tmp_path / "c.toml"
    config.write_text(f'[generator]\nfile = "{tiny_generator_path}"\n\n'
                      '[attributes.c]\nclasses = 3\nexclude = { a = 4 }\nlayers = [2, 6]\nsteps = 2\n'
                      'step_size = 0.5\n\n[attributes.a]\n[attributes.b]\n')
    w = np.random.default_rng(0).standard_normal((4, 32)).astype(np.float32)
    with open(tmp_path / "latents.pkl", "wb") as f:            # the authors' pickled latents
        pickle.dump(w, f)
    out = tmp_path / "out"
    run("--model_dir", model_dir, "--attribute", "c", "--out_dir", out, "--config", config,
        "--input_dir", tmp_path, "--n_samples", 2)
    settings = json.loads((out / "c_settings.json").read_text())
    assert settings["cases"] == ["class0", "class1", "class2"]
    assert settings["exclude"] == {"a": 4} and settings["layers"] == [2, 6] and settings["steps"] == 2
    assert settings["step_size"] == 0.5 and settings["n_latents"] == 2
    data = np.load(out / "c_edits.npz")
    np.testing.assert_array_equal(data["w0"], w[:2])
    clf = load_classifier(model_dir)
    for c in range(3):
        expected = edit_trajectory(clf, w[:2], "c", 1, target_class=c, exclude={"a": 4}, steps=2, step_size=0.5)
        np.testing.assert_allclose(data[f"traj_class{c}"], expected, atol=1e-6)
        assert (out / f"0001_c_class{c}.png").is_file()
    # flags win over the config: no exclusion, other layers
    run("--model_dir", model_dir, "--attribute", "c", "--out_dir", out, "--config", config,
        "--input_dir", tmp_path / "latents.pkl", "--exclude", "none", "--layerwise", "0:3", "--n_samples", 1)
    settings = json.loads((out / "c_settings.json").read_text())
    assert settings["exclude"] == {} and settings["layers"] == [0, 3]


def test_zero_gradient_steps_reported(tmp_path, model_dir, tiny_generator_path, capsys):
    out = tmp_path / "out"
    run("--model_dir", model_dir, "--attribute", "b", "--out_dir", out, "--generator", tiny_generator_path,
        "--n_samples", 2, "--exclude", "a", "--top_channels", 32, "--steps", 2)
    settings = json.loads((out / "b_settings.json").read_text())
    assert settings["zero_gradient_steps"] == {"positive": 4, "negative": 4}
    said = capsys.readouterr().out
    # 2 latents x 2 steps x 2 directions, every one stalled (all 32 channels masked): said with what to do
    assert "note: 8 of 8 steps (100 %) left a latent unchanged: the exclusion masked every channel" in said, said
    assert "a smaller step (--step_size) or fewer steps (--steps)" in said and "--top_channels" in said, said
    data = np.load(out / "b_edits.npz")
    previous = np.concatenate([data["w0"][:, None], data["traj_positive"][:, :-1]], axis=1)
    assert np.all(data["traj_positive"] == previous, axis=2).sum() == 4


@pytest.mark.parametrize("flags, message", [
    (["--attribute", "hair"], r"--attribute 'hair': the classifier in '.*' has no such attribute \(it has a, b, c\)"),
    (["--exclude", "a"], "--exclude 'a': the edited attribute cannot be excluded from its own edit"),
    (["--exclude", "b,zz", "--top_channels", "1,1"], r"--exclude 'zz': the classifier in '.*' has no such attribute"),
    (["--exclude", "b,c", "--top_channels", "4"],
     r"--top_channels '4' gives 1 count\(s\) but --exclude names 2 attribute\(s\) \(b, c\)"),
    (["--exclude", "b", "--top_channels", "33"], r"--top_channels 33 for 'b': top-k must be in \[0, 32\]"),
    (["--exclude", "b", "--top_channels", "-1"], r"--top_channels -1 for 'b': top-k must be in \[0, 32\]"),
    (["--exclude", "b"], "--exclude 'b': the config gives no top-k for it: pass --top_channels"),
    (["--layerwise", "2:9"], r"--layerwise '2:9': must satisfy 0 <= lo < hi <= 6 \(the generator's W\+ layers\)"),
    (["--layerwise", "3:3"], r"--layerwise '3:3': must satisfy 0 <= lo < hi <= 6"),
    (["--input_dir", "WIDE"], r"--input_dir '.*wide.npy': latent file .* width 16, but 32 is needed"),
    (["--model_dir", "OTHER"], r"--model_dir '.*other': model directory .* is neither a gradctrl model"),
    (["--steps", "0"], "--steps 0: must be at least 1"),
    (["--model_dir", "NARROW"], r"--generator '.*': its w has 32 channels but the classifier in '.*narrow' takes 16"),
])
def test_bad_input_messages(tmp_path, model_dir, tiny_generator_path, capsys, flags, message):
    np.save(tmp_path / "wide.npy", np.zeros((2, 16), np.float32))
    (tmp_path / "other").mkdir()
    save_classifier(LatentClassifier(16, ["a"], {"a": 1}), tmp_path / "narrow")
    places = {"WIDE": tmp_path / "wide.npy", "OTHER": tmp_path / "other", "NARROW": tmp_path / "narrow"}
    flags = [str(places.get(f, f)) for f in flags]
    args = {"--model_dir": str(model_dir), "--attribute": "a", "--out_dir": str(tmp_path / "out"),
            "--generator": str(tiny_generator_path), "--n_samples": "1", "--steps": "1"}
    for flag, value in zip(flags[::2], flags[1::2]):
        args[flag] = value
    with pytest.raises(SystemExit) as exit_info:
        manipulate.main([x for pair in args.items() for x in pair])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("manipulate.py: error: ") and len(err.strip().splitlines()) == 1, err
    assert re.search(message, err), err
    assert not (tmp_path / "out").exists()


# --- baseline methods (InterFaceGAN, GANSpace) through manipulate.py -----------------------------------

@pytest.fixture(scope="module")
def baseline_setup(tmp_path_factory, tiny_generator_path, tiny_generator):
    """A data directory scored by two built-ins and an (untrained) classifier of the same attributes."""
    import stylegan2
    from gradctrl.classifier.model import LatentClassifier, save_classifier
    from gradctrl.data.datadir import build_data_dir
    from gradctrl.data.datadir import write_data_dir
    from gradctrl.data.latents import STREAM_DATA, sample_w
    from gradctrl.data.scorers import make_scorer

    root = tmp_path_factory.mktemp("baseline_edits")
    G = tiny_generator
    w = sample_w(G, 0, np.arange(200), 0.7, STREAM_DATA)
    images = stylegan2.to_uint8(G.synthesis(np.repeat(w[:, None], G.num_ws, axis=1)))
    scores = {"brightness": make_scorer("builtin:brightness")(images), "color": make_scorer("builtin:color3")(images)}
    write_data_dir(root / "data", build_data_dir(w, scores, {"generator": "tiny"}, 0, 0.1, 0.3))
    save_classifier(LatentClassifier(G.w_dim, ["brightness", "color"], {"brightness": 1, "color": 3}), root / "model")
    return root


def run_baseline(baseline_setup, tiny_generator_path, out, *extra):
    manipulate.main(["--model_dir", str(baseline_setup / "model"), "--generator", str(tiny_generator_path),
                     "--out_dir", str(out), "--n_samples", "3", "--steps", "4", "--step_size", "0.5", *extra])


def test_interfacegan_edits_walk_the_conditioned_svm_normal(baseline_setup, tiny_generator_path):
    from gradctrl.data.datadir import read_data_dir
    from gradctrl.edit.methods import baseline_directions

    out = baseline_setup / "ifg"
    run_baseline(baseline_setup, tiny_generator_path, out, "--method", "interfacegan", "--attribute", "brightness",
         "--data_dir", str(baseline_setup / "data"), "--exclude", "color", "--top_channels", "0")
    edits = np.load(out / "brightness_edits.npz")
    direction = baseline_directions("interfacegan", read_data_dir(baseline_setup / "data"), "brightness", ["color"])[0]
    for case, sign in (("positive", 1), ("negative", -1)):
        expected = edits["w0"][:, None] + sign * 0.5 * np.arange(1, 5)[None, :, None] * direction
        np.testing.assert_allclose(edits[f"traj_{case}"], expected, atol=1e-5)
    assert (out / "0000_brightness_positive.png").exists() and (out / "0002_brightness_negative.png").exists()
    saved = np.load(out / "brightness_interfacegan_cond_directions.npy")  # reusable, as InterFaceGAN's scripts
    np.testing.assert_allclose(saved[0], direction, atol=1e-6)


def test_ganspace_edits_every_class_of_a_k_class_attribute(baseline_setup, tiny_generator_path):
    out = baseline_setup / "gs"
    run_baseline(baseline_setup, tiny_generator_path, out, "--method", "ganspace", "--attribute", "color",
         "--data_dir", str(baseline_setup / "data"))
    edits = np.load(out / "color_edits.npz")
    for c in range(3):
        steps = np.diff(np.concatenate([edits["w0"][:, None], edits[f"traj_class{c}"]], axis=1), axis=1)
        np.testing.assert_allclose(np.linalg.norm(steps, axis=2), 0.5, rtol=1e-4)     # equal steps of 0.5
        np.testing.assert_allclose(steps, np.broadcast_to(steps[:1, :1], steps.shape), atol=1e-5)  # one line


def test_baseline_without_data_directory_is_a_one_line_error(baseline_setup, tiny_generator_path, capsys):
    with pytest.raises(SystemExit) as e:
        run_baseline(baseline_setup, tiny_generator_path, baseline_setup / "none", "--method", "interfacegan",
                     "--attribute", "brightness")
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.count("\n") == 1
    assert "--method interfacegan needs --data_dir" in err


# --- one writer, whole edit folders (issue 13) -----------------------------------------------------------

def test_an_edit_folder_is_replaced_whole_and_never_mixed(tmp_path, model_dir, tiny_generator_path, monkeypatch):
    from gradctrl.edit import manipulation

    out = tmp_path / "out"
    flags = ("--model_dir", model_dir, "--generator", tiny_generator_path, "--out_dir", out, "--steps", 2,
             "--no_progress")
    run(*flags, "--attribute", "a", "--n_samples", 3)
    run(*flags, "--attribute", "b", "--n_samples", 1)
    run(*flags, "--attribute", "a", "--n_samples", 2, "--seed", 1)   # fewer strips: none of the first run's left
    names = sorted(p.name for p in out.iterdir())
    assert [n for n in names if "_a_" in n] == ["0000_a_negative.png", "0000_a_positive.png",
                                                 "0001_a_negative.png", "0001_a_positive.png"]
    assert "0000_b_positive.png" in names and "b_settings.json" in names   # another attribute's run is kept
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}   # with the page's

    def fail(path, image):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(manipulation, "write_strip", fail)
    with pytest.raises(SystemExit):
        run(*flags, "--attribute", "a", "--n_samples", 3, "--seed", 2)
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == before  # nothing changed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]          # no temporary, no lock left


def test_an_output_folder_of_other_files_or_a_file_is_refused(tmp_path, model_dir, tiny_generator_path, capsys):
    other = tmp_path / "photos"
    other.mkdir()
    (other / "holiday.jpg").write_bytes(b"x")
    regular = tmp_path / "file"
    regular.write_text("x")
    for out, message in ((other, "holds files that are not manipulate.py output (holiday.jpg)"),
                         (regular, "exists and is not a folder")):
        with pytest.raises(SystemExit) as e:
            run("--model_dir", model_dir, "--attribute", "a", "--out_dir", out, "--generator", tiny_generator_path)
        err = capsys.readouterr().err
        assert e.value.code == 2 and err.count("\n") == 1 and message in err, err
    assert (other / "holiday.jpg").read_bytes() == b"x" and regular.read_text() == "x"


def test_a_second_writer_of_an_edit_folder_is_refused(tmp_path, model_dir, tiny_generator_path, capsys):
    from test_reliability import _holder

    out = tmp_path / "out"
    holder = _holder(out)
    try:
        with pytest.raises(SystemExit) as e:
            run("--model_dir", model_dir, "--attribute", "a", "--out_dir", out, "--generator", tiny_generator_path)
    finally:
        holder.kill()
        holder.wait()
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.count("\n") == 1 and f"is in use by another process (pid {holder.pid})" in err


def test_sampled_latents_follow_the_truncation_the_data_recorded(tmp_path, model_dir, tiny_generator,
                                                               tiny_generator_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    (data / "manifest.json").write_text(json.dumps({"truncation": 0.7}))
    out = tmp_path / "out"
    run("--model_dir", model_dir, "--attribute", "a", "--out_dir", out, "--generator", tiny_generator_path,
        "--n_samples", 2, "--steps", 1, "--data_dir", data, "--no_progress")
    assert "sampling latents at truncation 0.7 (recorded in --data_dir" in capsys.readouterr().out
    w0 = latents.sample_w(tiny_generator, 0, range(2), 0.7, latents.STREAM_EDIT)
    np.testing.assert_array_equal(np.load(out / "a_edits.npz")["w0"], w0)
