"""The GradCtrl authors' formats, read without PyTorch and without running any stored code: their released
classifiers (``model.pth`` + ``model_params.pkl``), their pickled latent and logit arrays, and their data
layout (``latents.pkl`` + ``logits/logits_<attr>.pkl``, :func:`read_authors_dir`).

Released classifiers: ``model.pth`` and ``model_params.pkl``.

``model.pth`` is PyTorch's legacy (pre-zip) serialization of a state dict. The file is, in order:

1. a pickle of the magic number ``0x1950a86a20f9469cfc6c``;
2. a pickle of the protocol version (1001);
3. a pickle of system information (``little_endian``, type sizes);
4. the state-dict pickle (an ``OrderedDict`` of tensors rebuilt by ``torch._utils._rebuild_tensor_v2``), whose
   storages are persistent ids ``('storage', <type>, key, location, n_elements, view_metadata)``;
5. a pickle of the storage keys, in the order their data follows;
6. for each key: its element count as a little-endian int64, then the raw little-endian elements.

Every pickle goes through :func:`stylegan2.safe_pickle.load` with an allow-list holding only the few
globals this format names, each mapped to a stand-in that builds numpy arrays; nothing from PyTorch runs.
``model_params.pkl`` is a plain dict of builtins (no globals at all).
"""
import collections
import os
import struct
from pathlib import Path

import numpy as np

from stylegan2 import safe_pickle

from ..data.datadir import DATA_FORMAT
from ..data.latents import load_latents, read_pickled_array
from ..errors import UserError
from ..generators import file_sha256

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001

# PyTorch's legacy storage classes and the numpy dtype of their little-endian elements.
STORAGE_DTYPES = {
    "FloatStorage": np.dtype("<f4"),
    "DoubleStorage": np.dtype("<f8"),
    "HalfStorage": np.dtype("<f2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}


class _StorageType:
    """Stand-in for ``torch.<Type>Storage``: only its element dtype matters."""

    def __init__(self, name):
        self.name = name
        self.dtype = STORAGE_DTYPES[name]


class _Storage:
    """A storage announced by a persistent id; ``data`` is filled in once the raw bytes are read."""

    def __init__(self, storage_type, key, n_elements):
        self.type = storage_type
        self.dtype = storage_type.dtype
        self.key = key
        self.n_elements = n_elements
        self.data = None


def _is_int(value):
    """True for a Python or numpy integer that is not a bool (the only offsets, sizes and counts accepted)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


class _LazyTensor:
    """Stand-in for ``torch._utils._rebuild_tensor_v2``'s result: a strided view to take once data is read.

    The arguments are kept as the file gave them; :meth:`materialize` checks each before using it."""

    def __init__(self, storage=None, offset=None, size=None, stride=None, *unused):
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride

    def materialize(self, what, name):
        """The tensor as a contiguous numpy array; UserError naming ``what`` and ``name`` when its storage,
        offset, size or stride is not what PyTorch writes, or the view does not fit inside its storage."""
        def bad(problem):
            return UserError(f"{what}: tensor '{name}' {problem} (the file is damaged or not a PyTorch checkpoint)")

        if not isinstance(self.storage, _Storage) or self.storage.data is None:
            raise bad("is not backed by one of the file's storages")
        data = self.storage.data
        if not _is_int(self.offset) or self.offset < 0:
            raise bad(f"has storage offset {self.offset!r}, not an integer >= 0")
        for field, value in (("size", self.size), ("stride", self.stride)):
            if not isinstance(value, (tuple, list)) or not all(_is_int(v) and v >= 0 for v in value):
                raise bad(f"has {field} {value!r}, not a tuple of integers >= 0")
        size, stride, offset = tuple(int(v) for v in self.size), tuple(int(v) for v in self.stride), int(self.offset)
        if len(size) != len(stride):
            raise bad(f"has a size {size} and a stride {stride} of different lengths")
        count = int(np.prod(size, dtype=object))
        if count > len(data):
            raise bad(f"has {count} elements (size {size}) but its storage holds {len(data)}")
        if count:
            last = offset + sum((n - 1) * s for n, s in zip(size, stride))
            if last >= len(data):
                raise bad(f"reaches element {last} of a storage of {len(data)} (offset {offset}, size {size}, "
                          f"stride {stride})")
        elif offset > len(data):
            raise bad(f"has storage offset {offset} past the end of its storage of {len(data)}")
        view = np.lib.stride_tricks.as_strided(
            data[offset:], shape=size, strides=[s * data.itemsize for s in stride], writeable=False)
        return np.array(view, dtype=data.dtype.newbyteorder("="), order="C")


def _allowed_globals():
    allowed = {("collections", "OrderedDict"): collections.OrderedDict,
               ("torch._utils", "_rebuild_tensor_v2"): _LazyTensor}
    for name in STORAGE_DTYPES:
        allowed[("torch", name)] = _StorageType(name)
    return allowed


def read_legacy_state_dict(path):
    """Read a legacy (pre-zip) PyTorch state dict from ``path``.

    Returns an ``OrderedDict`` {parameter name: np.ndarray} in the file's order (float32 for FloatStorage).
    Raises UserError naming the file when it is not this format, is damaged or truncated.
    """
    what = f"PyTorch checkpoint '{path}'"
    storages = {}

    def persistent_load(pid):
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage" and isinstance(pid[1], _StorageType)):
            raise UserError(f"{what}: unexpected persistent reference {_short(pid)} (not a legacy PyTorch storage)")
        _, storage_type, key, _location, n_elements = pid[:5]
        if not isinstance(key, str):
            raise UserError(f"{what}: a storage key is {_short(key)}, not a string (the file is damaged)")
        if not _is_int(n_elements) or n_elements < 0:
            raise UserError(f"{what}: storage {key} has element count {_short(n_elements)}, not an integer >= 0 "
                            "(the file is damaged)")
        if key not in storages:
            storages[key] = _Storage(storage_type, key, int(n_elements))
        elif (storages[key].type.name, storages[key].n_elements) != (storage_type.name, n_elements):
            raise UserError(f"{what}: storage {key} is announced twice with different types or sizes "
                            "(the file is damaged)")
        return storages[key]

    with open(path, "rb") as f:
        head = f.read(4)
        if head.startswith(b"PK"):
            raise UserError(f"{what} is in PyTorch's newer zip format; only the legacy format the authors released "
                            "is read (re-save it with torch.save(..., _use_new_zipfile_serialization=False))")
        f.seek(0)
        if safe_pickle.load(f, {}, what) != MAGIC_NUMBER:
            raise UserError(f"{what} is not a legacy PyTorch checkpoint (wrong magic number)")
        if safe_pickle.load(f, {}, what) != PROTOCOL_VERSION:
            raise UserError(f"{what} has an unsupported legacy protocol version (expected {PROTOCOL_VERSION})")
        sys_info = safe_pickle.load(f, {}, what)
        if not isinstance(sys_info, dict) or sys_info.get("little_endian") is not True:
            raise UserError(f"{what} was not written on a little-endian machine, which this reader does not handle")
        state = safe_pickle.load(f, _allowed_globals(), what, persistent_load)
        keys = safe_pickle.load(f, {}, what)
        if not isinstance(state, dict) or not isinstance(keys, list) or len(keys) != len(set(map(repr, keys))) \
                or set(map(repr, keys)) != set(map(repr, storages)):
            raise UserError(f"{what}: its storage list does not match its state dict (the file is damaged)")
        file_size = os.fstat(f.fileno()).st_size
        for key in keys:
            storage = storages[key]
            count_bytes = f.read(8)
            if len(count_bytes) < 8:
                raise UserError(f"{what} is truncated: download or copy it again")
            (count,) = struct.unpack("<q", count_bytes)
            if count != storage.n_elements:
                raise UserError(f"{what}: storage {key} holds {count} elements, its header says "
                                f"{storage.n_elements} (the file is damaged)")
            n_bytes = count * storage.dtype.itemsize
            if n_bytes > file_size - f.tell():
                raise UserError(f"{what} is truncated (storage {key} needs {n_bytes} bytes, "
                                f"{file_size - f.tell()} are left): download or copy it again")
            storage.data = np.frombuffer(f.read(n_bytes), dtype=storage.dtype)

    result = collections.OrderedDict()
    for name, value in state.items():
        if not isinstance(name, str):
            raise UserError(f"{what}: a state-dict entry is named {_short(name)}, not a string; this is not a "
                            "state dict")
        if not isinstance(value, _LazyTensor):
            raise UserError(f"{what}: entry '{name}' is not a tensor; this is not a state dict")
        result[name] = value.materialize(what, name)
    return result


def _short(value):
    """``repr(value)`` cut to 60 characters, for messages about values read from a file."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def read_model_params(path):
    """Read the authors' ``model_params.pkl``: a dict with 'attributes' ('a,b,c'), 'n_attributes',
    'n_shared_layers', 'hidden_size' (int or None) and optionally 'multiclass_classes' ('1,1,8' or None).

    Returns {'attributes': [names], 'num_classes': {name: 1 or K}, 'hidden_size': int|None,
    'n_shared_layers': int}. Raises UserError naming the file and the bad key.
    """
    what = f"model parameters '{path}'"
    with open(path, "rb") as f:
        params = safe_pickle.load(f, {}, what)
    if not isinstance(params, dict):
        raise UserError(f"{what} does not hold a dict")
    attributes = params.get("attributes")
    if not isinstance(attributes, str) or not attributes:
        raise UserError(f"{what}: 'attributes' must be a comma-separated string of names")
    names = attributes.split(",")
    if not all(names) or len(set(names)) != len(names):
        raise UserError(f"{what}: 'attributes' {_short(attributes)} must name distinct attributes, comma-separated")
    if params.get("n_attributes", len(names)) != len(names):
        raise UserError(f"{what}: 'n_attributes' is {params['n_attributes']} but 'attributes' names {len(names)}")
    classes = params.get("multiclass_classes")
    if classes is None:
        counts = [1] * len(names)
    else:
        try:
            counts = [int(c) for c in str(classes).split(",")]
        except ValueError:
            raise UserError(f"{what}: 'multiclass_classes' {classes!r} is not a comma-separated list of integers") from None
        if len(counts) != len(names) or min(counts) < 1:
            raise UserError(f"{what}: 'multiclass_classes' {classes!r} must give one count >= 1 per attribute")
    hidden_size = params.get("hidden_size")
    n_shared = params.get("n_shared_layers", 0)
    if not (hidden_size is None or _is_int(hidden_size) and hidden_size > 0):
        raise UserError(f"{what}: 'hidden_size' must be a positive integer or None, not {_short(hidden_size)}")
    if not _is_int(n_shared) or n_shared < 0:
        raise UserError(f"{what}: 'n_shared_layers' must be an integer >= 0, not {_short(n_shared)}")
    return {"attributes": names, "num_classes": dict(zip(names, counts)), "hidden_size": hidden_size,
            "n_shared_layers": n_shared}


def is_released_dir(path):
    """True when ``path`` is a directory holding both ``model.pth`` and ``model_params.pkl``."""
    return os.path.isfile(os.path.join(path, "model.pth")) and os.path.isfile(os.path.join(path, "model_params.pkl"))


def read_released(path):
    """Read an authors' model directory.

    Returns (params, weights): params as :func:`read_model_params`; weights {'shared': [(kernel (in, out),
    bias (out,)), ...], 'branches': {name: [(kernel, bias), ...]}} with kernels transposed to the
    ``x @ kernel + bias`` convention (PyTorch stores ``(out, in)``), float32. A linear branch has one layer,
    a hidden branch two. Raises UserError when the state dict does not match the parameters.
    """
    params = read_model_params(os.path.join(path, "model_params.pkl"))
    pth = os.path.join(path, "model.pth")
    state = read_legacy_state_dict(pth)
    used = set()

    def dense(prefix):
        w_key, b_key = prefix + ".weight", prefix + ".bias"
        if w_key not in state or b_key not in state:
            raise UserError(f"'{pth}' lacks '{w_key}' / '{b_key}', which its model_params.pkl implies")
        used.update((w_key, b_key))
        kernel, bias = state[w_key], state[b_key]
        for key, array in ((w_key, kernel), (b_key, bias)):
            if array.dtype.kind != "f":
                raise UserError(f"'{pth}': '{key}' holds {array.dtype} values, not floating-point weights "
                                "(the file is damaged or not this classifier)")
            if not np.all(np.isfinite(array)):
                raise UserError(f"'{pth}': '{key}' holds NaN or infinite values (the file is damaged): download "
                                "the released model again")
        if kernel.ndim != 2 or bias.shape != kernel.shape[:1]:
            raise UserError(f"'{pth}': '{w_key}' {kernel.shape} and '{b_key}' {bias.shape} are not one linear layer")
        return kernel.T.astype(np.float32), bias.astype(np.float32)

    shared = [dense(f"shared.{2 * i}") for i in range(params["n_shared_layers"])]
    n_layers = 1 if params["hidden_size"] is None else 2
    branches = {}
    for i, name in enumerate(params["attributes"]):
        # nn.Sequential(Linear, LeakyReLU, Linear): the linear layers sit at positions 0 and 2.
        branches[name] = [dense(f"classifiers.{i}.classifier.{2 * j}") for j in range(n_layers)]
    unused = sorted(set(state) - used)
    if unused:
        raise UserError(f"'{pth}' holds parameters its model_params.pkl does not describe: {', '.join(unused[:3])}")
    return params, {"shared": shared, "branches": branches}


# --- pickled arrays and the authors' data layout ---------------------------------------------------------

def _one_file(data_dir, stem, what):
    """The single existing ``data_dir/stem.pkl`` or ``.npy`` (stem may include a folder); none or both is a UserError."""
    found = [data_dir / f"{stem}{suffix}" for suffix in (".pkl", ".npy") if (data_dir / f"{stem}{suffix}").is_file()]
    if not found:
        raise UserError(f"--data_dir '{data_dir}': missing {stem}.pkl (or {stem}.npy) for {what}")
    if len(found) == 2:
        raise UserError(f"--data_dir '{data_dir}': both {stem}.pkl and {stem}.npy exist: keep one")
    return found[0]


def read_authors_dir(data_dir, attributes=None):
    """The authors' layout -> (latents (N, w_dim) float32, {attr: scores (N,) or (N, K) float32}, manifest).

    ``data_dir`` holds ``latents.pkl`` (or ``.npy``) and ``logits/logits_<attr>.pkl`` (or ``.npy``), each a
    numpy array (or list of arrays) read through an allow-list; logits (N, 1) are a binary attribute.
    ``attributes`` defaults to every logits file, in name order. Missing files or lengths that differ
    from the latents' are a UserError.
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise UserError(f"--data_dir '{data_dir}' does not exist")
    latents_path = _one_file(data_dir, "latents", "the latents")
    latents = load_latents(latents_path)
    logits_dir = data_dir / "logits"
    if attributes is None:
        stems = sorted({p.stem for p in logits_dir.glob("logits_*") if p.suffix in (".pkl", ".npy")})
        attributes = [stem[len("logits_"):] for stem in stems]
        if not attributes:
            raise UserError(f"--data_dir '{data_dir}': no logits/logits_<attr>.pkl files: add them or pass --attributes")
    scores, sources = {}, {}
    for attr in attributes:
        path = _one_file(data_dir, f"logits/logits_{attr}", f"attribute '{attr}'")
        array = _read_logits(path)
        if array.ndim not in (1, 2) or array.shape[0] != latents.shape[0]:
            raise UserError(f"--data_dir '{data_dir}': logits/{path.name} has shape {array.shape} but "
                            f"{latents_path.name} holds {latents.shape[0]} latents: expected ({latents.shape[0]}, K), "
                            "both from the same samples")
        if not np.all(np.isfinite(array)):
            raise UserError(f"--data_dir '{data_dir}': logits/{path.name} holds NaN or infinite values")
        if array.ndim == 2 and array.shape[1] == 1:
            array = array[:, 0]
        scores[attr] = array.astype(np.float32)
        sources[attr] = f"logits/{path.name} sha256:{file_sha256(path)}"
    manifest = {"format": DATA_FORMAT, "source": "data_dir", "latents_sha256": file_sha256(latents_path),
                "scorers": sources}
    return latents, scores, manifest


def _read_logits(path):
    """A numeric array from a .npy file or an allow-list-read pickle."""
    if path.suffix == ".npy":
        try:
            array = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as e:
            raise UserError(f"logits file '{path}' is not a readable numeric .npy array ({e})") from None
        if array.dtype.kind not in "fiub":
            raise UserError(f"logits file '{path}' holds dtype {array.dtype}, not numbers")
        return array
    return read_pickled_array(path, "logits file")
