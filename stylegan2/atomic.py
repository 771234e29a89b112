"""Outputs that are never half-written: every file or folder is built under a temporary sibling name, then
renamed into place. The one temporary-name convention of the toolkit is ``.<name>.tmp-<pid>-<random><suffix>``,
so a rerun after a kill can find and remove what the killed process left (:func:`stale_temporaries`).
"""
import contextlib
import os
import shutil
import uuid
from pathlib import Path


def temporary_sibling(path):
    """A fresh temporary name beside ``path``: ``.<name>.tmp-<pid>-<8 hex><suffix>`` (the suffix kept, so
    writers that look at it, such as numpy's and PIL's, still do the right thing)."""
    path = Path(path)
    return path.with_name(f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}{path.suffix}")


def stale_temporaries(path):
    """The temporaries of ``path`` that an earlier (killed) process left beside it."""
    path = Path(path)
    return list(path.parent.glob(f".{path.name}.tmp-*"))


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside ``path`` (its folder created if missing); on success rename it to ``path``
    (replacing it), on failure remove it. The temporary is created with the usual permissions (the umask)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_sibling(path)
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_write(path, fsync=False):
    """Yield a new binary file object; on success the file appears at ``path`` (replacing it), on error
    nothing does. ``fsync``: flush the file to disk before the rename."""
    with atomic_path(path) as temporary, open(temporary, "xb") as file:
        yield file
        if fsync:
            file.flush()
            os.fsync(file.fileno())


def write_bytes(path, data, fsync=False):
    """Write ``data`` (bytes) to ``path`` atomically; ``fsync`` flushes it to disk before the rename."""
    with atomic_write(path, fsync) as file:
        file.write(data)


@contextlib.contextmanager
def atomic_dir(path):
    """Yield a new empty temporary folder beside ``path``; when the body succeeds it replaces ``path`` (an
    earlier folder there is removed), when it fails it is removed and ``path`` is left as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_sibling(path)
    temporary.mkdir()
    try:
        yield temporary
        if path.exists():
            old = temporary_sibling(path)
            os.rename(path, old)
            os.rename(temporary, path)
            shutil.rmtree(old)
        else:
            os.rename(temporary, path)
    finally:
        if temporary.exists():
            shutil.rmtree(temporary)
