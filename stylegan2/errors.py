"""Bad input, and what every command-line tool of the toolkit does with it: one line on stderr, exit code 2.

:class:`InputError` is the one exception type for bad input (gradctrl's ``UserError`` derives from it);
:func:`exit_on_input_error` is the one handler every command (``python -m stylegan2``, prepare_data.py,
train.py, manipulate.py, evaluate.py, ...) wraps its work in; :func:`quiet_tensorflow` is what each
calls before TensorFlow is imported; :func:`check_fits_in_memory` is the one limit on a size flag whose
arrays would not fit in memory.
"""
import contextlib
import errno
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
    (``--n 10000000000: must be at most 41187123 on this machine (the faces would take ...)``)."""
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
    """Import TensorFlow quietly: its C++ start-up log (``cuInit`` errors on a machine without a GPU, the
    oneDNN and CPU-feature notes, absl's pre-initialisation warning, all written to stderr before any log
    level applies) is hidden, and later C++ and absl messages below errors are too, unless the user asks
    for them with ``TF_CPP_MIN_LOG_LEVEL`` 0 or 1. Every command calls it once its flags are parsed."""
    import logging
    import os
    import sys

    if os.environ.get("TF_CPP_MIN_LOG_LEVEL", "") in ("0", "1") or "tensorflow" in sys.modules:
        return
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    logging.getLogger("absl").setLevel(logging.ERROR)
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
        import tensorflow  # noqa: F401  (imported here only to keep its start-up log off the terminal)
    finally:
        os.dup2(saved, 2)
        os.close(saved)
