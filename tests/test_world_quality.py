"""Measuring a generator of the world: the comparison is exact where the answer is known (drawn faces
against themselves, a generator that only draws one kind of face), and the command writes a whole folder."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import stylegan2
from gradctrl import world
from gradctrl.commands import world_tools as world_command
from gradctrl.world import quality as world_quality


def exact_scores(factors):
    """Scores a perfect scorer would give: logits +-5 for the binary factors, one-hot logits (x5) for hair
    colour, the factors themselves for the continuous ones."""
    scores = {name: np.where(factors[name] == 1, 5.0, -5.0) for name in world_quality.BINARY}
    scores["hair_colour"] = 5.0 * np.eye(len(world.HAIR_COLOURS))[factors["hair_colour"]]
    scores.update({name: factors[name] for name in ("smile", "age", "pose")})
    return scores


def test_drawn_faces_against_themselves_differ_by_nothing():
    factors = world.sample_factors(4000, seed=5)
    report = world_quality.compare(exact_scores(factors), exact_scores(factors))
    assert all(row["difference"] == 0 for row in report["marginals"] + report["correlations"])
    measured = world.measured_correlations(factors)
    assert [row["generated"] for row in report["correlations"]] == [row["measured"] for row in measured]
    assert all(row["generated"] == row["drawn"] == 1.0 for row in report["confident"])
    shares = {row["name"]: row["drawn"] for row in report["marginals"]}
    assert shares["eyeglasses"] == pytest.approx(np.mean(factors["eyeglasses"]))
    assert shares["old"] == pytest.approx(np.mean(factors["age"] > world.OLD_AGE))
    assert sum(shares[f"hair {c}"] for c in world.HAIR_COLOURS) == pytest.approx(1.0)


def test_a_collapsed_generator_shows_in_every_table():
    """A 'generator' whose faces all wear glasses, are young and black-haired, with unsure hair-length
    logits: the shares and the conditional probabilities move by the hand-computed amounts."""
    drawn = world.sample_factors(4000, seed=6)
    collapsed = dict(drawn, eyeglasses=np.ones(4000, np.uint8), age=np.zeros(4000, np.float32),
                     hair_colour=np.zeros(4000, np.uint8))
    scores = exact_scores(collapsed)
    scores["hair_length"] = np.where(collapsed["hair_length"] == 1, 1.0, -1.0)  # sigmoid(1) = 0.73: unsure
    report = world_quality.compare(scores, exact_scores(drawn))
    rows = {row["name"]: row for row in report["marginals"]}
    assert rows["eyeglasses"]["generated"] == 1.0
    assert rows["eyeglasses"]["difference"] == pytest.approx(1 - np.mean(drawn["eyeglasses"]))
    assert rows["old"]["generated"] == 0.0 and rows["hair black"]["generated"] == 1.0
    assert rows["smiling"]["difference"] == 0.0  # untouched factors stay equal
    correlations = {row["name"]: row for row in report["correlations"]}
    assert correlations["P(eyeglasses | young)"]["generated"] == 1.0
    assert np.isnan(correlations["P(eyeglasses | old)"]["generated"])  # no old face to condition on
    confident = {row["name"]: row["generated"] for row in report["confident"]}
    assert confident == {"eyeglasses": 1.0, "hair_length": 0.0, "hair_colour": 1.0}


def test_every_pair_is_reported_and_an_added_link_shows():
    """Drawn factors against a copy in which every smiling face wears glasses: the pairs table has every pair
    of events but two hair colours (5 + 4 events: 10 + 20 pairs), the drawn world's planted pairs are the
    strong ones, and the added eyeglasses/smiling link moves that pair by the hand-computed amount."""
    drawn = world.sample_factors(6000, seed=7)
    smiling = drawn["smile"] > 0
    linked = dict(drawn, eyeglasses=np.where(smiling, 1, drawn["eyeglasses"]).astype(np.uint8))
    report = world_quality.compare(exact_scores(linked), exact_scores(drawn))
    pairs = {row["name"]: row for row in report["pairs"]}
    assert len(pairs) == 30 and "hair blond | hair black" not in pairs
    assert {name for name, row in pairs.items() if row["planted"]} == {"old | eyeglasses", "smiling | long hair"}
    strong = {name for name, row in pairs.items() if abs(row["drawn"]) > 0.1}
    assert strong == {"old | eyeglasses", "smiling | long hair"}  # the world's own links, nothing else
    glasses = linked["eyeglasses"] == 1
    expected = np.mean(smiling[glasses]) - np.mean(smiling[~glasses])  # P(smiling | glasses) - P(smiling | none)
    assert pairs["smiling | eyeglasses"]["generated"] == pytest.approx(expected)
    assert pairs["smiling | eyeglasses"]["difference"] > 0.3
    gaps = [row["difference"] for row in report["marginals"] + report["correlations"] + report["pairs"]]
    assert report["mean_gap"] == pytest.approx(np.nanmean(gaps))
    assert report["largest_gap"] in ("smiling | eyeglasses", "eyeglasses | smiling", "eyeglasses")


def test_quality_command_writes_the_report_folder(tmp_path, capsys):
    data = world.write_world(tmp_path / "drawn", 40, seed=0, progress=False)
    network = tmp_path / "g.pkl"
    stylegan2.save_generator(stylegan2.random_generator(resolution=32, architecture="skip", fmap_base=64,
                                                        fmap_max=16, z_dim=8, w_dim=8, mapping_layers=1, seed=0),
                             network)
    out = tmp_path / "quality"
    cmd = [sys.executable, "-m", "gradctrl.world", "quality", "--generator", str(network), "--data", str(data),
           "--out_dir", str(out), "--n_samples", "20"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads((out / "quality.json").read_text())
    assert report["n"] == 20 and np.isfinite(report["kid"]) and report["kid"] > report["kid_real_baseline"]
    assert [row["name"] for row in report["pixel_check"]][1] == "eyeglasses vs pose (control), pose from pixels"
    assert sorted(p.name for p in out.iterdir()) == ["grids.png", "quality.json", "quality.md"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["drawn", "g.pkl", "quality"]  # no temporaries left
    with pytest.raises(SystemExit) as exit_info:
        world_command.main(cmd[3:-1] + ["21"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "holds 40 faces and --n_samples 21 needs 42" in err and len(err.strip().splitlines()) == 1


def test_pixel_check_sees_a_correlation_the_generator_made():
    """Faces drawn with glasses only when turned left (a generator that tied the two) against independent
    drawn faces: read from pixels, the control is -1 against about 0, and the pixels' pose follows the
    exact pose on both sides."""
    drawn = world.sample_factors(300, seed=7)
    tied = dict(drawn, pose=np.where(drawn["eyeglasses"] == 1, -0.8, 0.8).astype(np.float32))
    rows = {row["name"]: row for row in world_quality.pixel_check(
        world.draw_faces(tied), exact_scores(tied), world.draw_faces(drawn), exact_scores(drawn))}
    control = rows["eyeglasses vs pose (control), pose from pixels"]
    assert control["generated"] == -1.0
    expected = world.measured_correlations(drawn)[4]  # the same difference on the exact factors
    assert abs(control["drawn"] - expected["measured"]) < 0.05
    assert rows["pose: scorer vs pixels (Pearson r)"]["generated"] > 0.98
    assert rows["pose: scorer vs pixels (Pearson r)"]["drawn"] > 0.98
    assert rows["faces whose mouth was found"]["generated"] == rows["faces whose mouth was found"]["drawn"] == 1.0


def test_snapshot_rule_picks_the_smallest_mean_gap_and_reads_the_log(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "log.jsonl").write_text('{"kimg": 0.0, "kid": 50.0}\n{"kimg": 10.016, "kid": 20.0}\n')

    def report(gap, glasses):
        return dict(mean_gap=gap, largest_gap="x", marginals=[dict(name="eyeglasses", generated=glasses)])
    rows = world_quality.snapshot_rows(run, {0: report(0.2, 0.3), 10: report(0.1, 0.4), 20: report(0.1, 0.5)})
    assert [r["chosen"] for r in rows] == [False, True, False]  # a tie goes to the earlier snapshot
    assert [r["kid_log"] for r in rows][:2] == [50.0, 20.0] and np.isnan(rows[2]["kid_log"])


def test_snapshots_command_measures_each_snapshot_once(tmp_path):
    data = world.write_world(tmp_path / "drawn", 40, seed=0, progress=False)
    run = tmp_path / "run"
    run.mkdir()
    for kimg, seed in ((0, 0), (10, 1)):
        stylegan2.save_generator(stylegan2.random_generator(resolution=32, architecture="skip", fmap_base=64,
                                                            fmap_max=16, z_dim=8, w_dim=8, mapping_layers=1,
                                                            seed=seed), run / f"network-snapshot-{kimg:06d}.pkl")
    out = tmp_path / "ranked"
    rows = world_quality.rank_snapshots(run, data, out, n=20, seed=1, kimg_offset=160, progress=False)
    assert [r["kimg"] for r in rows] == [160, 170] and sum(r["chosen"] for r in rows) == 1
    first = json.loads((out / "000160" / "quality.json").read_text())
    assert rows[0]["mean_gap"] == first["mean_gap"] and first["n"] == 20 and first["seed"] == 1
    stamp = (out / "000160" / "quality.json").stat().st_mtime_ns
    again = world_quality.rank_snapshots(run, data, out, n=20, seed=1, kimg_offset=160, progress=False)
    assert json.dumps(again) == json.dumps(rows)  # (no log here: kid_log is nan)
    assert (out / "000160" / "quality.json").stat().st_mtime_ns == stamp  # measured once
    assert "| 170 |" in (out / "snapshots.md").read_text()
