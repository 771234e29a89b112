"""An allow-list unpickler: the one way this project reads pickles from outside.

Plain ``pickle.load`` calls whatever global a file names, so a network pickle can run any code.
:class:`AllowListUnpickler` resolves only the globals a reader passes in (each mapped to a safe
replacement) and refuses every other one with a one-line :class:`InputError` naming it. The foreign
format readers (NVIDIA's network pickles, the GradCtrl authors' ``.pth`` and ``.pkl`` files) each build
their allow-list from :data:`NUMPY_GLOBALS` plus the few classes of their own format.
"""
import io
import pickle

import numpy as np

from .errors import InputError


def _checked_dtype(spec, align=False, copy=True):
    """``numpy.dtype`` as pickles call it, refusing object dtypes (whose items would be arbitrary objects)."""
    dtype = np.dtype(spec, align, copy)
    if dtype.hasobject:
        raise InputError(f"refusing a pickled numpy array of object dtype {spec!r}: only numeric arrays are read")
    return dtype


def _reconstruct(subtype, shape, dtype):
    """``numpy.core.multiarray._reconstruct`` limited to plain ndarrays (no subclasses with custom state)."""
    if subtype is not np.ndarray:
        raise InputError(f"refusing to rebuild a pickled array of type {subtype!r}: only numpy.ndarray is read")
    return np.ndarray.__new__(np.ndarray, shape, dtype)


def _scalar(dtype, data=None):
    """``numpy.core.multiarray.scalar``: a numeric numpy scalar from its dtype and raw bytes."""
    if not isinstance(dtype, np.dtype) or dtype.hasobject or not isinstance(data, bytes):
        raise InputError("refusing a pickled numpy scalar that is not a plain numeric value")
    return np.frombuffer(data, dtype=dtype, count=1)[0]


def _frombuffer(buf, dtype, shape, order, axis_order=None):
    """``numpy.core.numeric._frombuffer`` (arrays in pickle protocol 5): a numeric array from raw bytes."""
    if not isinstance(dtype, np.dtype) or dtype.hasobject or not isinstance(buf, (bytes, bytearray)):
        raise InputError("refusing a pickled numpy array that is not a plain numeric buffer")
    array = np.frombuffer(buf, dtype=dtype)
    if order == "K" and axis_order is not None:
        return array.reshape(shape, order="C").transpose(axis_order)
    return array.reshape(shape, order=order)


def _latin1_bytes(text, encoding):
    """``_codecs.encode`` as protocol-2 pickles use it for bytes (an array's data): latin-1 text only."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise InputError("refusing a pickled _codecs.encode call other than the latin-1 encoding of bytes")
    return text.encode("latin-1")


# The globals that rebuild numeric arrays, dtypes and scalars, under numpy 1 and numpy 2 names (and the
# bytes of protocol-2 pickles).
NUMPY_GLOBALS = {("_codecs", "encode"): _latin1_bytes}
for _module in ("numpy.core.multiarray", "numpy._core.multiarray"):
    NUMPY_GLOBALS[(_module, "_reconstruct")] = _reconstruct
    NUMPY_GLOBALS[(_module, "scalar")] = _scalar
for _module in ("numpy.core.numeric", "numpy._core.numeric"):
    NUMPY_GLOBALS[(_module, "_frombuffer")] = _frombuffer
NUMPY_GLOBALS[("numpy", "ndarray")] = np.ndarray
NUMPY_GLOBALS[("numpy", "dtype")] = _checked_dtype


class AllowListUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the globals in ``allowed``: {(module, name): replacement object}.

    ``persistent_load``, if given, resolves persistent ids (PyTorch's storages); otherwise a persistent id
    is refused like an unknown global.
    """

    def __init__(self, file, allowed, what, persistent_load=None):
        super().__init__(file)
        self._allowed = allowed
        self._what = what
        self._persistent_load = persistent_load

    def find_class(self, module, name):
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise InputError(
                f"refusing to load {self._what}: it references the global '{module}.{name}', "
                "which is not on the allow-list (the file is not of the expected format, or is unsafe)"
            ) from None

    def persistent_load(self, pid):
        if self._persistent_load is None:
            raise InputError(f"refusing to load {self._what}: it holds a persistent reference, which this format never does")
        return self._persistent_load(pid)


def load(file, allowed, what, persistent_load=None, fix="download or copy it again"):
    """Read one pickle from a binary file object through the allow-list; every failure is an InputError.

    ``what`` names the file in messages, e.g. ``"network pickle 'x.pkl'"``; ``fix`` is what a truncated or
    empty file's message tells the user to do (e.g. where to download the file again).
    """
    try:
        return AllowListUnpickler(file, allowed, what, persistent_load).load()
    except InputError:
        raise
    except EOFError:
        raise InputError(f"{what} is truncated or empty: {fix}") from None
    except pickle.UnpicklingError as e:
        if "truncated" in str(e):  # the stream ends inside an opcode's argument: a cut-off download or copy
            raise InputError(f"{what} is truncated (it ends in the middle of its data): {fix}") from None
        raise InputError(f"{what} is not a readable pickle (UnpicklingError: {e})") from None
    except (ValueError, TypeError, AttributeError, IndexError, KeyError, MemoryError,
            UnicodeDecodeError, OverflowError) as e:
        raise InputError(f"{what} is not a readable pickle ({type(e).__name__}: {e})") from None


def loads(data, allowed, what, persistent_load=None, fix="download or copy it again"):
    """:func:`load` for bytes already in memory."""
    return load(io.BytesIO(data), allowed, what, persistent_load, fix)
