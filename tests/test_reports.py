"""gradctrl.evaluate.reports: the CSV and markdown tables and the evaluation directory, written whole."""
import pytest

from gradctrl.errors import UserError
from gradctrl.evaluate.evaluation import Comparison
from gradctrl.evaluate.reports import csv_text, markdown_report, write_evaluation


def _comparison():
    row = {"attribute": "a", "edit": "+1", "method": "gradctrl", "target_end": 1.5, "nontarget_end": 0.25,
           "nontarget@0.5": 0.1, "drift@0.5": None, "nontarget@1": None, "drift@1": None,
           "nontarget@2": None, "drift@2": None}
    matched = {level: {"edits": 1, "common": 0, "gradctrl": {"nontarget": None, "drift": None, "reached": 0, "edits": 1}}
               for level in (0.5, 1.0, 2.0)}
    return Comparison(results=[], rows=[row], methods=["gradctrl"], matched=matched, stds={"a": 0.5},
                      notes=["a note"])


def test_tables():
    assert csv_text([{"a": 1, "b": None}, {"c": 2}]) == "a,b,c\n1,,\n,,2\n"
    markdown = markdown_report(_comparison(), latent_only=True)
    assert "| GradCtrl (no exclusion) | not reached (0/1) |" in markdown and "| a | +1 | GradCtrl (no exclusion) | 1.50 |" \
        in markdown and markdown.endswith("Notes:\n\n- a note\n")


def test_evaluation_directory_is_refused_when_foreign(tmp_path):
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "keep.txt").write_text("mine")
    with pytest.raises(UserError, match="exists and is not an evaluation directory"):
        write_evaluation(tmp_path / "other", _comparison(), {}, latent_only=True)
    assert [p.name for p in (tmp_path / "other").iterdir()] == ["keep.txt"]
