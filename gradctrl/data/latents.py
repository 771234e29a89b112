"""Latent codes: seeded sampling of z and w, and reading latent files (ours, and the authors' pickled arrays,
:func:`read_pickled_array`, which :mod:`gradctrl.formats.authors` also reads their logits with).

Sample i of a stage's seed stream depends only on (seed, stream, i), never on batch size, sharding or the
order samples are drawn in, so a run split over machines draws exactly the samples of one uninterrupted
run. Each stage has its own stream, so editing and evaluation never reuse the training data's latents.
"""
from pathlib import Path

import numpy as np

from stylegan2 import safe_pickle

from ..errors import UserError

STREAM_DATA, STREAM_EDIT, STREAM_EVAL, STREAM_PROJECT = 0, 1, 2, 3
STREAM_TUNE = 4     # the tuner's validation latents (tune.py): never the evaluation's test latents


def sample_z(seed, indices, z_dim, stream):
    """z ~ N(0, I) for the given sample indices -> (len(indices), z_dim) float32.

    Row j depends only on (seed, stream, indices[j]): each sample has its own generator seeded with that
    triple through numpy's SeedSequence.
    """
    indices = np.asarray(indices, dtype=np.int64).reshape(-1)
    if seed < 0 or (indices < 0).any():
        raise UserError(f"seeds and sample indices must be non-negative, got seed {seed}")
    z = np.empty((len(indices), z_dim), np.float32)
    for row, index in enumerate(indices):
        z[row] = np.random.default_rng([int(seed), int(stream), int(index)]).standard_normal(z_dim)
    return z


def sample_w(G, seed, indices, truncation, stream, batch_size=256):
    """Mapped and truncated w for the given sample indices -> (len(indices), G.w_dim) float32.

    w = the mapping network's output for :func:`sample_z`, truncated towards ``G.w_avg`` with psi =
    ``truncation`` (one w per sample; the W+ broadcast copies are identical).
    """
    indices = np.asarray(indices, dtype=np.int64).reshape(-1)
    w = np.empty((len(indices), G.w_dim), np.float32)
    for start in range(0, len(indices), batch_size):
        z = sample_z(seed, indices[start:start + batch_size], G.z_dim, stream)
        w[start:start + len(z)] = np.asarray(G.mapping(z, truncation_psi=truncation))[:, 0]
    return w


def load_latents(path, w_dim=None, num_ws=None):
    """The w latents in ``path`` -> (N, w_dim) float32, or (N, num_ws, w_dim) W+ latents where ``num_ws`` is
    given: a ``.npy`` file, the ``w`` array of an ``.npz`` (project.py's latents.npz), or the authors'
    pickled array.

    ``w_dim``, if given, is the width the caller needs (the classifier's or generator's); a mismatch, an
    array of another rank (3-D only with ``num_ws``, and then with num_ws layers), an array without rows or
    columns (e.g. (0, w_dim)) or a non-finite value is a UserError.
    """
    path = Path(path)
    what = "latent file"
    if path.suffix in (".npy", ".npz"):
        try:
            array = np.load(path, allow_pickle=False)
            if path.suffix == ".npz":
                with array as archive:
                    array = archive["w"] if "w" in archive.files else None
        except FileNotFoundError:
            raise UserError(f"{what} '{path}' not found") from None
        except (ValueError, OSError) as e:
            raise UserError(f"{what} '{path}' is not a readable numeric {path.suffix} array ({e})") from None
        if array is None:
            raise UserError(f"{what} '{path}' holds no array 'w': give project.py's latents.npz or a .npy")
    elif path.suffix in (".pkl", ".pickle"):
        array = read_pickled_array(path, what)
    else:
        raise UserError(f"{what} '{path}': unknown extension '{path.suffix}' (use .npy, .npz from project.py, or "
                        ".pkl as the authors saved)")
    if array.ndim == 3 and num_ws is not None:
        if array.shape[1] != num_ws:
            raise UserError(f"{what} '{path}' has shape {array.shape}: W+ latents (N, num_ws, w_dim) need "
                            f"num_ws = {num_ws}, the generator's W+ layers")
    elif array.ndim != 2:
        expected = "(N, w_dim) or W+ (N, num_ws, w_dim)" if num_ws is not None else "(N, w_dim), one w per row"
        raise UserError(f"{what} '{path}' has shape {array.shape}: expected {expected}")
    if 0 in array.shape:
        raise UserError(f"{what} '{path}' is empty (shape {array.shape}): give a file holding at least one w "
                        "(N >= 1 rows), or leave --input_dir out to sample latents")
    if w_dim is not None and array.shape[-1] != w_dim:
        raise UserError(f"{what} '{path}' holds latents of width {array.shape[-1]}, but {w_dim} is needed")
    if not np.issubdtype(array.dtype, np.number) or not np.isfinite(array).all():
        raise UserError(f"{what} '{path}' contains NaN, infinite or non-numeric values")
    return array.astype(np.float32)


LATENT_FILE_NAMES = ("latents.npy", "latents.npz", "latents.pkl")


def load_sources(path, count, shape):
    """The source images project.py stored beside its latents -> uint8 (count, R, R, C), or None where ``path``
    is not an ``.npz`` holding ``sources`` (other latent files have none). ``shape``: (R, R, C) the generator's;
    sources of another shape or dtype, or fewer than ``count``, are a UserError."""
    path = Path(path)
    if path.suffix != ".npz":
        return None
    with np.load(path, allow_pickle=False) as archive:
        if "sources" not in archive.files:
            return None
        sources = archive["sources"]
    if sources.dtype != np.uint8 or sources.shape[1:] != tuple(shape) or len(sources) < count:
        raise UserError(f"'{path}' holds sources of shape {sources.shape} and dtype {sources.dtype}: expected "
                        f"uint8 (>= {count}, {', '.join(map(str, shape))}); rerun project.py with this generator")
    return sources[:count]


def latents_file(text, flag="--input_dir"):
    """The latent file a flag names: the path itself, or the first of :data:`LATENT_FILE_NAMES` inside a folder
    (UserError naming ``flag`` when the folder holds none)."""
    path = Path(text)
    if path.is_dir():
        for name in LATENT_FILE_NAMES:
            if (path / name).is_file():
                return path / name
        raise UserError(f"{flag} '{text}': the folder holds none of latents.npy, latents.npz (project.py) "
                        "and latents.pkl")
    return path


def split_wplus(latents):
    """Latents for editing -> (w (N, w_dim), base (N, num_ws, w_dim) or None).

    (N, w_dim) latents, and W+ latents whose layers are all equal (project.py --space w), are plain w (base
    None). Other W+ latents are edited through their mean over layers, w = base.mean(axis=1): an edit's
    change of w is added to the base's layers it edits (:func:`gradctrl.render.wplus`).
    """
    latents = np.asarray(latents, np.float32)
    if latents.ndim == 2:
        return latents, None
    if (latents == latents[:, :1]).all():
        return latents[:, 0].copy(), None
    return latents.mean(axis=1), latents


def read_pickled_array(path, what):
    """A numeric array from a pickle holding a numpy array or a (nested) list of arrays and numbers.

    The GradCtrl authors saved latents and logits this way. Only numpy's array-rebuilding globals are
    allowed, so nothing in the file can run code; a list of 2-D arrays (batches) is concatenated.
    """
    try:
        with open(path, "rb") as f:
            value = safe_pickle.load(f, safe_pickle.NUMPY_GLOBALS, f"{what} '{path}'")
    except FileNotFoundError:
        raise UserError(f"{what} '{path}' not found") from None
    except OSError as e:
        raise UserError(f"{what} '{path}' cannot be read: {e.strerror}") from None
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, np.ndarray) and v.ndim == 2 for v in value):
        value = np.concatenate(value)
    try:
        array = np.asarray(value)
    except ValueError as e:
        raise UserError(f"{what} '{path}' does not hold a rectangular array ({e})") from None
    if array.dtype.kind not in "fiub":
        raise UserError(f"{what} '{path}' holds {type(value).__name__} of dtype {array.dtype}, not a numeric array")
    return array
