"""Hardening (issue 25): lock files that follow no symlink, output paths without a name, readers that hold
what they read, numbers checked before work, networks checked when read, images read as they are, failed
starts and damaged run folders, full disks. Crash and kill tests run the command in a subprocess."""
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from stylegan2.atomic import FolderLock
from stylegan2.errors import InputError

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("plant", ["symlink", "dangling symlink", "folder", "fifo"])
def test_a_lock_path_that_is_not_a_regular_file_is_refused_and_never_followed(tmp_path, plant):
    """Item 3: a symlink planted at the lock path is not followed (its target keeps its bytes, a dangling
    one creates nothing); a folder or a FIFO there is refused too; each in one line naming the lock file."""
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    lock = tmp_path / ".out.lock"
    if plant == "symlink":
        lock.symlink_to(victim)
    elif plant == "dangling symlink":
        lock.symlink_to(tmp_path / "created-by-the-lock")
    elif plant == "folder":
        lock.mkdir()
    else:
        os.mkfifo(lock)
    with pytest.raises(InputError) as error:
        FolderLock(tmp_path / "out", "--out_dir").acquire()
    message = str(error.value)
    assert "\n" not in message and str(lock) in message and "not a regular file" in message, message
    assert victim.read_text() == "precious\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".out.lock", "victim.txt"]


@pytest.mark.parametrize("given", [".", "", "./", "sub/.."])
def test_the_current_folder_as_an_output_folder_is_one_line(tmp_path, given):
    """Item 2: '.', '' (and spellings of the current folder) crashed every command inside FolderLock (an empty
    name), then again in its __del__; now one line naming the flag, nothing written."""
    (tmp_path / "sub").mkdir()
    code = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(ROOT)!r})
        from stylegan2.atomic import FolderLock
        from stylegan2.errors import exit_on_input_error
        with exit_on_input_error("prog"):
            FolderLock({given!r}, "--out_dir").acquire()
    """)
    run = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 2 and run.stderr.count("\n") == 1, run.stderr
    assert f"prog: error: --out_dir '{given}' is the current folder" in run.stderr, run.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sub"]


def test_a_command_given_the_current_folder_is_one_line(tmp_path, tiny_generator_path):
    """Item 2 through a command: ``python -m stylegan2 generate --outdir .`` exits 2 with one line."""
    run = subprocess.run([sys.executable, "-m", "stylegan2", "generate", "--network", str(tiny_generator_path),
                          "--seeds", "0", "--outdir", ".", "--no-progress"],
                         cwd=tmp_path, env=dict(os.environ, PYTHONPATH=str(ROOT)), capture_output=True, text=True)
    assert run.returncode == 2 and run.stderr.count("\n") == 1, run.stderr
    assert "--outdir '.' is the current folder" in run.stderr and list(tmp_path.iterdir()) == [], run.stderr
