"""Old path of :mod:`gradctrl.data.scorers`, kept for one release (:mod:`gradctrl.old_paths`)."""
from .old_paths import alias

alias(__name__)
