"""The edit stage behind ``manipulate.py``: edit latents, render strips, save trajectories and settings.

Edits are made by the registered edit methods of :mod:`gradctrl.edit.methods` (``--method``), one
:class:`~gradctrl.edit.methods.EditCase` per direction / target class.

Outputs in the output directory, per attribute ``A``:

- ``<iiii>_<A>_<case>.png``: the strip of latent i (zero-padded to at least 4 digits): the original, then
  each step, left to right, each frame the generator's resolution; case = the edit case's tag,
  ``positive`` / ``negative`` for a binary attribute (direction +1 / -1), the config's class name (else
  ``class<c>``) for class c of a K-class one;
- ``<A>_edits.npz``: ``w0`` (N, w_dim); ``ws0`` (N, num_ws, w_dim) for W+ start latents (w0 is their mean
  over layers, :func:`gradctrl.data.latents.split_wplus`); ``traj_<case>`` (N, steps, w_dim); ``probs_<case>_<B>`` for every
  classifier attribute B: (N, steps + 1) or (N, steps + 1, K) probabilities, index 0 at w0;
- ``<A>_<method>_directions.npy``: a baseline's unit directions (K', w_dim) float32 (InterFaceGAN's normals,
  GANSpace's components; row c leads towards class c), for reuse;
- ``<A>_settings.json``: every setting used, the files written and the zero-gradient step counts;
- ``index.html`` and ``page/<strip>.gif``: the folder's results page, every attribute in it, with an animation
  of each strip (:func:`gradctrl.evaluate.pages.write_edit_page`).

An edit run appears whole or not at all (:func:`edit_folder`): the output directory is rebuilt in a
temporary sibling holding the other attributes' outputs and this run's, then swapped into place, so an
earlier run of the same attribute is replaced, never mixed with.
"""
import contextlib
import functools
import json
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from stylegan2.atomic import atomic_dir, atomic_write
from stylegan2.images import write_png

from ..errors import UserError
from ..files import BackgroundWriter
from ..options import is_layer_range, is_top_k
from ..render import render_originals, render_strips
from .methods import edit_latents, method_directions


def resolve_exclude(exclude_flag, top_channels_flag, attribute, clf, attribute_config, where):
    """The exclusion {name: k} from ``--exclude`` / ``--top_channels`` over the config's defaults.

    exclude_flag: None (config default), "none", or "a,b"; top_channels_flag: None or "250,100" (one count
    per excluded attribute). ``where`` names the classifier in messages. UserError naming the flag otherwise.
    """
    known = ", ".join(clf.attributes)
    if exclude_flag is None:
        names = list(attribute_config.exclude)
        for name in names:
            if name not in clf.num_classes:
                raise UserError(f"config default exclusion of '{attribute}' names '{name}', which the classifier in "
                                f"{where} lacks (it has {known}): pass --exclude")
    elif exclude_flag.strip().lower() == "none":
        names = []
    else:
        names = [n.strip() for n in exclude_flag.split(",")]
        for name in names:
            if name == attribute:
                raise UserError(f"--exclude '{name}': the edited attribute cannot be excluded from its own edit")
            if name not in clf.num_classes:
                raise UserError(f"--exclude '{name}': the classifier in {where} has no such attribute (it has {known})")
        if len(set(names)) != len(names):
            raise UserError(f"--exclude '{exclude_flag}' names an attribute twice")
    if top_channels_flag is None:
        missing = [n for n in names if n not in attribute_config.exclude]
        if missing:
            raise UserError(f"--exclude '{missing[0]}': the config gives no top-k for it: pass --top_channels")
        counts = [attribute_config.exclude[n] for n in names]
    else:
        try:
            counts = [int(c) for c in top_channels_flag.split(",")] if top_channels_flag.strip() else []
        except ValueError:
            raise UserError(f"--top_channels '{top_channels_flag}': expected comma-separated integers, "
                            "one per excluded attribute") from None
        if len(counts) != len(names):
            raise UserError(f"--top_channels '{top_channels_flag}' gives {len(counts)} count(s) but --exclude names "
                            f"{len(names)} attribute(s) ({', '.join(names) or 'none'})")
    for name, k in zip(names, counts):
        if not is_top_k(k, clf.w_dim):
            flag = "--top_channels" if top_channels_flag is not None else "config exclude"
            raise UserError(f"{flag} {k} for '{name}': top-k must be in [0, {clf.w_dim}] (the latent width)")
    return dict(zip(names, counts))


def parse_layerwise(text, num_ws):
    """``--layerwise lo:hi`` -> (lo, hi) with 0 <= lo < hi <= num_ws; UserError naming the flag otherwise."""
    try:
        lo, hi = (int(v) for v in text.split(":"))
    except ValueError:
        raise UserError(f"--layerwise '{text}': expected lo:hi, e.g. 2:10") from None
    if not is_layer_range(lo, hi, num_ws):
        raise UserError(f"--layerwise '{text}': must satisfy 0 <= lo < hi <= {num_ws} (the generator's W+ layers)")
    return lo, hi


def _probabilities(clf, w0, traj):
    """{name: (N, steps + 1[, K])} probabilities of every attribute at w0 and after each step."""
    n, steps, w_dim = traj.shape
    path = np.concatenate([w0[:, None], traj], axis=1).reshape(-1, w_dim)
    return {name: p.reshape(n, steps + 1, *p.shape[1:]) for name, p in clf.predict(path).items()}


SETTINGS_SUFFIX = "_settings.json"


def check_edit_dir(path):
    """``path`` as a Path if manipulate.py may write there: absent, empty, or an edit folder (holding some
    ``<A>_settings.json``); UserError otherwise, before any work."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserError(f"--out_dir '{path}' exists and is not a folder: choose another path")
    if path.is_dir():
        names = [p.name for p in path.iterdir() if not p.name.startswith(".")]
        if names and not any(name.endswith(SETTINGS_SUFFIX) for name in names):
            raise UserError(f"--out_dir '{path}' holds files that are not manipulate.py output ({names[0]}): choose "
                            "another --out_dir or remove it")
    return path


def _run_files(folder, attribute):
    """The files of the earlier edit run of ``attribute`` in ``folder``, as its settings list them."""
    settings_path = folder / f"{attribute}{SETTINGS_SUFFIX}"
    files = {settings_path.name, f"{attribute}_edits.npz"}
    try:
        settings = json.loads(settings_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return files
    for key in ("strips", "directions"):
        files.update(name for name in settings.get(key) or [] if isinstance(name, str))
    if isinstance(settings.get("npz"), str):
        files.add(settings["npz"])
    return files


@contextlib.contextmanager
def edit_folder(out_dir, attribute):
    """Yield a temporary folder beside ``out_dir`` holding every entry of ``out_dir`` except the earlier run of
    ``attribute`` (hard links); write this run's files into it. When the body succeeds it replaces ``out_dir``
    whole; when it fails (or is killed) ``out_dir`` is as it was. Hold ``out_dir``'s lock around it."""
    out_dir = check_edit_dir(out_dir)
    replaced = _run_files(out_dir, attribute) if out_dir.is_dir() else set()
    with atomic_dir(out_dir, keep=lambda name: name not in replaced and not name.startswith(".")) as folder:
        yield folder


def run_edits(context, method, w, cases, out_dir, batch_size=8, log=print, progress=True, base=None):
    """Edit, render and save every latent of ``w`` (N, w_dim) for every case (:class:`EditCase`) of one attribute.

    ``base``: W+ start latents (N, num_ws, w_dim) whose mean over layers is ``w``, rendered as
    :func:`gradctrl.render.wplus` says; None for plain w.

    ``method``: a registered edit method's name (:mod:`gradctrl.edit.methods`). Latents are handled ``batch_size``
    at a time: each batch is edited together (every case), its originals are rendered once for all cases and
    the steps in batches; PNGs are encoded on a background thread while the next images render. Writes the
    strips, ``<attribute>_edits.npz`` and a baseline's directions into ``out_dir`` (see the module docstring)
    and returns a summary {"cases", "strips", "zero_gradient_steps": {tag: count}, "npz", "directions"}; the
    caller writes the settings JSON. ``progress``: a bar (rate, ETA) on stderr over the latents and cases.
    """
    out_dir = Path(out_dir)
    attribute = cases[0].attribute
    n, w_dim = w.shape
    digits = max(4, len(str(max(n - 1, 0))))
    arrays = {"w0": w} if base is None else {"w0": w, "ws0": base}
    zero = {case.tag: 0 for case in cases}
    strips = {case.tag: [] for case in cases}
    trajectories = {case.tag: [] for case in cases}
    with BackgroundWriter() as writer, tqdm(total=n * len(cases), desc=f"manipulate {attribute}", unit="strip",
                                            disable=not progress, file=sys.stderr, dynamic_ncols=True) as bar:
        for start in range(0, n, batch_size):
            w_batch = w[start:start + batch_size]
            base_batch = None if base is None else base[start:start + batch_size]
            originals = render_originals(context.generator, w_batch, batch_size, base_batch)  # shared by every case
            for case in cases:
                edit = edit_latents(method, context, w_batch, case)
                images = render_strips(context.generator, w_batch, edit.traj, case.layers, batch_size, originals,
                                       base_batch)
                for offset, image in enumerate(images):
                    path = out_dir / f"{start + offset:0{digits}d}_{attribute}_{case.tag}.png"
                    writer.submit(write_strip, path, image)
                    strips[case.tag].append(path.name)
                trajectories[case.tag].append(edit.traj)
                zero[case.tag] += edit.zero_gradient_steps
                bar.update(len(w_batch))
    for case in cases:
        steps = case.steps
        traj = np.concatenate(trajectories[case.tag]) if n else np.zeros((0, steps, w_dim), np.float32)
        arrays[f"traj_{case.tag}"] = traj
        for name, p in _probabilities(context.classifier, w, traj).items():
            arrays[f"probs_{case.tag}_{name}"] = p
        log(f"{attribute} {case.tag}: {n} strip(s); {zero[case.tag]} step(s) left a latent unchanged")
    npz = out_dir / f"{attribute}_edits.npz"
    with atomic_write(npz) as f:
        np.savez(f, **arrays)
    directions = []
    rows = method_directions(method, context, cases[0])
    if rows is not None:
        path = out_dir / f"{attribute}_{method}_directions.npy"
        with atomic_write(path) as f:
            np.save(f, rows, allow_pickle=False)
        directions.append(path.name)
    return {"cases": [case.tag for case in cases], "strips": [name for case in cases for name in strips[case.tag]],
            "zero_gradient_steps": zero, "npz": npz.name, "directions": directions}


# Strips are encoded beside rendering: zlib level 1 encodes about 5x faster than PIL's 6 for files about 20 %
# larger (measured on generator strips), which keeps encoding small next to rendering.
write_strip = functools.partial(write_png, compress_level=1)
