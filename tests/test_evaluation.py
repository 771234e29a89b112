"""gradctrl.evaluate.evaluation: every method on every case, measured on the latent classifiers (no rendering)."""
import numpy as np

from gradctrl.classifier.model import LatentClassifier
from gradctrl.edit.methods import EditContext, edit_cases
from gradctrl.evaluate.evaluation import compare_methods, matched_means, steps_notes


def test_compare_methods_on_latent_scores():
    clf = LatentClassifier(8, ["a", "b"], {"a": 1, "b": 1}, hidden_size=None, seed=2)
    w = np.random.default_rng(1).standard_normal((5, 8)).astype(np.float32)
    cases = edit_cases("a", 1, steps=3, step_size=0.5) + edit_cases("b", 1, exclude={"a": 2}, steps=3, step_size=0.5)
    comparison = compare_methods(None, EditContext(clf), w, cases, ["gradctrl_exclude", "gradctrl"])
    ran = [(case.attribute, case.label, method) for case, method, _ in comparison.results]
    assert ran == [("a", "+1", "gradctrl"), ("a", "-1", "gradctrl"),                 # 'a' excludes nothing
                   ("b", "+1", "gradctrl_exclude"), ("b", "+1", "gradctrl"),
                   ("b", "-1", "gradctrl_exclude"), ("b", "-1", "gradctrl")]
    assert comparison.notes[0] == "GradCtrl (exclusion) skipped for 'a': the config sets no exclusion"
    assert all("rerun with more steps (e.g. --steps 6)" in note for note in comparison.notes[1:])
    for _, _, curves in comparison.results:
        assert curves["target"].shape == (4,) and curves["target"][0] == 0 and curves["target"][-1] > 0
        assert "drift" not in curves
    assert [r["method"] for r in comparison.rows] == [m for _, _, m in ran]
    assert comparison.methods == ["gradctrl_exclude", "gradctrl"]
    matched = matched_means(comparison.rows, comparison.methods)
    assert matched[0.5]["edits"] == 4 and matched[0.5]["gradctrl"]["edits"] == 4
    assert matched[0.5]["gradctrl_exclude"]["edits"] == 2


def test_matched_means_keep_each_methods_levels():
    """Issue 13, item 9: a method that falls short of a level marks only its own cell; the others keep theirs."""
    rows = [{"attribute": "a", "edit": "+1", "method": m, "nontarget@1": v, "drift@1": None}
            for m, v in (("gradctrl", 0.2), ("interfacegan", 0.4))] + [{"attribute": "a", "edit": "-1", "method": "gradctrl",
                                                      "nontarget@1": 0.9, "drift@1": 3.0},
                                                     {"attribute": "a", "edit": "-1", "method": "interfacegan",
                                                      "nontarget@1": None, "drift@1": None}]
    means = matched_means(rows, ["gradctrl", "interfacegan"], levels=(1.0,))
    assert means[1.0]["edits"] == 2 and means[1.0]["common"] == 1
    assert means[1.0]["gradctrl"] == {"nontarget": (0.2 + 0.9) / 2, "drift": 3.0, "reached": 2, "edits": 2}
    assert means[1.0]["interfacegan"] == {"nontarget": 0.4, "drift": None, "reached": 1, "edits": 2}
    notes = steps_notes(means, ["gradctrl", "interfacegan"], edit_cases("a", 1, steps=5))
    assert notes == ["a target change of 1 std is not reached within 5 steps by every edit of InterFaceGAN (1 of 2): "
                     "rerun with more steps (e.g. --steps 10) to compare there"]


def test_one_attributes_problem_does_not_block_the_others():
    """Issue 13, item 3: an edit a method cannot make and a constant score leave out that edit or attribute,
    with the reason in the notes; the other attributes are compared."""
    from gradctrl.edit.methods import REGISTRY, register
    from gradctrl.errors import UserError

    clf = LatentClassifier(8, ["a", "b", "c"], {"a": 1, "b": 1, "c": 1}, hidden_size=None, seed=2)
    w = np.random.default_rng(1).standard_normal((5, 8)).astype(np.float32)
    cases = [case for name in "abc" for case in edit_cases(name, 1, steps=3, step_size=0.5)]

    def picky(context, w, case):
        if case.attribute == "b":
            raise UserError("attribute 'b' has no selected training sample of class 1")
        return REGISTRY["gradctrl"].edit(context, w, case)

    register("test_picky", "Picky")(picky)
    try:
        comparison = compare_methods(None, EditContext(clf), w, cases, ["gradctrl", "test_picky"], progress=False)
    finally:
        del REGISTRY["test_picky"]
    ran = {(case.attribute, method) for case, method, _ in comparison.results}
    assert ran == {(a, m) for a in "abc" for m in ("gradctrl", "test_picky")} - {("b", "test_picky")}
    assert "Picky on 'b' +1 left out: attribute 'b' has no selected training sample of class 1" in comparison.notes
