"""Old path of :mod:`gradctrl.data.datadir`, kept for one release (:mod:`gradctrl.old_paths`)."""
from .old_paths import alias

alias(__name__)
