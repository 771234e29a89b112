"""What every command-line tool shares: turning bad input into one line on stderr and exit code 2."""
import contextlib
import sys

from stylegan2.errors import InputError


@contextlib.contextmanager
def exit_on_input_error(prog):
    """Run the body; an :class:`InputError` prints ``prog: error: message`` and raises ``SystemExit(2)``."""
    try:
        yield
    except InputError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
