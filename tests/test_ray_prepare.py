"""prepare_data.py --ray on a local Ray instance: the shards as Ray tasks give the one-process data byte for
byte, also when a task dies mid-way and Ray reruns it, and when the driver is killed and the command run again;
a bad Ray address or a missing Ray is one line, exit 2."""
import builtins
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gradctrl import ray_tasks

from test_prepare_data import ROOT, SLOW_SCORER, base_args, run, tree_bytes


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


def test_a_local_ray_that_does_not_start_is_one_line_and_exit_2(tmp_path, tiny_generator_path, capsys, monkeypatch):
    """Under heavy load ray.init can time out starting its local node, raising a bare Exception (seen on 2 cores
    at load 6): one line naming the cause, exit 2, nothing written."""
    require_ray()
    import ray  # the optional extra, present once require_ray passed

    def slow_node(*args, **kwargs):
        raise Exception("The current node timed out during startup. This could happen because some of the Ray "
                        "processes failed to startup.\nmore detail")
    monkeypatch.setattr(ray, "init", slow_node)
    with pytest.raises(SystemExit) as exit_info:
        run(base_args(tiny_generator_path, tmp_path / "d") + ["--ray"])
    lines = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2 and len(lines) == 1, lines
    assert "local Ray instance did not start" in lines[0] and "timed out during startup" in lines[0], lines
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


DRIVER_TAG = "GRADCTRL_TEST_RAY_DRIVER"  # set in the killed driver's environment, so its Ray processes inherit it


def processes_tagged(tag):
    """{pid: command line} of the live processes whose environment holds DRIVER_TAG=tag: the driver and every
    process of its Ray instance (head, raylet, agents, workers), found through /proc."""
    found, entry = {}, f"{DRIVER_TAG}={tag}".encode()
    for folder in Path("/proc").iterdir():
        if folder.name.isdigit():
            try:
                if entry in (folder / "environ").read_bytes().split(b"\0"):
                    found[int(folder.name)] = (folder / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:  # gone meanwhile, or not ours to read
                pass
    return found


def test_a_killed_driver_resumes_and_gives_the_one_process_bytes(tmp_path, tiny_generator_path, monkeypatch):
    """8 parts of 16 in 2 Ray tasks, each part's scoring taking a second. The driver gets SIGKILL once 2 parts
    are written; its Ray instance ends with it (the workers once their part is written, leaving the finished
    parts). The same command again resumes: it leaves every finished part untouched (same inode and mtime),
    computes the others, and the data directory equals the one-process run's file for file."""
    require_ray()
    helpers = tmp_path / "helpers"
    helpers.mkdir()
    (helpers / "slow_scorers.py").write_text(SLOW_SCORER.replace("0.25", "1.0"))
    monkeypatch.syspath_prepend(str(helpers))
    scorers = ["light=python:slow_scorers:slow_brightness", "hue=builtin:color3"]
    n_parts = 8
    args = [sys.executable, str(ROOT / "prepare_data.py")] + [str(a) for a in base_args(
        tiny_generator_path, tmp_path / "killed", n_samples=16 * n_parts, batch_size=16, scorers=scorers)] + [
        "--no_progress", "--ray", "--ray_tasks", "2"]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(helpers)]), TF_CPP_MIN_LOG_LEVEL="3")
    parts = tmp_path / "killed.parts"
    try:
        with open(tmp_path / "first.log", "wb") as log:
            driver = subprocess.Popen(args, env=dict(env, **{DRIVER_TAG: str(tmp_path)}), stdout=log,
                                      stderr=subprocess.STDOUT)
            deadline = time.monotonic() + 180
            while len(list(parts.glob("part_*.npz"))) < 2 and driver.poll() is None and time.monotonic() < deadline:
                time.sleep(0.01)
            assert driver.poll() is None, (tmp_path / "first.log").read_text()[-2000:]
            os.kill(driver.pid, signal.SIGKILL)
            driver.wait()
        assert driver.returncode == -signal.SIGKILL
        deadline = time.monotonic() + 60  # the workers stop once their raylet is gone; Ray's two agents stay
        while (time.monotonic() < deadline and
               any("Agent" not in command for command in processes_tagged(str(tmp_path)).values())):
            time.sleep(0.1)
        left = processes_tagged(str(tmp_path))
        assert all("Agent" in command for command in left.values()), left
    finally:
        for pid in processes_tagged(str(tmp_path)):  # the killed driver's Ray agents, idle orphans
            os.kill(pid, signal.SIGKILL)
    finished = sorted(p.name for p in parts.glob("part_*.npz"))
    assert 2 <= len(finished) < n_parts and not (tmp_path / "killed").exists()
    before = {name: (parts / name).stat() for name in finished}

    rerun = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    for name, stat in before.items():  # finished parts were not rewritten
        now = (parts / name).stat()
        assert (now.st_ino, now.st_mtime_ns) == (stat.st_ino, stat.st_mtime_ns)
    assert len(list(parts.glob("part_*.npz"))) == n_parts
    run(base_args(tiny_generator_path, tmp_path / "whole", n_samples=16 * n_parts, batch_size=16, scorers=scorers))
    assert tree_bytes(tmp_path / "killed") == tree_bytes(tmp_path / "whole")
