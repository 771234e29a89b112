"""manipulate.py --method interfacegan|ganspace: baselines edit through the same stage as GradCtrl."""
import numpy as np
import pytest

import manipulate


@pytest.fixture(scope="module")
def setup(tmp_path_factory, tiny_generator_path, tiny_generator):
    """A data directory scored by two built-ins and an (untrained) classifier of the same attributes."""
    import stylegan2
    from gradctrl.classifier import LatentClassifier, save_classifier
    from gradctrl.datadir import write_data_dir
    from gradctrl.latents import STREAM_DATA, sample_w
    from gradctrl.datadir import build_data_dir
    from gradctrl.scorers import make_scorer

    root = tmp_path_factory.mktemp("baseline_edits")
    G = tiny_generator
    w = sample_w(G, 0, np.arange(200), 0.7, STREAM_DATA)
    images = stylegan2.to_uint8(G.synthesis(np.repeat(w[:, None], G.num_ws, axis=1)))
    scores = {"brightness": make_scorer("builtin:brightness")(images), "color": make_scorer("builtin:color3")(images)}
    write_data_dir(root / "data", build_data_dir(w, scores, {"generator": "tiny"}, 0, 0.1, 0.3))
    save_classifier(LatentClassifier(G.w_dim, ["brightness", "color"], {"brightness": 1, "color": 3}), root / "model")
    return root


def _run(setup, tiny_generator_path, out, *extra):
    manipulate.main(["--model_dir", str(setup / "model"), "--generator", str(tiny_generator_path),
                     "--out_dir", str(out), "--n_samples", "3", "--steps", "4", "--step_size", "0.5", *extra])


def test_interfacegan_edits_walk_the_conditioned_svm_normal(setup, tiny_generator_path):
    from gradctrl.methods import baseline_directions
    from gradctrl.datadir import read_data_dir

    out = setup / "ifg"
    _run(setup, tiny_generator_path, out, "--method", "interfacegan", "--attribute", "brightness",
         "--data_dir", str(setup / "data"), "--exclude", "color", "--top_channels", "0")
    edits = np.load(out / "brightness_edits.npz")
    direction = baseline_directions("interfacegan", read_data_dir(setup / "data"), "brightness", ["color"])[0]
    for case, sign in (("positive", 1), ("negative", -1)):
        expected = edits["w0"][:, None] + sign * 0.5 * np.arange(1, 5)[None, :, None] * direction
        np.testing.assert_allclose(edits[f"traj_{case}"], expected, atol=1e-5)
    assert (out / "0_brightness_positive.png").exists() and (out / "2_brightness_negative.png").exists()


def test_ganspace_edits_every_class_of_a_k_class_attribute(setup, tiny_generator_path):
    out = setup / "gs"
    _run(setup, tiny_generator_path, out, "--method", "ganspace", "--attribute", "color",
         "--data_dir", str(setup / "data"))
    edits = np.load(out / "color_edits.npz")
    for c in range(3):
        steps = np.diff(np.concatenate([edits["w0"][:, None], edits[f"traj_class{c}"]], axis=1), axis=1)
        np.testing.assert_allclose(np.linalg.norm(steps, axis=2), 0.5, rtol=1e-4)     # equal steps of 0.5
        np.testing.assert_allclose(steps, np.broadcast_to(steps[:1, :1], steps.shape), atol=1e-5)  # one line


def test_baseline_without_data_directory_is_a_one_line_error(setup, tiny_generator_path, capsys):
    with pytest.raises(SystemExit) as e:
        _run(setup, tiny_generator_path, setup / "none", "--method", "interfacegan", "--attribute", "brightness")
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.count("\n") == 1
    assert "--method interfacegan needs --data_dir" in err
