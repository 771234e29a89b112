"""Old path of :mod:`gradctrl.edit.methods`, kept for one release (:mod:`gradctrl.old_paths`)."""
from .old_paths import alias

alias(__name__)
