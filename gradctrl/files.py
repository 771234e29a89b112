"""gradctrl's output layer: every file a stage writes goes through here or through stylegan2's writers.

- files and folders, never half-written: :mod:`stylegan2.atomic` (``atomic_path``, ``atomic_write``,
  ``write_bytes``, ``atomic_dir``; one temporary-name convention, ``.<name>.tmp-<pid>-<random>``);
- PNG images: :func:`stylegan2.images.write_png`;
- JSON documents: :func:`json_bytes` / :func:`write_json` (here);
- output folders a command may replace: :func:`check_output_dir` (here);
- writes overlapped with rendering: :class:`BackgroundWriter` (here);
- and, for the Keras files the toolkit reads (classifier weights, scorers), :func:`check_container`: a
  truncated or corrupt file is told apart from one that reads but does not fit.
"""
import collections
import concurrent.futures
import json
import zipfile
from pathlib import Path

from stylegan2.atomic import write_bytes

from .errors import UserError


def check_output_dir(path, marker, kind):
    """``path`` as a Path if ``kind`` (e.g. "a data directory") may be written there: absent, empty, or an earlier such folder
    (recognised by its ``marker`` file), which will be replaced. UserError otherwise; commands call it
    before long work so they fail at once."""
    path = Path(path)
    if path.exists() and (not path.is_dir() or (any(path.iterdir()) and not (path / marker).is_file())):
        raise UserError(f"output '{path}' exists and is not {kind}: choose another --out_dir or remove it")
    return path


def check_container(path, what, fix):
    """Read a Keras container through -> None; UserError "``what`` is truncated or corrupt (cause): ``fix``"
    when it cannot be.

    ``.h5`` / ``.hdf5`` (HDF5): opened and every dataset read; ``.keras`` (a zip archive): every member's
    CRC checked. Other paths (a SavedModel folder) are left to their loaders. Run it before handing the file
    to Keras, whose errors for a damaged file read like a mismatch of layers.
    """
    path = Path(path)
    try:
        if path.suffix in (".h5", ".hdf5"):
            # heavy (h5py (Keras files)): imported on use, so commands start and refuse bad input without it
            import h5py

            with h5py.File(path, "r") as f:
                f.visititems(lambda name, item: item[()] if isinstance(item, h5py.Dataset) else None)
        elif path.suffix == ".keras":
            with zipfile.ZipFile(path) as archive:
                bad = archive.testzip()
            if bad is not None:
                raise zipfile.BadZipFile(f"member '{bad}' fails its CRC check")
    except (OSError, ValueError, KeyError, RuntimeError, EOFError, zipfile.BadZipFile) as e:
        cause = " ".join(str(e).split())[:200] or type(e).__name__
        raise UserError(f"{what} is truncated or corrupt ({cause}): {fix}") from None


def json_bytes(obj):
    """Deterministic JSON text (UTF-8, indented by 1, one trailing newline): every JSON file we write."""
    return (json.dumps(obj, indent=1, ensure_ascii=False) + "\n").encode("utf-8")


def write_json(path, obj, fsync=False):
    """Write ``obj`` as :func:`json_bytes` at ``path`` atomically (``fsync``: flushed to disk first)."""
    write_bytes(path, json_bytes(obj), fsync)


class BackgroundWriter:
    """Runs file writes on one background thread, overlapped with rendering (PNG encoding releases the GIL).

    Use as a context manager: ``submit(function, *args)`` queues a write (waiting while ``max_pending`` are
    queued, which bounds the images held in memory); leaving the block waits for every write, and a failed
    write raises its exception in the caller (at the next ``submit`` or on leaving).
    """

    def __init__(self, max_pending=8):
        self._max_pending = max_pending
        self._pending = collections.deque()
        self._pool = None

    def __enter__(self):
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="gradctrl-writer")
        return self

    def submit(self, function, *args):
        while len(self._pending) >= self._max_pending:
            self._pending.popleft().result()
        self._pending.append(self._pool.submit(function, *args))

    def __exit__(self, *exc_info):
        try:
            while self._pending:
                self._pending.popleft().result()
        finally:
            self._pool.shutdown(wait=True)
