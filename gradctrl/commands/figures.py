"""Paper-style figures: rows of labelled edit strips (original, then each step), downscaled into one PNG.

``python figures.py --config C --model_dir M --out F.png`` samples latents (the edit seed stream,
as manipulate.py), edits each with GradCtrl for every attribute (+1 and -1 rows for a binary attribute, one
row per class for a K-class one) using the config's defaults (exclusion, W+ layers, 9 steps of 4/9),
renders every step and assembles the strips into one figure (latents projected by project.py: each strip
starts with the source image, then the reconstruction): a label column on the left, every frame
optionally cropped to an aspect ratio (``--crop_aspect 4:3`` shows LSUN cars as NVIDIA does: 512 x 384 of
the 512 x 512 frame), every row downscaled so the strips are ``--width`` pixels wide (default 1024).
scripts/fig_ffhq.sh, fig_car.sh and fig_cat.sh run it with the paper's settings.
"""
import argparse

import numpy as np

from stylegan2.atomic import FolderLock
from stylegan2.images import write_png

from gradctrl.classifier.model import load_classifier, read_classifier_spec
from gradctrl.commands import run_command
from gradctrl.data.latents import STREAM_EDIT, latents_file, load_latents, load_sources, sample_w, split_wplus
from gradctrl.edit.manipulation import parse_layerwise
from gradctrl.errors import UserError
from gradctrl.evaluate.paper_figures import assemble_figure, edit_rows, parse_aspect
from gradctrl.formats.config import TRUNCATION_HELP, check_compatible, load_config
from gradctrl.generators import generator_file, load_generator_file
from gradctrl.options import MAX_FIGURE_WIDTH, check_int, check_latent_count, check_truncation, flags_over_config


def build_parser():
    parser = argparse.ArgumentParser(
        prog="figures.py",
        description="Render a paper-style figure: rows of labelled GradCtrl edit strips (original + each step).")
    parser.add_argument("--config", required=True, help="TOML config (generator, attributes, edit defaults)")
    parser.add_argument("--model_dir", required=True, help="classifier directory: ours or the authors' released one")
    parser.add_argument("--generator", help="StyleGAN2 pickle or its http(s) URL, downloaded once into "
                                            "$GRADCTRL_CACHE (default: the config's generator.file)")
    parser.add_argument("--allow_other_generator", action="store_true",
                        help="use a generator other than the one the model was trained on (its metrics.json "
                             "records it): a warning instead of a refusal")
    parser.add_argument("--out", required=True, help="output PNG")
    parser.add_argument("--attributes", help="comma-separated attributes (default: every classifier attribute)")
    parser.add_argument("--n_samples", type=int, default=2, help="latents, one block of rows each (default 2)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the latents (manipulate's stream)")
    parser.add_argument("--input_dir", help="latents to edit instead of sampled ones, as manipulate.py's "
                                            "--input_dir (e.g. project.py's folder: each strip then starts with "
                                            "the source image); the first --n_samples")
    parser.add_argument("--truncation", type=float, help=TRUNCATION_HELP)
    parser.add_argument("--layerwise", help="lo:hi W+ layers for every attribute (default: the config's)")
    parser.add_argument("--width", type=int, default=1024, help="width of each strip in px, at most 32768 (default 1024)")
    parser.add_argument("--crop_aspect", help="crop every frame to W:H first, e.g. 4:3 for LSUN cars")
    parser.add_argument("--title", help="a line of text above the rows")
    parser.add_argument("--batch_size", type=int, default=8, help="images rendered together (default 8)")
    parser.add_argument("--no_progress", action="store_true", help="no progress bar")
    return parser


def main(argv=None):
    """Run the command on ``argv`` (default: the command line) -> exit code 0; bad input exits with 2."""
    return run_command(build_parser(), _run, argv)


def _run(args):
    for flag, value in (("--n_samples", args.n_samples), ("--batch_size", args.batch_size)):
        check_int(value, flag)
    check_int(args.width, "--width", high=MAX_FIGURE_WIDTH)
    if args.truncation is not None:
        check_truncation(args.truncation, "--truncation")
    crop = parse_aspect(args.crop_aspect) if args.crop_aspect else None
    config = load_config(args.config)
    spec = read_classifier_spec(args.model_dir)   # the checks up to loading need no TensorFlow
    attributes = [a.strip() for a in args.attributes.split(",")] if args.attributes else list(spec.attributes)
    for name in attributes:
        if name not in spec.num_classes:
            raise UserError(f"--attributes: '{name}' is not an attribute of the classifier "
                            f"({', '.join(spec.attributes)})")
    generator_path = generator_file(args.generator, config)
    clf = load_classifier(args.model_dir)
    G = load_generator_file(generator_path, config)
    layerwise = parse_layerwise(args.layerwise, G.num_ws) if args.layerwise else None
    check_compatible(G, clf, config, generator_path, args.model_dir,
                     check_layers=layerwise is None, allow_other_generator=args.allow_other_generator)
    check_latent_count(args.n_samples, "--n_samples", G.w_dim)
    truncation = flags_over_config(args, truncation=config.generator.truncation).truncation
    base = sources = None
    if args.input_dir is not None:
        path = latents_file(args.input_dir)
        try:
            w, base = split_wplus(load_latents(path, w_dim=clf.w_dim, num_ws=G.num_ws)[:args.n_samples])
            sources = load_sources(path, len(w), (G.img_resolution, G.img_resolution, G.img_channels))
        except UserError as e:
            raise UserError(f"--input_dir '{args.input_dir}': {e}") from None
    else:
        w = sample_w(G, args.seed, np.arange(args.n_samples), truncation, STREAM_EDIT)
    with FolderLock(args.out, "--out"):
        rows = edit_rows(G, clf, config, w, attributes, layerwise, args.batch_size, progress=not args.no_progress,
                         base=base, sources=sources)
        figure = assemble_figure(rows, args.width, crop, args.title)
        write_png(args.out, np.asarray(figure))
    print(f"wrote {args.out} ({figure.width} x {figure.height} px)")
