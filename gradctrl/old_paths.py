"""The import paths of the modules that moved into sub-packages and were documented as importable from their
old place (``from gradctrl import methods`` in the README, ``from gradctrl.datadir import read_data_dir``,
``from gradctrl.baselines import ...`` and ``gradctrl.scorers.make_scorer`` in docs/), kept for one release.

Each old path is a module of three lines calling :func:`alias`, so importing it warns once and gives the
moved module itself (the same object: one registry of edit methods, whichever path registers).
"""
import importlib
import sys
import warnings

OLD_PATHS = {
    "gradctrl.baselines": "gradctrl.edit.baselines",
    "gradctrl.datadir": "gradctrl.data.datadir",
    "gradctrl.methods": "gradctrl.edit.methods",
    "gradctrl.scorers": "gradctrl.data.scorers",
}


def alias(old):
    """Make the old module path ``old`` (a key of :data:`OLD_PATHS`) the module it moved to, with a
    DeprecationWarning naming the new path; called by the old path's module as it is imported."""
    new = OLD_PATHS[old]
    warnings.warn(f"{old} is deprecated and will be removed in the next release: import {new}", DeprecationWarning,
                  stacklevel=3)
    sys.modules[old] = importlib.import_module(new)
