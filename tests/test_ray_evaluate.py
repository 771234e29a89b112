"""evaluate.py --ray on a local Ray instance: the rendering split into blocks of held-out latents, one Ray task
each, gives the one-process report byte for byte, also when a task dies and Ray reruns it; a bad Ray address
is one line, exit 2, with nothing written."""
import sys

import numpy as np
import pytest

import stylegan2

from gradctrl import ray_tasks
from gradctrl.classifier.model import LatentClassifier, save_classifier
from gradctrl.commands import evaluate
from gradctrl.data.datadir import build_data_dir, write_data_dir
from gradctrl.data.latents import STREAM_DATA, sample_w
from gradctrl.data.scorers import make_scorers
from gradctrl.evaluate.evaluation import latent_blocks
from gradctrl.world import score_labels

from test_evaluate import _args, setup  # noqa: F401  (setup: the module fixture of test_evaluate)
from test_prepare_data import tree_bytes
from test_ray_prepare import require_ray


def test_latent_blocks_split_no_batch_and_cover_every_latent_once():
    for n, batch_size, count in [(7, 2, 3), (6, 4, 2), (64, 16, 3), (5, 8, 4), (9, 3, 9)]:
        blocks = latent_blocks(n, batch_size, count)
        batches = -(-n // batch_size)
        assert len(blocks) == min(count, batches)
        assert [i for start, stop in blocks for i in range(start, stop)] == list(range(n))
        assert all(start % batch_size == 0 and stop > start for start, stop in blocks)
        sizes = [-(-(stop - start) // batch_size) for start, stop in blocks]  # batches per block
        assert max(sizes) - min(sizes) <= 1


@pytest.mark.parametrize("ray_flags", [["--ray"], ["--ray", "auto"], ["--ray=10.0.0.1:6379", "--ray_tasks", "4"],
                                       ["--ray_tasks=4", "--ray", "ray://h:10001"], ["--ray_t", "2", "--ray"]])
def test_the_recorded_command_without_ray_flags_parses_to_the_same_settings(ray_flags):
    """ray_tasks.without_flags drops exactly what argparse reads as --ray and --ray_tasks (also abbreviated or
    with =): the rest parses to the same settings, with neither flag set."""
    others = ["--model_dir", "m", "--claims", "--seed", "3", "--out_dir", "e"]
    for argv in (ray_flags + others, others[:3] + ray_flags + others[3:], others + ray_flags):
        parser = evaluate.build_parser()
        with_ray, kept = vars(parser.parse_args(argv)), ray_tasks.without_flags(argv)
        assert with_ray["ray"] is not None and kept == others
        assert vars(parser.parse_args(kept)) == dict(with_ray, ray=None, ray_tasks=None)


def test_ray_blocks_give_the_one_process_report_also_after_a_killed_task(setup, tmp_path, monkeypatch):  # noqa: F811
    """7 held-out latents in batches of 2 (4 batches: the last one short), 3 Ray tasks on blocks of 2, 2 and 3
    latents. Task 0's first attempt ends its worker process (os._exit, as a kill would) as it starts; Ray
    reruns it, and every file of the report equals the one-process run's (both written to a folder of the
    same name, which index.html shows)."""
    require_ray()
    evaluate.main(_args(setup, tmp_path / "one" / "report", "--no_progress", "--n_samples", "7", "--batch_size", "2"))
    marker = tmp_path / "task0-killed"
    monkeypatch.setenv(ray_tasks.KILL_HOOK, str(marker))
    evaluate.main(_args(setup, tmp_path / "ray" / "report", "--no_progress", "--n_samples", "7", "--batch_size", "2",
                        "--ray", "--ray_tasks", "3"))
    assert marker.exists()  # the first attempt of task 0 did die
    one = tree_bytes(tmp_path / "one" / "report")
    assert sorted(one) == ["curves.csv", "curves.png", "evaluation.json", "index.html", "summary.csv", "summary.md"]
    assert tree_bytes(tmp_path / "ray" / "report") == one


@pytest.mark.parametrize("extra, message", [
    (["--ray", "127.0.0.1:1"], "--ray 127.0.0.1:1: nothing answers there"),
    (["--ray", "not an address"], "--ray 'not an address' is not a Ray address"),
    (["--ray_tasks", "2"], "--ray_tasks applies to --ray only: add --ray"),
    (["--ray", "--ray_tasks", "0"], "--ray_tasks"),
    (["--ray", "--latent_only"], "--latent_only renders nothing"),
])
def test_bad_ray_flags_are_one_line_and_exit_2(setup, tmp_path, capsys, extra, message):  # noqa: F811
    if "--ray" in extra and "--ray_tasks" not in extra and "--latent_only" not in extra:
        require_ray()
    with pytest.raises(SystemExit) as exit_info:
        evaluate.main(_args(setup, tmp_path / "e", "--no_progress", *extra))
    lines = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2 and len(lines) == 1 and message in lines[0], lines
    assert not (tmp_path / "e").exists()


CLAIMS_CONFIG = """
[generator]
file = "GENERATOR"
truncation = 0.7

[train]
hidden_size = 8

[claims]
planted_pairs = [["eyeglasses", "age"]]

[attributes.eyeglasses]
scorer = "world:eyeglasses"
exclude = { age = 4 }
steps = 3
step_size = 0.5

[attributes.age]
scorer = "world:age"
steps = 3
step_size = 0.5
"""


@pytest.fixture(scope="module")
def claims_setup(tmp_path_factory, tiny_generator_path, tiny_generator):
    """A config scoring the tiny generator's images with two of the world's exact scorers (eyeglasses, age),
    a data directory of 300 samples they label, and an untrained classifier on them."""
    root = tmp_path_factory.mktemp("ray_claims")
    (root / "world.toml").write_text(CLAIMS_CONFIG.replace("GENERATOR", str(tiny_generator_path)))
    G = tiny_generator
    w = sample_w(G, 0, np.arange(300), 0.7, STREAM_DATA)
    images = stylegan2.to_uint8(G.synthesis(np.repeat(w[:, None], G.num_ws, axis=1)))
    scorers = make_scorers({"eyeglasses": "world:eyeglasses", "age": "world:age"})
    scores = {name: scorer(images) for name, scorer in scorers.items()}
    for name, value in scores.items():  # both classes present among the selected samples
        assert 0 < score_labels(name, value).mean() < 1, name
    write_data_dir(root / "data", build_data_dir(w, scores, {"generator": "tiny"}, 0, 0.1, 0.3))
    save_classifier(LatentClassifier(G.w_dim, ["eyeglasses", "age"], {"eyeglasses": 1, "age": 1}, seed=3),
                    root / "model")
    return root


def test_ray_claims_give_the_one_process_report(claims_setup, tmp_path, monkeypatch):
    """evaluate.py --claims: the comparison, the straight lines and the small-data edits rendered as 2 Ray tasks
    per round (the bootstrap and the small-data training in the driver; the first round's task 0 killed once)
    give every file of the one-process report, claims.md's recorded command included (it leaves --ray out: the
    flag does not change the report)."""
    require_ray()
    root = claims_setup
    common = ["--config", str(root / "world.toml"), "--model_dir", str(root / "model"), "--data_dir",
              str(root / "data"), "--no_progress", "--claims", "--n_samples", "6", "--batch_size", "2",
              "--n_boot", "20", "--small_data_sizes", "10", "--small_data_seeds", "1", "--small_data_latents", "4",
              "--small_data_epochs", "1", "--top_k", "4"]
    reports = {}
    for name, extra in (("one", []), ("ray", ["--ray", "--ray_tasks", "2"])):
        argv = common + ["--out_dir", str(tmp_path / "report")] + extra  # claims.md records --out_dir too
        monkeypatch.setattr(sys, "argv", ["evaluate.py"] + argv)  # the command line claims.md records
        if extra:
            monkeypatch.setenv(ray_tasks.KILL_HOOK, str(tmp_path / "task0-killed"))
        evaluate.main(argv)
        (tmp_path / "report").rename(tmp_path / name)
        reports[name] = tree_bytes(tmp_path / name)
    assert (tmp_path / "task0-killed").exists()  # the Ray route ran, and its first task died once
    assert "claims.md" in reports["one"] and b"--ray" not in reports["ray"]["claims.md"]
    assert reports["ray"] == reports["one"]
