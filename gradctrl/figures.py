"""Paper-style figures: rows of labelled edit strips (original, then each step), downscaled into one PNG.

``python -m gradctrl.figures --config C --model_dir M --out F.png`` samples latents (the edit seed stream,
as manipulate.py), edits each with GradCtrl for every attribute (+1 and -1 rows for a binary attribute, one
row per class for a K-class one) using the config's defaults (exclusion, W+ layers, 9 steps of 4/9),
renders every step and assembles the strips into one figure: a label column on the left, every frame
optionally cropped to an aspect ratio (``--crop_aspect 4:3`` shows LSUN cars as NVIDIA does: 512 x 384 of
the 512 x 512 frame), every row downscaled so the strips are ``--width`` pixels wide (default 1024).
scripts/fig_ffhq.sh, fig_car.sh and fig_cat.sh run it with the paper's settings.
"""
import argparse

import numpy as np

from stylegan2.errors import exit_on_input_error
from stylegan2.images import write_png

from .errors import UserError

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
    from PIL import Image

    from .render import compose_strip

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
    from PIL import Image, ImageDraw, ImageFont

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


def edit_rows(G, clf, config, w, attributes, layerwise=None, batch_size=8, method="gradctrl_exclude"):
    """Edit strips of a registered edit method (default GradCtrl with the config's exclusion), yielded one at a
    time: (label, frames (steps + 1, H, W, C) uint8), original first.

    w: (N, w_dim); the rows of latent 0 come first. Each attribute gives one row per edit case ("+1" and
    "-1", or "to <class>" for each class of a K-class one). Exclusion, layers, steps and step size: the
    config's defaults (``layerwise`` (lo, hi) overrides the layers of every attribute).
    """
    from .methods import EditContext, config_cases, edit_latents
    from .render import render_originals, render_uint8, wplus

    context = EditContext(clf, G)
    cases = [case for name in attributes
             for case in config_cases(config, name, clf.num_classes[name], G.num_ws, layers=layerwise)]
    for i in range(len(w)):
        w_i = w[i:i + 1]
        original = render_originals(G, w_i, batch_size)
        for case in cases:
            traj = edit_latents(method, context, w_i, case).traj
            frames = render_uint8(G, wplus(w_i, traj, G.num_ws, case.layers)[0], batch_size)
            yield f"#{i} {case.attribute} {case.label}", np.concatenate([original, frames])


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m gradctrl.figures",
        description="Render a paper-style figure: rows of labelled GradCtrl edit strips (original + each step).")
    parser.add_argument("--config", required=True, help="TOML config (generator, attributes, edit defaults)")
    parser.add_argument("--model_dir", required=True, help="classifier directory: ours or the authors' released one")
    parser.add_argument("--generator", help="StyleGAN2 pickle (default: the config's generator.file)")
    parser.add_argument("--out", required=True, help="output PNG")
    parser.add_argument("--attributes", help="comma-separated attributes (default: every classifier attribute)")
    parser.add_argument("--n_samples", type=int, default=2, help="latents, one block of rows each (default 2)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the latents (manipulate's stream)")
    parser.add_argument("--truncation", type=float, help="truncation psi (default: the config's, 0.4)")
    parser.add_argument("--layerwise", help="lo:hi W+ layers for every attribute (default: the config's)")
    parser.add_argument("--width", type=int, default=1024, help="width of each strip in px (default 1024)")
    parser.add_argument("--crop_aspect", help="crop every frame to W:H first, e.g. 4:3 for LSUN cars")
    parser.add_argument("--title", help="a line of text above the rows")
    parser.add_argument("--batch_size", type=int, default=8, help="images rendered together (default 8)")
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    with exit_on_input_error(parser.prog):
        from .classifier import load_classifier
        from .config import check_against_generator, load_config
        from .generators import open_generator
        from .latents import STREAM_EDIT, sample_w
        from .manipulation import parse_layerwise

        for flag, value in (("--n_samples", args.n_samples), ("--width", args.width),
                            ("--batch_size", args.batch_size)):
            if value < 1:
                raise UserError(f"{flag} must be positive, got {value}")
        crop = parse_aspect(args.crop_aspect) if args.crop_aspect else None
        config = load_config(args.config)
        clf = load_classifier(args.model_dir)
        G = open_generator(args.generator, config)
        layerwise = parse_layerwise(args.layerwise, G.num_ws) if args.layerwise else None
        if layerwise is None:
            check_against_generator(config, G.num_ws, G.w_dim)
        if G.w_dim != clf.w_dim:
            raise UserError(f"the generator's w has width {G.w_dim} but the classifier in '{args.model_dir}' "
                            f"takes {clf.w_dim}: use a generator of the classifier's kind")
        attributes = [a.strip() for a in args.attributes.split(",")] if args.attributes else list(clf.attributes)
        for name in attributes:
            if name not in clf.num_classes:
                raise UserError(f"--attributes: '{name}' is not an attribute of the classifier "
                                f"({', '.join(clf.attributes)})")
        truncation = args.truncation if args.truncation is not None else config.generator.truncation
        w = sample_w(G, args.seed, np.arange(args.n_samples), truncation, STREAM_EDIT)
        figure = assemble_figure(edit_rows(G, clf, config, w, attributes, layerwise, args.batch_size),
                                 args.width, crop, args.title)
        write_png(args.out, np.asarray(figure))
        print(f"wrote {args.out} ({figure.width} x {figure.height} px)")


if __name__ == "__main__":
    main()
