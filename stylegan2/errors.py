"""The generator layer's errors, shared by both packages (gradctrl's :mod:`gradctrl.errors` only narrows them).
Bad input, and what every command-line tool of the toolkit does with it: one line on stderr, exit code 2.

:class:`InputError` is the one exception type for bad input (gradctrl's ``UserError`` derives from it);
:func:`exit_on_input_error` is the one handler every command (``python -m stylegan2``, prepare_data.py,
train.py, manipulate.py, evaluate.py, ...) wraps its work in; :func:`quiet_tensorflow` is what each
calls first, so that TensorFlow, imported only when a command gets to work, starts quietly;
:func:`check_fits_in_memory` is the one limit on a size flag whose arrays would not fit in memory.
"""
import contextlib
import errno
import importlib.abc
import importlib.util
import logging
import os
import sys


class InputError(ValueError):
    """Bad user input (a file, an array, a flag). Command-line tools print its message and exit with code 2."""


@contextlib.contextmanager
def exit_on_input_error(prog):
    """Run the body; an :class:`InputError` prints ``prog: error: message`` to stderr and raises SystemExit(2),
    and so does a full disk (ENOSPC, EDQUOT) that no writer named."""
    try:
        yield
    except InputError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    except OSError as e:
        if e.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        where = f" '{os.fsdecode(e.filename)}'" if e.filename is not None else ""
        print(f"{prog}: error: cannot write{where} ({e.strerror}): free some space or choose another location",
              file=sys.stderr)
        raise SystemExit(2) from None


def physical_memory():
    """This machine's memory in bytes."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_fits_in_memory(flag, value, need, what):
    """``value`` of ``flag`` if ``need(value)`` (bytes, a Python int increasing with the value) fits in this
    machine's memory, else InputError naming the flag and the largest value that fits
    (``--n_samples 10000000000: must be at most 41187123 on this machine (the faces would take ...)``)."""
    memory = physical_memory()
    if need(value) <= memory:
        return value
    low, high = 0, value  # the largest value that fits, by bisection
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if need(middle) <= memory else (low, middle - 1)
    raise InputError(f"{flag} {value}: must be at most {low} on this machine ({what} would take "
                     f"{need(value) / 2 ** 30:.3g} GiB, and it has {memory / 2 ** 30:.0f} GiB of memory)")


def quiet_tensorflow():
    """Make TensorFlow's import quiet, whenever it comes: its C++ start-up log (``cuInit`` errors on a machine
    without a GPU, the oneDNN and CPU-feature notes, absl's pre-initialisation warning, all written to stderr
    before any log level applies) is hidden, and later C++ and absl messages below errors are too, unless the
    user asks for them with ``TF_CPP_MIN_LOG_LEVEL`` 0 or 1. TensorFlow is not imported here: the first
    ``import tensorflow`` (of any module) runs with stderr sent to the null device (:class:`_QuietImport`), so
    a command that refuses its input before it needs TensorFlow never pays for the import. Every command calls
    it first."""
    if os.environ.get("TF_CPP_MIN_LOG_LEVEL", "") in ("0", "1") or "tensorflow" in sys.modules:
        return
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    logging.getLogger("absl").setLevel(logging.ERROR)
    if not any(isinstance(finder, _QuietImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _QuietImport())


class _QuietImport(importlib.abc.MetaPathFinder):
    """Finds the ``tensorflow`` package through the other finders and wraps its loader in
    :class:`_QuietLoader`; removes itself after that first import."""

    def find_spec(self, name, path, target=None):
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


class _QuietLoader(importlib.abc.Loader):
    """A loader running another's ``exec_module`` with file descriptor 2 (stderr) on the null device."""

    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        sys.stderr.flush()
        saved = os.dup(2)
        try:
            with open(os.devnull, "w") as devnull:
                os.dup2(devnull.fileno(), 2)
            self.loader.exec_module(module)
        finally:
            os.dup2(saved, 2)
            os.close(saved)
