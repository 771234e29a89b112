"""The helper scripts under scripts/ that are Python commands (claims_table.py, training_curve.py) follow the
commands' convention: their output from known inputs, and bad input as one line on stderr, exit 2."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from gradctrl.evaluate.claims_report import CLAIM_TITLES

ROOT = Path(__file__).resolve().parents[1]


def _script(name, *args):
    return subprocess.run([sys.executable, str(ROOT / "scripts" / name), *map(str, args)], capture_output=True,
                          text=True, cwd=ROOT)


def _log(path, records):
    path.parent.mkdir(parents=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_training_curve_tables_every_kid_record_with_its_offset_and_writes_the_plot(tmp_path):
    first = _log(tmp_path / "a" / "log.jsonl", [{"kimg": 0, "kid": 90.0, "kid_real_baseline": 1.5},
                                                {"kimg": 4, "loss_G": 1.0},
                                                {"kimg": 10, "kid": 40.25, "kid_real_baseline": 1.5}])
    second = _log(tmp_path / "b" / "log.jsonl", [{"kimg": 10, "kid": 30.0, "kid_real_baseline": -2.0}])
    run = _script("training_curve.py", first, second, "--offset", 0, 160, "--out", tmp_path / "curve.png")
    assert run.returncode == 0, run.stderr
    rows = [line for line in run.stdout.splitlines() if line.startswith("| a") or line.startswith("| b")]
    assert rows == ["| a | 0 | 90.0 | 1.5 |", "| a | 10 | 40.2 | 1.5 |", "| b | 170 | 30.0 | -2.0 |"]
    assert (tmp_path / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("make, extra, message", [
    (lambda d: d / "missing.jsonl", [], "cannot be read as a training log"),
    (lambda d: _log(d / "x" / "log.jsonl", [{"kimg": 0, "loss_G": 1.0}]), [], "holds no KID record"),
    (lambda d: _log(d / "y" / "log.jsonl", [{"kimg": 0, "kid": 1.0, "kid_real_baseline": 0.0}]),
     ["--offset", "1", "2"], "--offset needs one value per log (1), got 2"),
])
def test_training_curve_bad_input_is_one_line(tmp_path, make, extra, message):
    run = _script("training_curve.py", make(tmp_path), *extra, "--out", tmp_path / "curve.png")
    assert run.returncode == 2 and len(run.stderr.strip().splitlines()) == 1 and message in run.stderr, run.stderr
    assert not (tmp_path / "curve.png").exists()


def test_claims_table_puts_each_report_beside_its_generator_quality(tmp_path):
    for label, verdict in (("fixed", "holds"), ("tuned", "not shown")):
        (tmp_path / label).mkdir()
        (tmp_path / label / "evaluation.json").write_text(json.dumps(
            {"generator": "g.pkl", "config": f"{label}.toml", "n_samples": 256, "seed": 0,
             "verdicts": {key: [verdict, "why"] for key in CLAIM_TITLES}, "claim1_median_half_width": 0.031}))
    (tmp_path / "q.json").write_text(json.dumps({"kid": 118.24, "kid_real_baseline": -2.1, "mean_gap": 0.114,
                                                  "largest_gap": "eyeglasses",
                                                  "marginals": [{"name": "eyeglasses", "generated": 0.3,
                                                                 "drawn": 0.425}]}))
    run = _script("claims_table.py", "--report", "fixed", tmp_path / "fixed", "--report", "tuned",
                  tmp_path / "tuned", "--quality", "fixed", tmp_path / "q.json", "--out", tmp_path / "t.md")
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "t.md").read_text() == run.stdout
    lines = run.stdout.splitlines()
    assert f"| {CLAIM_TITLES['disentanglement']} | holds | not shown |" in lines
    assert "| KID (quality.json) | 118.2 | - |" in lines and "| largest gap (generated vs drawn) | eyeglasses " \
        "(0.30 vs 0.42) | - |" in lines  # 0.425 is stored just below it


def test_claims_table_bad_input_is_one_line(tmp_path):
    run = _script("claims_table.py", "--report", "fixed", tmp_path, "--quality", "tuned", tmp_path / "q.json")
    assert run.returncode == 2 and run.stderr.strip() == \
        "claims_table.py: error: --quality tuned: no --report has that label (labels: fixed)"
    run = _script("claims_table.py", "--report", "fixed", tmp_path)
    assert run.returncode == 2 and len(run.stderr.strip().splitlines()) == 1 and "evaluation.json" in run.stderr
