"""Rendering edits: W+ codes from edited w, batched synthesis to uint8, strips.

An edit changes w; the image of step s uses the edited w only in W+ layers [lo, hi) and the original w in
every other layer (the authors' ``temp[0, lo:hi, :] = w_edited`` on the broadcast original). A W+ start
latent (``base``, e.g. from project.py --space w+) is edited through its mean over layers w0: layers
[lo, hi) of the image of step s hold base + (w_s - w0), every other layer base, so for a base that is w0
in every layer this is the same as above. A strip is the
original image (the original w in every layer) followed by the image of each step, side by side.
"""
import numpy as np

import stylegan2

from .errors import UserError
from .options import check_int, is_layer_range


def check_layers(layers, num_ws):
    """``layers`` (lo, hi) as ints; UserError unless 0 <= lo < hi <= num_ws."""
    lo, hi = (int(v) for v in layers)
    if not is_layer_range(lo, hi, num_ws):
        raise UserError(f"W+ layers [{lo}, {hi}) must satisfy 0 <= lo < hi <= {num_ws} (the generator's W+ layers)")
    return lo, hi


def wplus(w0, w_steps, num_ws, layers, base=None):
    """W+ codes of edited latents: w0 (N, w_dim), w_steps (N, S, w_dim) -> (N, S, num_ws, w_dim) float32.

    Layers [lo, hi) = ``layers`` hold w_steps[:, s]; every other layer holds w0. With a W+ ``base``
    (N, num_ws, w_dim) whose mean over layers is w0: layers [lo, hi) hold base + (w_steps[:, s] - w0), the
    others base.
    """
    w0 = np.asarray(w0, np.float32)
    w_steps = np.asarray(w_steps, np.float32)
    if w0.ndim != 2 or w_steps.ndim != 3 or w_steps.shape[0] != w0.shape[0] or w_steps.shape[2] != w0.shape[1]:
        raise UserError(f"start latents {w0.shape} and edited latents {w_steps.shape} do not fit together "
                        "(expected (N, w_dim) and (N, S, w_dim))")
    lo, hi = check_layers(layers, num_ws)
    n, s, w_dim = w_steps.shape
    if base is None:
        ws = np.broadcast_to(w0[:, None, None, :], (n, s, num_ws, w_dim)).copy()
        ws[:, :, lo:hi] = w_steps[:, :, None, :]
        return ws
    base = np.asarray(base, np.float32)
    if base.shape != (n, num_ws, w_dim):
        raise UserError(f"W+ start latents {base.shape} do not fit edited latents {w_steps.shape}: expected "
                        f"({n}, {num_ws}, {w_dim})")
    ws = np.broadcast_to(base[:, None], (n, s, num_ws, w_dim)).copy()
    ws[:, :, lo:hi] += (w_steps - w0[:, None])[:, :, None, :]
    return ws


def render_uint8(G, ws, batch_size=8):
    """Render W+ codes through ``G`` (constant noise): ws (M, num_ws, w_dim) -> (M, H, W, C) uint8."""
    ws = np.asarray(ws, np.float32)
    check_int(batch_size, "batch size")
    shape = (0, G.img_resolution, G.img_resolution, G.img_channels)
    parts = [stylegan2.to_uint8(G.synthesis(ws[i:i + batch_size], noise_mode="const"))
             for i in range(0, len(ws), batch_size)]
    return np.concatenate(parts) if parts else np.zeros(shape, np.uint8)


def render_originals(G, w0, batch_size=8, base=None):
    """Images of unedited latents: w0 (N, w_dim) in every W+ layer, or the W+ ``base`` (N, num_ws, w_dim)
    when given -> (N, H, W, C) uint8."""
    w0 = np.asarray(w0, np.float32)
    ws = np.repeat(w0[:, None], G.num_ws, axis=1) if base is None else np.asarray(base, np.float32)
    return render_uint8(G, ws, batch_size)


def render_strips(G, w0, traj, layers, batch_size=8, originals=None, base=None):
    """Edit strips: w0 (N, w_dim), traj (N, S, w_dim) -> (N, H, (S + 1) * W, C) uint8, original first.

    originals: the images of w0 (from :func:`render_originals`) when already rendered, else rendered here;
    base: W+ start latents (N, num_ws, w_dim) whose layer mean is w0 (see :func:`wplus`), or None.
    """
    w0 = np.asarray(w0, np.float32)
    n, s = np.shape(traj)[:2]
    originals = render_originals(G, w0, batch_size, base) if originals is None else originals
    steps = render_uint8(G, wplus(w0, traj, G.num_ws, layers, base).reshape(n * s, G.num_ws, -1), batch_size)
    frames = np.concatenate([originals[:, None], steps.reshape(n, s, *steps.shape[1:])], axis=1)
    return np.stack([compose_strip(f) for f in frames]) if n else np.zeros((0,) + originals.shape[1:], np.uint8)


def compose_strip(frames):
    """Frames (F, H, W, C) uint8 side by side -> (H, F * W, C)."""
    frames = np.asarray(frames)
    return np.concatenate(list(frames), axis=1)
