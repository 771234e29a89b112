"""The library layer of ``figures.py`` (the command is :mod:`gradctrl.commands.figures`). Paper-style figures:
rows of labelled edit strips (original, then each step), downscaled into one PNG.

:func:`edit_rows` edits latents with a registered edit method (GradCtrl with the config's exclusion by
default) for every edit case of every attribute and renders each strip; :func:`assemble_figure` lays the
rows out: a label column on the left, every frame optionally cropped to an aspect ratio
(:func:`crop_to_aspect`: ``4:3`` shows LSUN cars as NVIDIA does, 512 x 384 of the 512 x 512 frame), every
row downscaled to one width. The command line is ``figures.py``; scripts/fig_ffhq.sh, fig_car.sh and
fig_cat.sh run it with the paper's settings.
"""
import numpy as np
from PIL import Image, ImageDraw, ImageFont
from tqdm import tqdm

from ..edit.methods import EditContext, config_cases, edit_latents
from ..errors import UserError
from ..render import compose_strip, render_originals, render_uint8, wplus

LABEL_MIN_WIDTH = 100
LABEL_MARGIN = 8
TITLE_HEIGHT = 28
FONT_SIZE = 14


def parse_aspect(text):
    """``"W:H"`` -> W / H as a float (e.g. "4:3" -> 1.333); UserError otherwise."""
    try:
        width, height = (float(v) for v in text.split(":"))
    except ValueError:
        raise UserError(f"--crop_aspect {text!r}: expected W:H, e.g. 4:3") from None
    if not (width > 0 and height > 0):
        raise UserError(f"--crop_aspect {text!r}: both sides must be positive")
    return width / height


def crop_to_aspect(frames, aspect):
    """Centre-crop frames (F, H, W, C) to width / height = ``aspect`` (the larger side shrinks).

    A 512 x 512 LSUN car frame at 4:3 keeps rows 64..447: the 512 x 384 picture, without NVIDIA's padding.
    """
    frames = np.asarray(frames)
    height, width = frames.shape[1:3]
    if width / height > aspect:
        keep = int(round(height * aspect))
        left = (width - keep) // 2
        return frames[:, :, left:left + keep]
    keep = int(round(width / aspect))
    top = (height - keep) // 2
    return frames[:, top:top + keep]


def strip_image(frames, width):
    """Frames (F, H, W, C) uint8 side by side, downscaled (Lanczos) so the strip is ``width`` px wide -> PIL image."""
    frames = np.asarray(frames, np.uint8)
    count, height, frame_width = frames.shape[:3]
    strip = compose_strip(frames)
    if strip.shape[-1] == 1:
        strip = strip[..., 0]
    image = Image.fromarray(strip)
    out_height = max(1, int(round(height * width / (count * frame_width))))
    return image.resize((width, out_height), Image.LANCZOS) if image.size != (width, out_height) else image


def assemble_figure(rows, width=1024, crop_aspect=None, title=None):
    """One figure from labelled rows: an iterable of (label, frames (F, H, W, C) uint8) -> PIL RGB image.

    Each row: the label on the left (a column as wide as the longest label), then its frames cropped to
    ``crop_aspect`` (W / H, or None) and downscaled into a strip ``width`` px wide (only the downscaled
    strips are kept, so rows may come from a generator). An optional title line on top.
    """
    font = ImageFont.load_default(size=FONT_SIZE)
    strips = []
    for label, frames in rows:
        frames = np.asarray(frames)
        if crop_aspect is not None:
            frames = crop_to_aspect(frames, crop_aspect)
        strips.append((label, strip_image(frames, width).convert("RGB")))
    if not strips:
        raise UserError("a figure needs at least one row")
    top = TITLE_HEIGHT if title else 0
    left = max([LABEL_MIN_WIDTH] + [int(font.getlength(label)) + 2 * LABEL_MARGIN for label, _ in strips])
    figure = Image.new("RGB", (left + width, top + sum(s.height for _, s in strips)), "white")
    draw = ImageDraw.Draw(figure)
    if title:
        draw.text((LABEL_MARGIN, top // 2), title, fill="black", font=font, anchor="lm")
    y = top
    for label, strip in strips:
        figure.paste(strip, (left, y))
        draw.text((LABEL_MARGIN, y + strip.height // 2), label, fill="black", font=font, anchor="lm")
        y += strip.height
    return figure


def edit_rows(G, clf, config, w, attributes, layerwise=None, batch_size=8, method="gradctrl_exclude", progress=False,
              base=None, sources=None):
    """Edit strips of a registered edit method (default GradCtrl with the config's exclusion), yielded one at a
    time: (label, frames (steps + 1, H, W, C) uint8), original first.

    w: (N, w_dim); the rows of latent 0 come first. Each attribute gives one row per edit case ("+1" and
    "-1", or "to <class>" for each class of a K-class one). Exclusion, layers, steps and step size: the
    config's defaults (``layerwise`` (lo, hi) overrides the layers of every attribute). ``progress``: a bar
    with rate and ETA on stderr, one tick per strip. ``base``: W+ start latents (N, num_ws, w_dim) whose mean
    over layers is w (:func:`gradctrl.data.latents.split_wplus`), rendered as :func:`gradctrl.render.wplus` says.
    ``sources``: uint8 (N, H, W, C) images the latents were projected from (project.py's), or None; each
    strip then starts with its source, before the original (the reconstruction).
    """
    context = EditContext(clf, G)
    cases = [case for name in attributes
             for case in config_cases(config, name, clf.num_classes[name], G.num_ws, layers=layerwise)]
    with tqdm(total=len(w) * len(cases), desc="strips", unit="strip", disable=not progress,
              dynamic_ncols=True) as bar:
        for i in range(len(w)):
            w_i = w[i:i + 1]
            base_i = None if base is None else base[i:i + 1]
            original = render_originals(G, w_i, batch_size, base_i)
            for case in cases:
                traj = edit_latents(method, context, w_i, case).traj
                frames = render_uint8(G, wplus(w_i, traj, G.num_ws, case.layers, base_i)[0], batch_size)
                bar.update()
                first = [original] if sources is None else [sources[i:i + 1], original]
                yield f"#{i} {case.attribute} {case.label}", np.concatenate(first + [frames])
