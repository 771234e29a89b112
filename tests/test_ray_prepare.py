"""prepare_data.py --ray on a local Ray instance: the shards as Ray tasks give the one-process data byte for
byte, also when a task dies mid-way and Ray reruns it; a bad Ray address or a missing Ray is one line, exit 2."""
import builtins
import os

import pytest

from gradctrl import ray_tasks

from test_prepare_data import base_args, run, tree_bytes


def require_ray():
    """Skip without Ray (the optional extra), unless GRADCTRL_REQUIRE_FIXTURES=1 (CI installs it): then fail."""
    try:
        import ray  # noqa: F401  (only whether it imports)
    except ImportError:
        message = "Ray is not installed (pip install -e '.[ray]')"
        if os.environ.get("GRADCTRL_REQUIRE_FIXTURES") == "1":
            pytest.fail(message)
        pytest.skip(message)


def test_ray_tasks_give_the_one_process_bytes_also_after_a_killed_task(tmp_path, tiny_generator_path, monkeypatch):
    """90 samples in 6 parts of 16; 3 Ray tasks of 2 parts each on a local instance. Task 0's first attempt
    ends its worker process (os._exit, as a kill would) once its first part is written; Ray reruns it, the
    rerun skips that part, and the merged data directory equals the one-process run's file for file."""
    require_ray()
    run(base_args(tiny_generator_path, tmp_path / "one"))
    marker = tmp_path / "task0-killed"
    monkeypatch.setenv(ray_tasks.KILL_HOOK, str(marker))
    run(base_args(tiny_generator_path, tmp_path / "ray") + ["--ray", "--ray_tasks", "3"])
    assert marker.exists()  # the first attempt of task 0 did die mid-way
    assert len(list((tmp_path / "ray.parts").glob("part_*.npz"))) == 6
    one = tree_bytes(tmp_path / "one")
    assert len(one) == 7 and tree_bytes(tmp_path / "ray") == one


@pytest.mark.parametrize("address, message", [
    ("127.0.0.1:1", "--ray 127.0.0.1:1: nothing answers there"),
    ("not an address", "--ray 'not an address' is not a Ray address"),
])
def test_a_bad_ray_address_is_one_line_and_exit_2(tmp_path, tiny_generator_path, capsys, address, message):
    require_ray()
    with pytest.raises(SystemExit) as exit_info:
        run(base_args(tiny_generator_path, tmp_path / "d") + ["--ray", address])
    lines = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2 and len(lines) == 1 and message in lines[0], lines
    assert not (tmp_path / "d").exists() and not (tmp_path / "d.parts").exists()


def test_without_ray_the_flag_says_how_to_install_it(tmp_path, tiny_generator_path, capsys, monkeypatch):
    real_import = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray" or name.startswith("ray."):
            raise ImportError("No module named 'ray'")
        return real_import(name, *args, **kwargs)
    monkeypatch.setattr(builtins, "__import__", no_ray)
    with pytest.raises(SystemExit) as exit_info:
        run(base_args(tiny_generator_path, tmp_path / "d") + ["--ray"])
    lines = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2 and len(lines) == 1 and "pip install" in lines[0] and "[ray]" in lines[0], lines
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize("extra, message", [
    (["--ray", "--shard", "0/2"], "--ray runs every shard itself: drop --shard"),
    (["--ray_tasks", "3"], "--ray_tasks applies to --ray only"),
    (["--ray", "--ray_tasks", "0"], "--ray_tasks"),
])
def test_ray_flags_that_do_not_fit_are_one_line_and_exit_2(tmp_path, tiny_generator_path, capsys, extra, message):
    with pytest.raises(SystemExit) as exit_info:
        run(base_args(tiny_generator_path, tmp_path / "d") + extra)
    lines = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2 and len(lines) == 1 and message in lines[0], lines
    assert not (tmp_path / "d").exists()
