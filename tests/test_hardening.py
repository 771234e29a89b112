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
