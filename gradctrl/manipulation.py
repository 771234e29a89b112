"""The edit stage behind ``manipulate.py``: edit latents, render strips, save trajectories and settings.

Edits are made by the registered edit methods of :mod:`gradctrl.methods` (``--method``), one
:class:`~gradctrl.methods.EditCase` per direction / target class.

Outputs in the output directory, per attribute ``A`` (each file written atomically):

- ``<i>_<A>_<case>.png``: the strip of latent i (original, then each step); case = the edit case's tag,
  ``positive`` / ``negative`` for a binary attribute (direction +1 / -1), ``class<c>`` for class c of a
  K-class one;
- ``<A>_edits.npz``: ``w0`` (N, w_dim); ``traj_<case>`` (N, steps, w_dim); ``probs_<case>_<B>`` for every
  classifier attribute B: (N, steps + 1) or (N, steps + 1, K) probabilities, index 0 at w0;
- ``<A>_settings.json``: every setting used, the files written and the zero-gradient step counts.
"""
import functools
from pathlib import Path

import numpy as np

from stylegan2.atomic import atomic_write
from stylegan2.images import write_png

from .errors import UserError
from .files import BackgroundWriter
from .methods import edit_latents
from .render import render_originals, render_strips


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
        if not 0 <= k <= clf.w_dim:
            flag = "--top_channels" if top_channels_flag is not None else "config exclude"
            raise UserError(f"{flag} {k} for '{name}': top-k must be in [0, {clf.w_dim}] (the latent width)")
    return dict(zip(names, counts))


def parse_layerwise(text, num_ws):
    """``--layerwise lo:hi`` -> (lo, hi) with 0 <= lo < hi <= num_ws; UserError naming the flag otherwise."""
    try:
        lo, hi = (int(v) for v in text.split(":"))
    except ValueError:
        raise UserError(f"--layerwise '{text}': expected lo:hi, e.g. 2:10") from None
    if not 0 <= lo < hi <= num_ws:
        raise UserError(f"--layerwise '{text}': must satisfy 0 <= lo < hi <= {num_ws} (the generator's W+ layers)")
    return lo, hi


def _probabilities(clf, w0, traj):
    """{name: (N, steps + 1[, K])} probabilities of every attribute at w0 and after each step."""
    n, steps, w_dim = traj.shape
    path = np.concatenate([w0[:, None], traj], axis=1).reshape(-1, w_dim)
    return {name: p.reshape(n, steps + 1, *p.shape[1:]) for name, p in clf.predict(path).items()}


def run_edits(context, method, w, cases, out_dir, batch_size=8, log=print):
    """Edit, render and save every latent of ``w`` (N, w_dim) for every case (:class:`EditCase`) of one attribute.

    ``method``: a registered edit method's name (:mod:`gradctrl.methods`). Latents are handled ``batch_size``
    at a time: each batch is edited together (every case), its originals are rendered once for all cases and
    the steps in batches; PNGs are encoded on a background thread while the next images render. Writes the
    strips and ``<attribute>_edits.npz`` into ``out_dir`` (see the module docstring) and returns a summary
    {"cases", "strips", "zero_gradient_steps": {tag: count}, "npz"}; the caller writes the settings JSON.
    """
    out_dir = Path(out_dir)
    attribute = cases[0].attribute
    n, w_dim = w.shape
    arrays = {"w0": w}
    zero = {case.tag: 0 for case in cases}
    strips = {case.tag: [] for case in cases}
    trajectories = {case.tag: [] for case in cases}
    with BackgroundWriter() as writer:  # PNG encoding overlaps the next renders
        for start in range(0, n, batch_size):
            w_batch = w[start:start + batch_size]
            originals = render_originals(context.generator, w_batch, batch_size)  # shared by every case
            for case in cases:
                edit = edit_latents(method, context, w_batch, case)
                images = render_strips(context.generator, w_batch, edit.traj, case.layers, batch_size, originals)
                for offset, image in enumerate(images):
                    path = out_dir / f"{start + offset}_{attribute}_{case.tag}.png"
                    writer.submit(write_strip, path, image)
                    strips[case.tag].append(path.name)
                trajectories[case.tag].append(edit.traj)
                zero[case.tag] += edit.zero_gradient_steps
    for case in cases:
        steps = case.steps
        traj = np.concatenate(trajectories[case.tag]) if n else np.zeros((0, steps, w_dim), np.float32)
        arrays[f"traj_{case.tag}"] = traj
        for name, p in _probabilities(context.classifier, w, traj).items():
            arrays[f"probs_{case.tag}_{name}"] = p
        log(f"{attribute} {case.tag}: {n} strip(s); {zero[case.tag]} step(s) left a latent unchanged "
            "(zero masked gradient)")
    npz = out_dir / f"{attribute}_edits.npz"
    with atomic_write(npz) as f:
        np.savez(f, **arrays)
    return {"cases": [case.tag for case in cases], "strips": [name for case in cases for name in strips[case.tag]],
            "zero_gradient_steps": zero, "npz": npz.name}


# Strips are encoded beside rendering: zlib level 1 encodes about 5x faster than PIL's 6 for files about 20 %
# larger (measured on generator strips), which keeps encoding small next to rendering.
write_strip = functools.partial(write_png, compress_level=1)
