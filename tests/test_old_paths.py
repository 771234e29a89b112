"""The old import paths of the modules that moved into sub-packages (gradctrl.old_paths), kept for one release:
each gives the moved module itself, with one DeprecationWarning naming the new path, and a method registered
through the old path is in the one registry the commands read. Run in a fresh interpreter, so no earlier
import of an old path hides its warning."""
import json
import subprocess
import sys

from conftest import ROOT

MOVED = {"gradctrl.baselines": "gradctrl.edit.baselines", "gradctrl.datadir": "gradctrl.data.datadir",
         "gradctrl.methods": "gradctrl.edit.methods", "gradctrl.scorers": "gradctrl.data.scorers"}
CHECK = """
import importlib, json, sys, warnings
found = {}
for old, new in json.loads(sys.argv[1]).items():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        module = importlib.import_module(old)
    found[old] = {"same": module is importlib.import_module(new),
                  "warnings": [str(w.message) for w in caught if w.category is DeprecationWarning]}
from gradctrl import methods
from gradctrl.edit.methods import REGISTRY

@methods.register("test_old_path", "Old path")
def unchanged(context, w, case):
    return w

found["registered"] = REGISTRY["test_old_path"].edit is unchanged
print(json.dumps(found))
"""


def test_old_paths_give_the_moved_module_with_one_warning():
    process = subprocess.run([sys.executable, "-c", CHECK, json.dumps(MOVED)], cwd=ROOT, capture_output=True,
                             text=True, timeout=120)
    assert process.returncode == 0, process.stderr[-2000:]
    found = json.loads(process.stdout.splitlines()[-1])
    assert found.pop("registered") is True
    assert found == {old: {"same": True, "warnings": [f"{old} is deprecated and will be removed in the next release: "
                                                      f"import {new}"]} for old, new in MOVED.items()}
