"""Writing a file under a temporary name in its folder and renaming it into place, so it is never half-written."""
import contextlib
import os
import secrets
from pathlib import Path


@contextlib.contextmanager
def atomic_write(path):
    """Yield a binary file object; on success the file appears at ``path`` (replacing it), on error nothing does.

    The temporary file is created with the usual permissions (the process umask applies).
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "xb") as file:
            yield file
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
