"""The stage commands: prepare_data, train, manipulate, evaluate, tune, figures and project, each a
``main(argv=None)``.

Run them as ``python prepare_data.py ...`` (etc.) from the repository root, or, once installed, as
``gradctrl-prepare-data``, ``gradctrl-train``, ``gradctrl-manipulate``, ``gradctrl-evaluate``, ``gradctrl-tune``,
``gradctrl-figures`` and ``gradctrl-project``. Each reads its flags over the config (:mod:`gradctrl.options`),
fails on bad input with one line and exit code 2, and leaves the work to the library modules. Every command
of both packages (these, ``python -m gradctrl.world``, ``python -m gradctrl.report``, ``python -m stylegan2``)
is a ``build_parser()`` and a body run by :func:`stylegan2.command_line.run_command`; flags are spelled with
``_`` (old spellings: hidden aliases for one release, with a deprecation note).
"""
from stylegan2.command_line import keep_old_spellings, run_command  # noqa: F401  (the one convention of both packages)
