"""The stage commands: prepare_data, train, manipulate, evaluate, tune, figures and project, each a
``main(argv=None)``.

Run them as ``python prepare_data.py ...`` (etc.) from the repository root, or, once installed, as
``gradctrl-prepare-data``, ``gradctrl-train``, ``gradctrl-manipulate``, ``gradctrl-evaluate``, ``gradctrl-tune``,
``gradctrl-figures`` and ``gradctrl-project``. Each reads its flags over the config (:mod:`gradctrl.options`),
fails on bad input with one line and exit code 2, and leaves the work to the library modules.
"""
from stylegan2.errors import exit_on_input_error, quiet_tensorflow


def run_command(parser, body, argv=None):
    """Parse ``argv`` (default: the command line) with ``parser`` and run ``body(args)`` inside the bad-input
    handler (one line on stderr, exit code 2) -> 0, the exit code of a command that finished. TensorFlow,
    when the body first imports it, starts quietly (:func:`stylegan2.errors.quiet_tensorflow`); a body checks
    its flags, paths and attributes before it needs TensorFlow, so bad input is refused at once."""
    quiet_tensorflow()
    args = parser.parse_args(argv)
    with exit_on_input_error(parser.prog):
        body(args)
    return 0
