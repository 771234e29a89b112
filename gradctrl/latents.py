"""Latent codes: seeded sampling of z and w, and reading latent files (ours, and the authors' through
:mod:`gradctrl.authors`).

Sample i of a stage's seed stream depends only on (seed, stream, i), never on batch size, sharding or the
order samples are drawn in, so a run split over machines draws exactly the samples of one uninterrupted
run. Each stage has its own stream, so editing and evaluation never reuse the training data's latents.
"""
from pathlib import Path

import numpy as np

from .errors import UserError

STREAM_DATA, STREAM_EDIT, STREAM_EVAL = 0, 1, 2
STREAM_TUNE = 3     # the tuner's validation latents (tune.py): never the evaluation's test latents


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


def load_latents(path, w_dim=None):
    """The w latents in ``path`` -> (N, w_dim) float32: a ``.npy`` file, or the authors' pickled array.

    ``w_dim``, if given, is the width the caller needs (the classifier's or generator's); a mismatch,
    a non-2-D array, an array without rows or columns (e.g. (0, w_dim)) or a non-finite value is a UserError.
    """
    path = Path(path)
    what = "latent file"
    if path.suffix == ".npy":
        try:
            array = np.load(path, allow_pickle=False)
        except FileNotFoundError:
            raise UserError(f"{what} '{path}' not found") from None
        except (ValueError, OSError) as e:
            raise UserError(f"{what} '{path}' is not a readable numeric .npy array ({e})") from None
    elif path.suffix in (".pkl", ".pickle"):
        from .authors import read_pickled_array

        array = read_pickled_array(path, what)
    else:
        raise UserError(f"{what} '{path}': unknown extension '{path.suffix}' (use .npy, or .pkl as the authors saved)")
    if array.ndim != 2:
        raise UserError(f"{what} '{path}' has shape {array.shape}: expected (N, w_dim), one w per row")
    if 0 in array.shape:
        raise UserError(f"{what} '{path}' is empty (shape {array.shape}): give a file holding at least one w "
                        "(N >= 1 rows), or leave --input_dir out to sample latents")
    if w_dim is not None and array.shape[1] != w_dim:
        raise UserError(f"{what} '{path}' holds latents of width {array.shape[1]}, but {w_dim} is needed")
    if not np.isfinite(array).all():
        raise UserError(f"{what} '{path}' contains NaN or infinite values")
    return array.astype(np.float32)
