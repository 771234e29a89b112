"""The stage commands: prepare_data, train, manipulate, evaluate and figures, each a ``main(argv=None)``.

Run them as ``python prepare_data.py ...`` (etc.) from the repository root, or, once installed, as
``gradctrl-prepare-data``, ``gradctrl-train``, ``gradctrl-manipulate``, ``gradctrl-evaluate`` and
``gradctrl-figures``. Each reads its flags over the config (:mod:`gradctrl.options`), fails on bad input
with one line and exit code 2, and leaves the work to the library modules.
"""
