"""gradctrl.evaluation: every method on every case, measured on the latent classifiers (no rendering)."""
import numpy as np

from gradctrl.classifier import LatentClassifier
from gradctrl.evaluation import compare_methods, matched_means
from gradctrl.methods import EditContext, edit_cases


def test_compare_methods_on_latent_scores():
    clf = LatentClassifier(8, ["a", "b"], {"a": 1, "b": 1}, hidden_size=None, seed=2)
    w = np.random.default_rng(1).standard_normal((5, 8)).astype(np.float32)
    cases = edit_cases("a", 1, steps=3, step_size=0.5) + edit_cases("b", 1, exclude={"a": 2}, steps=3, step_size=0.5)
    comparison = compare_methods(None, EditContext(clf), w, cases, ["gradctrl_exclude", "gradctrl"])
    ran = [(case.attribute, case.label, method) for case, method, _ in comparison.results]
    assert ran == [("a", "+1", "gradctrl"), ("a", "-1", "gradctrl"),                 # 'a' excludes nothing
                   ("b", "+1", "gradctrl_exclude"), ("b", "+1", "gradctrl"),
                   ("b", "-1", "gradctrl_exclude"), ("b", "-1", "gradctrl")]
    assert comparison.notes == ["GradCtrl (exclusion) skipped for 'a': the config sets no exclusion"]
    for _, _, curves in comparison.results:
        assert curves["target"].shape == (4,) and curves["target"][0] == 0 and curves["target"][-1] > 0
        assert "drift" not in curves
    assert [r["method"] for r in comparison.rows] == [m for _, _, m in ran]
    assert comparison.methods == ["gradctrl_exclude", "gradctrl"]
    assert matched_means(comparison.rows, comparison.methods)[0.5]["edits"] <= 2


def test_matched_means_use_only_edits_every_method_reached():
    rows = [{"attribute": "a", "edit": "+1", "method": m, "nontarget@1": v, "drift@1": None}
            for m, v in (("x", 0.2), ("y", 0.4))] + [{"attribute": "a", "edit": "-1", "method": "x",
                                                      "nontarget@1": 0.9, "drift@1": None}]
    means = matched_means(rows, ["x", "y"], levels=(1.0,))
    assert means[1.0]["edits"] == 1 and means[1.0]["x"]["nontarget"] == 0.2 and means[1.0]["y"]["drift"] is None
