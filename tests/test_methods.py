"""gradctrl.edit.methods: the one registry of edit methods and edit cases, and the baselines' data-directory adapters."""
import csv

import numpy as np
import pytest

from gradctrl import UserError
from gradctrl.classifier.model import LatentClassifier, save_classifier
from gradctrl.commands import evaluate, manipulate
from gradctrl.edit import methods
from test_baselines import W_DIM, _planted_data_dir
from test_evaluate import _args, setup  # noqa: F401  (the evaluation fixture: config, data and model)


def test_registry_and_cases():
    assert list(methods.REGISTRY) == ["gradctrl_exclude", "gradctrl", "interfacegan_cond", "interfacegan", "ganspace"]
    assert [m.name for m in methods.REGISTRY.values() if m.exclusion] == ["gradctrl_exclude", "interfacegan_cond"]
    assert methods.exclusion_variant("gradctrl", {"b": 3}) == "gradctrl_exclude"
    assert methods.exclusion_variant("interfacegan", {"b": 3}) == "interfacegan_cond"
    assert methods.exclusion_variant("gradctrl", {}) == "gradctrl" and methods.exclusion_variant("ganspace", {"b": 3}) == "ganspace"
    assert [(c.tag, c.direction, c.target_class, c.label) for c in methods.edit_cases("a", 1)] == [
        ("positive", 1, None, "+1"), ("negative", -1, None, "-1")]
    assert [(c.tag, c.direction, c.target_class, c.label) for c in methods.edit_cases("k", 2, ["x", "y"])] == [
        ("x", 1, 0, "to x"), ("y", 1, 1, "to y")]                   # the config's class names in file names
    assert [c.tag for c in methods.edit_cases("k", 2, ["dark brown", "positive"])] == ["class0", "class1"]
    assert [c.tag for c in methods.edit_cases("k", 2)] == ["class0", "class1"]
    case = methods.edit_cases("a", 1, exclude={"b": 3})[0]
    assert "saturated" in methods.zero_gradient_cause("gradctrl", case)
    assert "masked" not in methods.zero_gradient_cause("gradctrl", case)    # no exclusion: not masking's fault
    assert "masked" in methods.zero_gradient_cause("gradctrl_exclude", case)
    assert methods.zero_gradient_cause("ganspace", case) is None           # no gradient, no note
    plain = methods.edit_cases("smile", 1)[0]                                # the demo: 44 of 144 smile steps
    note = methods.stall_note("gradctrl", plain, 44, 144)
    assert note.startswith("44 of 144 steps (31 %) left a latent unchanged: the classifier's sigmoid") and \
        "stopped moving before the last step" in note, note
    assert "--step_size" in note and "--steps" in note and "--top_channels" not in note, note   # nothing masked
    assert "--top_channels" in methods.stall_note("gradctrl_exclude", case, 1, 4)
    assert methods.stall_note("gradctrl", plain, 0, 144) is None and methods.stall_note("ganspace", case, 3, 4) is None
    with pytest.raises(UserError, match="--methods 'svm': unknown method 'svm'"):
        methods.get_method("svm", "--methods 'svm'")


def test_zero_gradient_steps_are_counted_once_for_every_method():
    clf = LatentClassifier(4, ["a", "b"], {"a": 1, "b": 1}, hidden_size=None, seed=0)
    w = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    masked = methods.edit_cases("a", 1, exclude={"b": 4}, steps=2, step_size=0.5)[0]     # every channel masked
    edit = methods.edit_latents("gradctrl_exclude", methods.EditContext(clf), w, masked)
    assert edit.zero_gradient_steps == 3 * 2 and np.array_equal(edit.traj[:, -1], w)
    free = methods.edit_latents("gradctrl", methods.EditContext(clf), w, masked)         # the exclusion is dropped
    assert free.zero_gradient_steps == 0


def test_baselines_from_a_data_directory():
    from gradctrl.edit.baselines import baseline_trajectory
    from gradctrl.edit.methods import baseline_directions

    data, a_axis, b_axis, k_axes = _planted_data_dir(np.random.default_rng(7))
    plain = baseline_directions("interfacegan", data, "a")
    assert plain.shape == (1, W_DIM) and plain[0] @ a_axis > 0.95
    conditional = baseline_directions("interfacegan", data, "a", exclude=["b"])
    b_normal = baseline_directions("interfacegan", data, "b")[0]
    assert abs(conditional[0] @ b_normal) < 1e-5 and conditional[0] @ a_axis > 0.5
    one_vs_rest = baseline_directions("interfacegan", data, "k", exclude=["a"])
    assert one_vs_rest.shape == (3, W_DIM)
    a_normal = baseline_directions("interfacegan", data, "a")[0]
    np.testing.assert_allclose(one_vs_rest @ a_normal, 0.0, atol=1e-5)
    ganspace = baseline_directions("ganspace", data, "k")
    assert ganspace.shape == (3, W_DIM)
    w = data.latents[:50]
    for c in range(3):                                    # walking towards class c raises its planted score
        end = baseline_trajectory(ganspace, w, +1, target_class=c)[:, -1]
        assert np.all((end - w) @ k_axes[c] > 0)
    traj = baseline_trajectory(plain, w, -1)
    assert traj.shape == (50, 9, W_DIM) and np.all((traj[:, -1] - w) @ a_axis < -3.8)
    with pytest.raises(UserError, match="no scores for attribute 'c'"):
        baseline_directions("ganspace", data, "c")
    with pytest.raises(UserError, match="unknown baseline method 'svm'"):
        baseline_directions("svm", data, "a")


@pytest.fixture
def toy_method():
    """A new edit method is one registered function: this one walks channel 0 only."""
    @methods.register("toy", "Toy (channel 0)")
    def toy(context, w, case):
        step = np.zeros(w.shape[1], np.float32)
        step[0] = case.direction * case.step_size
        return w[:, None] + np.arange(1, case.steps + 1)[None, :, None] * step

    yield "toy"
    del methods.REGISTRY["toy"]


def test_a_registered_method_runs_through_manipulate_and_evaluation(toy_method, setup, tmp_path,  # noqa: F811
                                                                   tiny_generator_path):
    save_classifier(LatentClassifier(32, ["a", "b"], {"a": 1, "b": 1}, hidden_size=8, seed=5), tmp_path / "m")
    out = tmp_path / "edits"
    manipulate.main(["--model_dir", str(tmp_path / "m"), "--attribute", "a", "--out_dir", str(out), "--generator",
                     str(tiny_generator_path), "--n_samples", "2", "--steps", "3", "--step_size", "0.5",
                     "--method", toy_method])
    edits = np.load(out / "a_edits.npz")
    for tag, sign in (("positive", 1), ("negative", -1)):
        moved = edits[f"traj_{tag}"] - edits["w0"][:, None]
        np.testing.assert_allclose(moved[:, :, 0], np.tile(sign * 0.5 * np.arange(1, 4), (2, 1)), rtol=1e-6)
        assert not moved[:, :, 1:].any() and (out / f"0001_a_{tag}.png").is_file()

    evaluation = tmp_path / "evaluation"
    evaluate.main(_args(setup, evaluation, "--latent_only", "--methods", f"{toy_method},gradctrl"))
    with open(evaluation / "summary.csv") as f:
        rows = list(csv.DictReader(f))
    assert {r["method"] for r in rows} == {"toy", "gradctrl"} and len(rows) == 2 * (2 + 2 + 3)
    assert "| Toy (channel 0) |" in (evaluation / "summary.md").read_text()
