"""evaluate.py --ray on a local Ray instance: the rendering split into blocks of held-out latents, one Ray task
each, gives the one-process report byte for byte, also when a task dies and Ray reruns it; a bad Ray address
is one line, exit 2, with nothing written."""
import numpy as np
import pytest

from gradctrl import ray_tasks
from gradctrl.commands import evaluate
from gradctrl.evaluation import latent_blocks

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
