"""Atomic outputs: nothing appears at the target until the body succeeds; temporaries are findable."""
import pytest

from stylegan2.atomic import atomic_dir, atomic_path


def test_atomic_path_renames_on_success_and_cleans_up_on_failure(tmp_path):
    target = tmp_path / "part_000003.npz"
    with atomic_path(target) as temporary:
        # the name a rerun globs for to remove what a killed process left
        assert temporary.parent == tmp_path and temporary.match(".part_000003.npz.tmp-*")
        temporary.write_bytes(b"whole")
        assert not target.exists()
    assert target.read_bytes() == b"whole"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as temporary:
            temporary.write_bytes(b"half")
            raise RuntimeError("killed")
    assert target.read_bytes() == b"whole" and sorted(p.name for p in tmp_path.iterdir()) == [target.name]


def test_atomic_dir_replaces_a_folder_whole(tmp_path):
    target = tmp_path / "out"
    with atomic_dir(target) as folder:
        (folder / "a").write_text("1")
    with pytest.raises(RuntimeError):
        with atomic_dir(target) as folder:
            (folder / "b").write_text("2")
            raise RuntimeError("failed")
    assert sorted(p.name for p in target.iterdir()) == ["a"]
    with atomic_dir(target) as folder:
        (folder / "c").write_text("3")
    assert sorted(p.name for p in target.iterdir()) == ["c"] and sorted(p.name for p in tmp_path.iterdir()) == ["out"]


_KILLED_SWAP = """
import os, signal, sys
from stylegan2 import atomic
target, step, exchange = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
if not exchange:
    atomic._RENAMEAT2 = None            # the fallback of systems without renameat2
atomic._swap_step_hook = lambda name: os.kill(os.getpid(), signal.SIGKILL) if name == step else None
with atomic.atomic_dir(target) as folder:
    for i in range(3):
        (folder / f"new{i}").write_text("new")
"""


def _killed_swap(tmp_path, step, exchange):
    """An old folder (old0..old2) that a subprocess replaces (new0..new2), killed at the swap's ``step``."""
    import subprocess
    import sys

    target = tmp_path / "out"
    target.mkdir()
    for i in range(3):
        (target / f"old{i}").write_text("old")
    process = subprocess.run([sys.executable, "-c", _KILLED_SWAP, str(target), step, "1" if exchange else "0"],
                             timeout=120)
    assert process.returncode == -9          # the hook fired: killed between the two steps
    return target


def test_a_swap_killed_between_its_steps_leaves_the_new_folder_whole(tmp_path):
    target = _killed_swap(tmp_path, "exchanged", exchange=True)
    assert sorted(p.name for p in target.iterdir()) == ["new0", "new1", "new2"]


@pytest.mark.parametrize("step, expected", [("old moved", "new"), ("new ready", "old")])
def test_the_next_atomic_dir_finishes_or_rolls_back_a_killed_rename_swap(tmp_path, step, expected):
    from stylegan2.atomic import FolderLock

    target = _killed_swap(tmp_path, step, exchange=False)
    with FolderLock(target, "--out_dir"), atomic_dir(target, keep=lambda name: True) as folder:
        (folder / "more").write_text("more")
    assert sorted(p.name for p in target.iterdir()) == sorted([f"{expected}{i}" for i in range(3)] + ["more"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
