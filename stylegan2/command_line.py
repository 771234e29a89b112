"""The one command convention of both packages: a command is a ``build_parser()`` and a body ``body(args)``,
run by :func:`run_command` (``main(argv=None)`` of every command of ``stylegan2`` and ``gradctrl`` is
``run_command(build_parser(), body, argv)``), so every command parses, refuses bad input (one line on stderr,
exit code 2) and starts TensorFlow quietly the same way.

Flags are spelled one way everywhere: words joined by ``_`` (``--out_dir``, ``--total_kimg``, ``--no_progress``).
A spelling a release renamed stays accepted for one more release, hidden from ``--help``, and prints a one-line
deprecation note naming the new spelling (:func:`keep_old_spellings`).

This module imports nothing of TensorFlow or of ``gradctrl`` (``stylegan2`` never imports it).
"""
import argparse
import sys

from .errors import exit_on_input_error, quiet_tensorflow


def run_command(parser, body, argv=None):
    """Parse ``argv`` (default: the command line) with ``parser`` and run ``body(args)`` inside the bad-input
    handler (one line on stderr, exit code 2) -> 0, the exit code of a command that finished. TensorFlow,
    when the body first imports it, starts quietly (:func:`stylegan2.errors.quiet_tensorflow`); a body checks
    its flags, paths and attributes before it needs TensorFlow, so bad input is refused at once."""
    quiet_tensorflow()
    args = parse_args(parser, argv)
    with exit_on_input_error(parser.prog):
        body(args)
    return 0


def deprecation_note(old, new):
    """The one-line note an old flag spelling prints on stderr (see :func:`keep_old_spellings`)."""
    return f"note: {old} is deprecated and will be removed in the next release: use {new}"


class _OldSpelling(argparse.Action):
    """A hidden old spelling of a flag: prints :func:`deprecation_note` and acts as the new flag's action."""

    def __init__(self, option_strings, dest, target=None, **kwargs):
        self.target = target
        super().__init__(option_strings, dest, nargs=target.nargs, const=target.const, type=target.type,
                         choices=target.choices, default=argparse.SUPPRESS, help=argparse.SUPPRESS,
                         metavar=target.metavar)

    def __call__(self, parser, namespace, values, option_string=None):
        print(deprecation_note(option_string, self.target.option_strings[0]), file=sys.stderr)
        self.target(parser, namespace, values, self.target.option_strings[0])


def keep_old_spellings(parser, renamed):
    """Accept each old flag spelling of ``renamed`` ({old: new}, e.g. {"--outdir": "--out_dir"}) on ``parser``
    (a parser or subparser that has the new flag) as a hidden alias of the new one, with a deprecation note.
    A required new flag stays required: given by either spelling (checked by :func:`parse_args`)."""
    actions = {option: action for action in parser._actions for option in action.option_strings}
    for old, new in renamed.items():
        target = actions[new]
        if target.required:
            target.required = False
            parser.set_defaults(**{_REQUIRED_KEY: parser.get_default(_REQUIRED_KEY) or ()})
            parser.set_defaults(**{_REQUIRED_KEY: (*parser.get_default(_REQUIRED_KEY), new)})
        parser.add_argument(old, action=_OldSpelling, dest=target.dest, target=target)


_REQUIRED_KEY = "_required_renamed_flags"


def parse_args(parser, argv=None):
    """``parser.parse_args(argv)``, with the required flags :func:`keep_old_spellings` made optional checked as
    argparse checks a required flag (usage and exit code 2 when missing)."""
    args = parser.parse_args(argv)
    actions = {option: action for action in _all_actions(parser) for option in action.option_strings}
    missing = [flag for flag in getattr(args, _REQUIRED_KEY, ()) if getattr(args, actions[flag].dest) is None]
    if missing:
        parser.error(f"the following arguments are required: {', '.join(missing)}")
    if hasattr(args, _REQUIRED_KEY):
        delattr(args, _REQUIRED_KEY)
    return args


def _all_actions(parser):
    """Every action of ``parser`` and of its subparsers."""
    for action in parser._actions:
        yield action
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _all_actions(sub)
