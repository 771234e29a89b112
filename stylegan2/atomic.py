"""Outputs that are never half-written, and folders held by one writer at a time.

Every file or folder is built under a temporary sibling name, then renamed into place. The one
temporary-name convention of the toolkit is ``.<name>.tmp-<pid>-<random><suffix>``, so a rerun after a kill
can find and remove what the killed process left (:func:`stale_temporaries`). A write that fails for a
reason of the file system (a full disk, an unwritable or read-only folder) is an :class:`InputError`
naming the output and the cause (:class:`WriteError`), and leaves nothing behind.

Every folder a command writes is held by :class:`FolderLock`: an OS lock (``fcntl.flock``) on the sibling
file ``.<name>.lock``, which the kernel releases when the holder exits or is killed, so a second writer is
refused with one line while the first runs, and never by a stale flag afterwards.

A folder is replaced by exchanging it with its new version in one step (Linux's ``renameat2`` with
``RENAME_EXCHANGE``), so the path always holds a whole folder; elsewhere by three renames through the
siblings ``.<name>.swap-<id>.new`` / ``.old``, which the next :func:`atomic_dir` on that path finishes or
rolls back if a kill interrupted them (:func:`finish_swap`).
"""
import contextlib
import ctypes
import errno
import fcntl
import os
import shutil
import stat
import uuid
from pathlib import Path

from .errors import InputError

# What to do about a write that failed, by errno (the rest: check the location).
_WRITE_FIXES = {errno.ENOSPC: "free some space or choose another location",
                errno.EDQUOT: "free some space or choose another location",
                errno.EFBIG: "free some space or choose another location",
                errno.EACCES: "choose a writable location",
                errno.EPERM: "choose a writable location",
                errno.EROFS: "choose a writable location",
                errno.ENOTDIR: "a part of the path is a file: choose another location",
                errno.EEXIST: "a part of the path is a file: choose another location"}


class WriteError(InputError):
    """A write that failed for a reason of the file system: ``path`` (the output) and ``error`` (the OSError)."""

    def __init__(self, path, error):
        cause = error.strerror or str(error)
        super().__init__(f"cannot write '{path}' ({cause}): {_WRITE_FIXES.get(error.errno, 'check the location')}")
        self.path = Path(path)
        self.error = error


def _ours(error, *paths):
    """True when OSError ``error`` concerns writing under one of ``paths`` (or names no file: a failed write())."""
    if error.filename is None:
        return True
    name = os.path.abspath(os.fsdecode(error.filename))
    return any(name == os.path.abspath(p) or name.startswith(os.path.abspath(p) + os.sep) for p in paths)


@contextlib.contextmanager
def _write_errors_naming(path, temporary):
    """Within the block, an OSError about ``temporary`` or ``path`` (or about no file: a failed write()) becomes
    a :class:`WriteError` naming the output ``path``; any other error passes unchanged."""
    try:
        yield
    except OSError as e:
        if not _ours(e, temporary, path):
            raise
        raise WriteError(path, e) from None


def _make_parent(path):
    """Create the folder of ``path`` (and its parents); a failure is a :class:`WriteError`."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise WriteError(path, e) from None


class FolderLock:
    """Exclusive hold on the folder ``path`` for one writer: ``with FolderLock(path, "--out_dir"): ...``, or a
    shared hold for its readers (``shared=True``).

    The lock is ``fcntl.flock`` on the sibling ``.<name>.lock`` (created beside the folder, so it survives the
    folder being swapped by :func:`atomic_dir`); a second holder, in this process or another, is refused with
    an :class:`InputError` naming ``what`` (the flag), the folder and the holder's pid. The kernel drops the
    lock when the holder exits or is killed; a released lock removes its file. The lock file is never opened
    through a symlink, and a lock path that is not a regular file is refused. Taking the lock removes the
    temporaries (:func:`stale_temporaries`) a killed holder left beside the folder. A writer of the current
    folder (``.``, ``''``) or the root is refused. ``key``: lock a share of the folder instead
    (``.<name>.<key>.lock``), e.g. one shard of a parts directory. ``shared``: hold it as a
    reader (``flock``'s shared lock): readers run side by side, a writer is refused while any reads, a reader
    while a writer writes. A reader whose folder is missing, or beside which it may not create the lock file (a
    read-only location), reads without a lock.
    """

    def __init__(self, path, what, key=None, shared=False):
        self._fd = None
        self.path = Path(path)
        self.what = what
        absolute = Path(os.path.abspath(path))  # '.', '' and 'a/..' have no name of their own
        if not shared and (absolute == Path(os.getcwd()) or not absolute.name):  # a reader may read them
            raise InputError(f"{what} '{os.fspath(path)}' is the current folder or the root, which the command would "
                             f"replace: give a folder inside it, e.g. {what} out")
        self.lock_path = absolute.parent / f".{absolute.name or 'root'}{'.' + key if key else ''}.lock"
        self.whole = key is None
        self.shared = shared

    def acquire(self):
        """Take the lock, or raise InputError (held elsewhere; the folder's parent not writable)."""
        if not self.shared:
            _make_parent(self.lock_path)
        while True:
            fd = self._open_lock_file()
            if fd is None:  # a reader that cannot lock
                return self
            try:
                fcntl.flock(fd, (fcntl.LOCK_SH if self.shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
            except BlockingIOError:
                refusal = self._refusal(fd)
                os.close(fd)
                raise refusal from None
            try:
                same = os.fstat(fd).st_ino == os.stat(self.lock_path).st_ino
            except FileNotFoundError:
                same = False
            if same:  # not a file its previous holder removed while we waited for it
                break
            os.close(fd)
        self._fd = fd
        if self.shared:
            return self
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError as e:  # a full disk: hold nothing, leave no lock file
            self.release()
            raise WriteError(self.path, e) from None
        if self.whole:  # what a killed holder left beside the folder: only a holder of this lock makes them
            for stale in stale_temporaries(self.path):
                if stale.is_dir():
                    shutil.rmtree(stale)
                else:
                    stale.unlink(missing_ok=True)
        return self

    def _refusal(self, fd):
        """The InputError for a lock held elsewhere (``fd``: our descriptor of its file, not holding it)."""
        if self.shared:
            state = "being written by another process"
        else:
            try:  # only readers hold it when a shared hold is granted
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                return InputError(f"{self.what} '{self.path}' is being read by another process: wait for it to "
                                  "finish or choose another folder")
            except BlockingIOError:
                state = "in use by another process"
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
        if not holder:  # the holder has the lock but has not written its pid yet
            return InputError(f"{self.what} '{self.path}' is in use: another run is starting: wait for it to finish "
                              "or choose another folder")
        return InputError(f"{self.what} '{self.path}' is {state} (pid {holder}): wait for it to finish or choose "
                          "another folder")

    def _open_lock_file(self):
        """A descriptor of the lock file, created if missing; never through a symlink (O_NOFOLLOW), and an
        InputError when the lock path is not a regular file (a symlink, folder or FIFO someone put there)."""
        refusal = InputError(f"lock file '{self.lock_path}' of {self.what} '{self.path}' is not a regular file: "
                             "remove it, or choose another folder")
        try:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, 0o644)
        except OSError as e:
            if e.errno in (errno.ELOOP, errno.EISDIR, errno.ENXIO):
                raise refusal from None
            if self.shared and e.errno in (errno.ENOENT, errno.EACCES, errno.EPERM, errno.EROFS):
                return None
            raise WriteError(self.path, e) from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise refusal
        return fd

    def release(self):
        """Drop the lock and remove its file, a reader only when no other reader holds it (a no-op when not
        held)."""
        if self._fd is not None:
            try:
                if self.shared:  # the last reader: nobody else holds it
                    fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                self.lock_path.unlink(missing_ok=True)
            except BlockingIOError:
                pass
            os.close(self._fd)
            self._fd = None

    __del__ = release  # a lock held for an object's life (a training run) ends with it

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc_info):
        self.release()


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
    _make_parent(path)
    temporary = temporary_sibling(path)
    try:
        with _write_errors_naming(path, temporary):
            yield temporary
            os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_write(path, fsync=False):
    """Yield a new binary file object; on success the file appears at ``path`` (replacing it), on error
    nothing does. ``fsync``: flush the file to disk before the rename. A file-system failure (full disk,
    unwritable folder) is an InputError naming ``path`` (:class:`WriteError`)."""
    with atomic_path(path) as temporary, open(temporary, "xb") as file:
        yield file
        if fsync:
            file.flush()
            os.fsync(file.fileno())


def write_bytes(path, data, fsync=False):
    """Write ``data`` (bytes) to ``path`` atomically; ``fsync`` flushes it to disk before the rename."""
    with atomic_write(path, fsync) as file:
        file.write(data)


def _libc_renameat2():
    """glibc's ``renameat2`` through ctypes, or None where the C library has none (not Linux, old glibc)."""
    try:
        function = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    return function


_RENAMEAT2 = _libc_renameat2()
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2
# Test hook: called with the step's name between the steps of a folder swap (a test kills the process there).
_swap_step_hook = None


def _exchange(a, b):
    """Swap the folders ``a`` and ``b`` in one atomic step -> True, or False where the system or the file
    system cannot (the caller falls back to renames)."""
    if _RENAMEAT2 is None:
        return False
    if _RENAMEAT2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), os.fspath(a))


def _step(name):
    if _swap_step_hook is not None:
        _swap_step_hook(name)


def _swap_siblings(path):
    """(new, old) sibling pairs of ``path`` left by interrupted rename swaps: ``.<name>.swap-<id>.new/.old``."""
    path = Path(path)
    ids = {p.name[len(f".{path.name}.swap-"):].rsplit(".", 1)[0] for p in path.parent.glob(f".{path.name}.swap-*")}
    return [(path.with_name(f".{path.name}.swap-{i}.new"), path.with_name(f".{path.name}.swap-{i}.old"))
            for i in sorted(ids)]


def finish_swap(path):
    """Finish or roll back a rename swap of the folder ``path`` that a killed process left: with no folder at
    ``path``, the complete new folder (``.swap-<id>.new``) is moved there, else the old one put back; the
    leftovers are removed. A folder at ``path`` is whole either way (the renames are atomic) and is kept."""
    path = Path(path)
    for new, old in _swap_siblings(path):
        if not path.exists():
            if new.exists():
                os.rename(new, path)
            elif old.exists():
                os.rename(old, path)
        for leftover in (new, old):
            if leftover.exists():
                shutil.rmtree(leftover)


def _replace_dir(temporary, path):
    """Put the folder ``temporary`` at ``path``, replacing the folder there, which is removed; ``path`` holds
    a whole folder at every moment where :func:`_exchange` works, else after :func:`finish_swap`."""
    if _exchange(temporary, path):
        _step("exchanged")
        shutil.rmtree(temporary)  # now the old folder
        return
    swap = f".{path.name}.swap-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    new, old = path.with_name(swap + ".new"), path.with_name(swap + ".old")
    os.rename(temporary, new)
    _step("new ready")
    os.rename(path, old)
    _step("old moved")
    os.rename(new, path)
    shutil.rmtree(old)


@contextlib.contextmanager
def atomic_dir(path, keep=None):
    """Yield a new temporary folder beside ``path``; when the body succeeds it replaces ``path`` (an earlier
    folder there is removed), when it fails it is removed and ``path`` is left as it was. ``keep``: a
    predicate on entry names; the entries of an earlier ``path`` it accepts start in the temporary folder
    (hard links, copies where links fail), so a command can replace its own files in a shared folder and
    keep the rest. A failure to write into the temporary folder (full disk, unwritable folder) is an
    InputError naming ``path``. The swap is one atomic exchange where Linux allows it, else renames that the
    next call on ``path`` finishes or rolls back after a kill (:func:`finish_swap`, run first)."""
    path = Path(path)
    _make_parent(path)
    finish_swap(path)
    temporary = temporary_sibling(path)
    try:
        temporary.mkdir()
    except OSError as e:
        raise WriteError(path, e) from None
    try:
        with _write_errors_naming(path, temporary):
            if keep is not None and path.is_dir():
                for entry in path.iterdir():
                    if keep(entry.name):
                        if entry.is_dir():
                            shutil.copytree(entry, temporary / entry.name, copy_function=_link_or_copy)
                        else:
                            _link_or_copy(entry, temporary / entry.name)
            try:
                yield temporary
            except WriteError as e:  # name the output, not its temporary
                if temporary not in e.path.parents:
                    raise
                raise WriteError(path / e.path.relative_to(temporary), e.error) from None
            if path.exists():
                _replace_dir(temporary, path)
            else:
                os.rename(temporary, path)
    finally:
        if temporary.exists():
            shutil.rmtree(temporary)


def _link_or_copy(source, target):
    """Hard-link ``source`` as ``target`` (no space used), or copy it where the file system cannot link."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)
