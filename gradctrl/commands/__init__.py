"""The stage commands: prepare_data, train, manipulate, evaluate, tune and figures, each a ``main(argv=None)``.

Run them as ``python prepare_data.py ...`` (etc.) from the repository root, or, once installed, as
``gradctrl-prepare-data``, ``gradctrl-train``, ``gradctrl-manipulate``, ``gradctrl-evaluate``,
``gradctrl-tune`` and ``gradctrl-figures``. Each reads its flags over the config (:mod:`gradctrl.options`), fails on bad input
with one line and exit code 2, and leaves the work to the library modules.
"""
from stylegan2.errors import exit_on_input_error, quiet_tensorflow


def run_command(parser, body, argv=None):
    """Parse ``argv`` (default: the command line) with ``parser``, import TensorFlow quietly
    (:func:`stylegan2.errors.quiet_tensorflow`) and run ``body(args)`` inside the bad-input handler (one line
    on stderr, exit code 2) -> 0, the exit code of a command that finished."""
    args = parser.parse_args(argv)
    quiet_tensorflow()
    with exit_on_input_error(parser.prog):
        body(args)
    return 0
