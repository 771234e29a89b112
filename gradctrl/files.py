"""Outputs that are never half-written: each file or folder is built under a temporary sibling name, then
renamed into place."""
import contextlib
import os
import shutil
import uuid
from pathlib import Path

from .errors import UserError


def check_output_dir(path, marker, kind):
    """``path`` as a Path if ``kind`` (e.g. "a data directory") may be written there: absent, empty, or an earlier such folder
    (recognised by its ``marker`` file), which will be replaced. UserError otherwise; commands call it
    before long work so they fail at once."""
    path = Path(path)
    if path.exists() and (not path.is_dir() or (any(path.iterdir()) and not (path / marker).is_file())):
        raise UserError(f"output '{path}' exists and is not {kind}: choose another --out_dir or remove it")
    return path


@contextlib.contextmanager
def atomic_dir(path):
    """Yield a new empty temporary folder beside ``path``; when the body succeeds it replaces ``path`` (an
    earlier folder there is removed), when it fails it is removed and ``path`` is left as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tag = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp = path.parent / f".{path.name}.tmp-{tag}"
    tmp.mkdir()
    try:
        yield tmp
        if path.exists():
            old = path.parent / f".{path.name}.old-{tag}"
            os.rename(path, old)
            os.rename(tmp, path)
            shutil.rmtree(old)
        else:
            os.rename(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside ``path``; on success rename it to ``path``, on failure remove it.

    The temporary is named ``.<name>.tmp-<pid>-<random><suffix>``, so a rerun after a kill can find and
    remove what the killed process left (glob ``.<name>.tmp-*``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}{path.suffix}")
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
