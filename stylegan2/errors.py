"""Bad input, and what every command-line tool of the toolkit does with it: one line on stderr, exit code 2.

:class:`InputError` is the one exception type for bad input (gradctrl's ``UserError`` derives from it);
:func:`exit_on_input_error` is the one handler every command (``python -m stylegan2``, prepare_data.py,
train.py, manipulate.py, evaluate.py, ...) wraps its work in.
"""
import contextlib
import sys


class InputError(ValueError):
    """Bad user input (a file, an array, a flag). Command-line tools print its message and exit with code 2."""


@contextlib.contextmanager
def exit_on_input_error(prog):
    """Run the body; an :class:`InputError` prints ``prog: error: message`` to stderr and raises SystemExit(2)."""
    try:
        yield
    except InputError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
