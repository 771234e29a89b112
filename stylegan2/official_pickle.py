"""NVIDIA's official StyleGAN2 network pickle format, read and written without running any stored code.

An official generator file is a pickled tuple ``(G, D, Gs)`` of ``dnnlib.tflib.network.Network`` objects
(:func:`read_networks`); NVIDIA's attribute classifiers are one bare Network (:func:`read_network`). Each pickles
as its class plus a state dict: ``version``, ``name``, ``static_kwargs``, ``components`` (sub-Networks),
``build_module_src`` (Python source that NVIDIA's loader executes), ``build_func_name`` and ``variables``
(a list of (name, value) pairs holding that Network's own variables). Here the Network class is mapped
to :class:`NetworkState`, a plain holder of that dict, through the allow-list unpickler; the stored source
is kept as an inert string and never executed.
"""
import pickle
from pathlib import Path

import numpy as np

from . import safe_pickle
from .atomic import atomic_write
from .errors import InputError

NETWORK_GLOBAL = ("dnnlib.tflib.network", "Network")
DOWNLOAD_URL = "https://nvlabs-fi-cdn.nvidia.com/stylegan2/networks/"
MAPPING_LRMUL = 0.01  # NVIDIA's G_mapping learning-rate multiplier, when a pickle does not name one
NO_CODE_SRC = "# written by gradctrl-tf's stylegan2 package: this pickle stores no code; read it with stylegan2.load_generator\n"

_SUPPORTED_VERSIONS = (2, 3, 4)


class NetworkState:
    """The pickled state of one ``dnnlib.tflib.network.Network``, as plain data.

    Attributes: ``name`` (str), ``static_kwargs`` (dict), ``components`` (dict name -> NetworkState),
    ``build_func_name`` (str), ``build_module_src`` (as read: inert data, never executed), ``variables`` (dict name ->
    float32 ndarray, in stored order; 0-d variables as 0-d arrays).
    """

    def __init__(self, name, static_kwargs, build_func_name, variables, components=None):
        self.name = name
        self.static_kwargs = dict(static_kwargs)
        self.components = dict(components or {})
        self.build_func_name = build_func_name
        self.build_module_src = NO_CODE_SRC
        self.variables = {key: np.asarray(value, dtype=np.float32) for key, value in variables.items()}
        self.version = 4

    def __setstate__(self, state):
        """Pickle import: keep the raw state; :func:`read_networks` validates it."""
        self.raw_state = state

    def __getstate__(self):
        """Pickle export: the official version-4 state dict (0-d variables as numpy float32 scalars).

        ``build_module_src`` is always :data:`NO_CODE_SRC` (a comment): source read from a file is never written.
        """
        return {
            "version": 4,
            "name": self.name,
            "static_kwargs": dict(self.static_kwargs),
            "components": dict(self.components),
            "build_module_src": NO_CODE_SRC,
            "build_func_name": self.build_func_name,
            "variables": [(key, np.float32(value) if value.ndim == 0 else np.ascontiguousarray(value, np.float32))
                          for key, value in self.variables.items()],
        }

    def clone(self, name):
        """A copy named ``name`` with copied components (variable arrays shared, as they are never modified)."""
        components = {cname: c.clone(c.name) for cname, c in self.components.items()}
        return NetworkState(name, self.static_kwargs, self.build_func_name, self.variables, components)

    def all_variables(self, prefix=""):
        """Every variable of this network and its components: {'<component>/<name>': ndarray}, own first."""
        result = {prefix + key: value for key, value in self.variables.items()}
        for cname, component in self.components.items():
            result.update(component.all_variables(f"{prefix}{cname}/"))
        return result


def _validate(node, what, where):
    """Turn an unpickled NetworkState's raw state into checked attributes (recursively); InputError otherwise."""
    state = getattr(node, "raw_state", None)
    if not isinstance(state, dict):
        raise InputError(f"{what}: the Network '{where}' has no state dict: the file is damaged or not an official network pickle")
    version = state.get("version")
    if version not in _SUPPORTED_VERSIONS:
        raise InputError(f"{what}: the Network '{where}' has state version {version!r}; only versions 2-4 of NVIDIA's format are read")
    for key, kind in (("name", str), ("static_kwargs", dict), ("build_func_name", str), ("variables", list)):
        if not isinstance(state.get(key), kind):
            raise InputError(f"{what}: the Network '{where}' lacks '{key}' of type {kind.__name__}: the file is damaged")
    components = state.get("components", {})
    if not isinstance(components, dict) or not all(isinstance(c, NetworkState) for c in components.values()):
        raise InputError(f"{what}: the components of Network '{where}' are not Networks: the file is damaged")
    variables = {}
    for item in state["variables"]:
        if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str)
                and isinstance(item[1], (np.ndarray, np.number)) and np.issubdtype(np.asarray(item[1]).dtype, np.number)):
            raise InputError(f"{what}: a variable of Network '{where}' is not a (name, numeric array) pair: the file is damaged")
        variables[item[0]] = np.asarray(item[1], dtype=np.float32)
        if not np.all(np.isfinite(variables[item[0]])):
            raise InputError(f"{what}: variable '{item[0]}' of Network '{where}' holds NaN or infinite values: the "
                             "file is damaged or from a run that diverged: use another network or snapshot")
    del node.raw_state
    node.version = version
    node.name = state["name"]
    node.static_kwargs = dict(state["static_kwargs"])
    node.build_func_name = state["build_func_name"]
    node.build_module_src = state.get("build_module_src")
    node.variables = variables
    node.components = dict(components)
    for cname, component in node.components.items():
        _validate(component, what, f"{where}.components.{cname}")


def _describe(obj):
    """A short description of an unexpected pickled object, for messages."""
    if isinstance(obj, tuple):
        return f"a tuple of {len(obj)} items"
    return f"a {type(obj).__name__}"


def _unpickle(path, what, download_url):
    """Open ``path`` and unpickle it through the allow-list (numpy's rebuilders and the Network class) -> the object.

    Refuses (InputError, one line) a missing or unreadable file, a truncated or non-pickle file and any
    global outside the allow-list; a missing or truncated file's message says where ``download_url`` has
    NVIDIA's files.
    """
    try:
        file = open(path, "rb")
    except FileNotFoundError:
        raise InputError(f"{what} does not exist: check the path (NVIDIA's networks are at {download_url})") from None
    except IsADirectoryError:
        raise InputError(f"{what} is a directory: give the path of a .pkl file") from None
    except OSError as e:
        raise InputError(f"{what} cannot be opened ({e.strerror}): check the path and its permissions") from None
    allowed = dict(safe_pickle.NUMPY_GLOBALS)
    allowed[NETWORK_GLOBAL] = NetworkState
    with file:
        return safe_pickle.load(file, allowed, what,
                                fix=f"download it again (NVIDIA's networks are at {download_url}) or copy it again")


def read_networks(path):
    """Read an official network pickle safely. -> the Gs NetworkState (of ``(G, D, Gs)``, or a bare Gs).

    Refuses (InputError, one line) a missing or unreadable file, a truncated or non-pickle file, any global
    outside numpy's array/scalar rebuilders and the Network class, and a pickle of anything else.
    """
    obj, what = _load(path)
    if isinstance(obj, tuple) and len(obj) == 3 and all(isinstance(item, NetworkState) for item in obj):
        gs = obj[2]
    elif isinstance(obj, NetworkState):
        gs = obj
    else:
        raise InputError(f"{what} holds {_describe(obj)}, not NVIDIA's networks (a tuple (G, D, Gs) of "
                         "dnnlib.tflib.network.Network, or a bare Gs): give an official StyleGAN2 network pickle")
    _validate(gs, what, "Gs")
    return gs


def read_network_tuple(path):
    """Read an official training pickle ``(G, D, Gs)`` safely (as :func:`read_networks`). -> (G, D, Gs) NetworkStates."""
    obj, what = _load(path)
    if not (isinstance(obj, tuple) and len(obj) == 3 and all(isinstance(item, NetworkState) for item in obj)):
        raise InputError(f"{what} holds {_describe(obj)}, not a (G, D, Gs) tuple of networks: give a training "
                         "snapshot (network-snapshot-*.pkl) or an official StyleGAN2 pickle")
    for item, where in zip(obj, ("G", "D", "Gs")):
        _validate(item, what, where)
    return obj


def _load(path):
    """Unpickle ``path`` through the allow-list. -> (object, description of the file for messages)."""
    path = Path(path)
    what = f"network pickle '{path}'"
    return _unpickle(path, what, DOWNLOAD_URL), what


def read_network(path, what, download_url, where):
    """Read a pickle holding one bare ``dnnlib.tflib.network.Network`` safely -> its NetworkState, any build function.

    ``what`` names the file in messages (e.g. ``"classifier pickle 'x.pkl'"``), ``download_url`` is where a
    missing file can be downloaded, ``where`` names the Network in messages about its state. The same
    refusals as :func:`read_networks`, and a pickle of anything but one Network (a (G, D, Gs) tuple too).
    """
    obj = _unpickle(Path(path), what, download_url)
    if not isinstance(obj, NetworkState):
        raise InputError(f"{what} holds {_describe(obj)}, not one NVIDIA network (a bare "
                         "dnnlib.tflib.network.Network)")
    _validate(obj, what, where)
    return obj


class _OfficialPickler(pickle._Pickler):
    """Pickler that writes the official global names: the Network class as ``dnnlib.tflib.network.Network``
    and numpy's array/scalar rebuilders under their numpy-1 names (``numpy.core.multiarray``), as NVIDIA's
    files have them."""

    _NAMES = {
        NetworkState: NETWORK_GLOBAL,
        np.ndarray.__reduce__(np.zeros(0))[0]: ("numpy.core.multiarray", "_reconstruct"),
        np.float32(0).__reduce__()[0]: ("numpy.core.multiarray", "scalar"),
    }

    def save_global(self, obj, name=None):
        names = self._NAMES.get(obj)
        if names is None:
            return super().save_global(obj, name)
        self.save(names[0])
        self.save(names[1])
        self.write(pickle.STACK_GLOBAL)
        self.memoize(obj)
        return None


def write_networks(path, networks):
    """Write ``networks`` (a tuple of NetworkState, e.g. (G, D, Gs)) as an official pickle, protocol 4.

    The file is written under a temporary name in the same folder and renamed into place.
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise InputError(f"cannot write network pickle '{path}': the folder '{path.parent}' does not exist")
    try:
        with atomic_write(path) as file:
            _OfficialPickler(file, protocol=4).dump(tuple(networks))
    except OSError as e:
        raise InputError(f"cannot write network pickle '{path}' ({e.strerror}): check the folder's permissions") from None
