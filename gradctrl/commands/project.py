"""Project real images into the generator's W or W+ space (NVIDIA's projector recipe), for editing them.

    python project.py --config C --images PATH --out_dir DIR [--space w|w+] [--steps 1000] [--seed 0]
        [--generator PKL] [--vgg16 PATH|imagenet] [--features keras:PATH] [--features_weight 1]
        [--tune_generator N] [--batch_size 8] [--no_progress]

PATH is a folder of PNG / JPEG images or an .npy of uint8 (N, H, W, C) images; each is converted to the
generator's channels, area-resized and centre-cropped to its resolution (a note says what was done).
--space w fits one w shared by every layer (NVIDIA's), w+ one per layer. The loss: an LPIPS-style distance
on VGG16 features with --vgg16 (NVIDIA's choice), else one that needs no download: pixel L2 + SSIM where
the resolution allows; either plus the L2 of a Keras model's outputs (--features). --tune_generator N then
fine-tunes the synthesis weights around the fitted latents for N steps (pivotal tuning) and writes the
tuned generator. Writes, as one folder that appears whole or not at all: latents.npz (w (N, num_ws, w_dim),
names, the sources as fitted (figures.py starts each strip with them), distance and noise_penalty per step,
the fitted noise maps noise<i>), reconstructions.png (per image: source, reconstruction, absolute
difference; with tuning, the tuned generator's), project.json
(every setting), index.html (the results page: gradctrl.project.page) and, with tuning, tuned_generator.pkl
(official format). manipulate.py --input_dir DIR
[--generator DIR/tuned_generator.pkl] edits the latents. The recipe and its measurements: docs/projection.md.
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

import stylegan2
from stylegan2.atomic import FolderLock, atomic_dir, atomic_write
from stylegan2.images import write_png

from gradctrl.commands import run_command
from gradctrl.errors import UserError
from gradctrl.files import write_json
from gradctrl.formats import config as config_module
from gradctrl.generators import file_sha256, generator_file, load_generator_file
from gradctrl.options import check_int, check_number
from gradctrl.project import projection
from gradctrl.project.page import write_projection_page
from gradctrl.project.projection import SPACES
from gradctrl.project.targets import read_targets
from gradctrl.render import compose_strip

LATENTS_FILE, RECONSTRUCTIONS_FILE, SETTINGS_FILE = "latents.npz", "reconstructions.png", "project.json"
TUNED_GENERATOR_FILE = "tuned_generator.pkl"


def build_parser():
    parser = argparse.ArgumentParser(prog="project.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, help="TOML config (its [generator] table names the generator)")
    parser.add_argument("--images", required=True, help="folder of PNG / JPEG images, or an .npy of uint8 "
                                                        "(N, H, W, C) images")
    parser.add_argument("--out_dir", required=True, help="output folder (replaced whole by this run)")
    parser.add_argument("--space", default="w", choices=SPACES, help="w: one w for every layer (default); "
                                                                     "w+: one w per layer")
    parser.add_argument("--steps", type=int, default=1000, help="optimisation steps per image (default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the start statistics and the random draws "
                                                            "(default 0)")
    parser.add_argument("--generator", help="StyleGAN2 pickle (default: the config's generator.file)")
    parser.add_argument("--vgg16", help="Keras' VGG16 (keras.applications.VGG16, include_top=False) saved as "
                                        ".keras or .h5: the loss becomes an LPIPS-style distance on its features; "
                                        "'imagenet' lets Keras download the ImageNet weights (internet needed once)")
    parser.add_argument("--tune_generator", type=int, default=0,
                        help="pivotal tuning steps after the fit (default 0: none): writes tuned_generator.pkl")
    parser.add_argument("--features", help="keras:PATH: add the L2 distance of this Keras model's outputs "
                                           "(fed pixels in [0, 255]) to the loss, e.g. the world's scorer")
    parser.add_argument("--features_weight", type=float, default=1.0, help="weight of the --features term "
                                                                           "(default 1)")
    parser.add_argument("--batch_size", type=int, default=8, help="images projected together (default 8; each "
                                                                  "image's result does not depend on it)")
    parser.add_argument("--no_progress", action="store_true", help="no progress bar")
    return parser


def main(argv=None):
    """Run the command on ``argv`` (default: the command line) -> exit code 0; bad input exits with 2."""
    return run_command(build_parser(), _run, argv)


def check_out_dir(path):
    """``path`` as a Path if project.py may write there: absent, empty, or an earlier project.py output
    (holding latents.npz); UserError otherwise, before any work."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserError(f"--out_dir '{path}' exists and is not a folder: choose another path")
    if path.is_dir():
        names = [p.name for p in path.iterdir() if not p.name.startswith(".")]
        if names and LATENTS_FILE not in names:
            raise UserError(f"--out_dir '{path}' holds files that are not project.py output ({names[0]}): choose "
                            "another --out_dir or remove it")
    return path


def _run(args):
    check_int(args.steps, "--steps")
    check_int(args.seed, "--seed", low=0)
    check_int(args.batch_size, "--batch_size")
    check_number(args.features_weight, "--features_weight", low=0)
    check_int(args.tune_generator, "--tune_generator", low=0)
    out_dir = check_out_dir(args.out_dir)
    features = None
    if args.features is not None:
        kind, _, features_path = args.features.partition(":")
        if kind != "keras" or not features_path:
            raise UserError(f"--features '{args.features}': expected keras:PATH (a Keras .keras or .h5 file)")
        features = projection.load_features(features_path)
    vgg16 = projection.load_vgg16(args.vgg16) if args.vgg16 is not None else None
    cfg = config_module.load_config(args.config)
    generator_path = generator_file(args.generator, cfg)
    G = load_generator_file(generator_path, cfg)
    images, names, notes = read_targets(args.images, G.img_resolution, G.img_channels)
    for note in notes:
        print(f"note: {note}")
    loss = projection.ImageLoss(G.img_resolution, features, args.features_weight, args.features, vgg16)
    print(f"loss: {loss.describe()} + {projection.NOISE_PENALTY_WEIGHT:g} x noise penalty")

    with FolderLock(out_dir, "--out_dir"):
        started = time.perf_counter()
        w_stats = projection.w_statistics(G, args.seed)
        n, batches = len(images), range(0, len(images), args.batch_size)
        parts = []
        with tqdm(total=len(batches) * args.steps, desc=f"project {n} image(s) into {args.space}", unit="step",
                  disable=args.no_progress, file=sys.stderr, dynamic_ncols=True) as bar:
            def progress(step, distances):
                bar.update(1)
                bar.set_postfix(loss=f"{float(np.mean(distances)):.4f}", refresh=False)

            for start in batches:
                targets = images[start:start + args.batch_size].astype(np.float32) / np.float32(127.5) - 1
                parts.append(projection.project(G, targets, args.space, args.steps, args.seed, loss, w_stats,
                                                progress, first_index=start))
        ws = np.concatenate([p.ws for p in parts])
        reconstructions = stylegan2.to_uint8(np.concatenate([p.images for p in parts]))
        projected_error = _pixel_error(images, reconstructions)
        if args.tune_generator:
            with tqdm(total=args.tune_generator, desc="pivotal tuning", unit="step", disable=args.no_progress,
                      file=sys.stderr, dynamic_ncols=True) as bar:
                def tune_progress(step, fit):
                    bar.update(1)
                    bar.set_postfix(loss=f"{float(fit):.4f}", refresh=False)

                tune_history = projection.tune_generator(G, images.astype(np.float32) / np.float32(127.5) - 1, ws,
                                                         args.tune_generator, loss, args.seed, tune_progress)
            reconstructions = stylegan2.to_uint8(G.synthesis(ws))  # stored noise: as manipulate.py renders
        seconds = time.perf_counter() - started
        difference = np.abs(images.astype(np.int16) - reconstructions.astype(np.int16)).astype(np.uint8)
        arrays = {"w": ws, "names": np.array(names), "sources": images,
                  "distance": np.concatenate([p.distance for p in parts]),
                  "noise_penalty": np.concatenate([p.noise_penalty for p in parts])}
        for index in range(len(G.noise_shapes)):
            arrays[f"noise{index}"] = np.concatenate([p.noise[index] for p in parts])
        if args.tune_generator:
            arrays["tune_loss"] = tune_history
        pixel_error = _pixel_error(images, reconstructions)
        with atomic_dir(out_dir) as folder:
            with atomic_write(folder / LATENTS_FILE) as f:
                np.savez(f, **arrays)
            rows = [compose_strip(np.stack(frames)) for frames in zip(images, reconstructions, difference)]
            write_png(folder / RECONSTRUCTIONS_FILE, np.concatenate(rows, axis=0))
            if args.tune_generator:
                stylegan2.save_generator(G, folder / TUNED_GENERATOR_FILE)
            settings = {
                "images": str(args.images), "names": names, "notes": notes, "config": cfg.path,
                "generator": str(generator_path), "generator_sha256": file_sha256(generator_path),
                "space": args.space, "steps": args.steps, "seed": args.seed, "loss": loss.describe(),
                "features": args.features, "features_weight": args.features_weight,
                "noise_penalty_weight": projection.NOISE_PENALTY_WEIGHT, "w_spread": w_stats[1],
                "batch_size": args.batch_size, "seconds": round(seconds, 2),
                "pixel_mean_abs_error": [round(float(e), 6) for e in pixel_error],
                "pixel_mean_abs_error_before_tuning": [round(float(e), 6) for e in projected_error],
                "vgg16": args.vgg16, "tune_generator": args.tune_generator,
                "tuned_generator": TUNED_GENERATOR_FILE if args.tune_generator else None,
                "arrays": {"w": "(N, num_ws, w_dim) float32 fitted latents (space w: every layer the same w)",
                           "names": "(N,) source names",
                           "sources": "(N, R, R, C) uint8 source images as fitted to the generator",
                           "distance": "(N, steps) image distance at each step",
                           "noise_penalty": "(N, steps) noise autocorrelation penalty at each step (unweighted)",
                           "noise<i>": "(N, H, W) fitted noise map i",
                           "tune_loss": "(tune_generator, 2) pivotal tuning's fit and locality terms per step"}}
            write_json(folder / SETTINGS_FILE, settings)
            write_projection_page(folder, settings, arrays["distance"],
                                  arrays.get("tune_loss"), images.shape[1],
                                  sorted(p.name for p in folder.iterdir()))
    tuned = f" and {TUNED_GENERATOR_FILE}" if args.tune_generator else ""
    print(f"projected {n} image(s) into {args.space}{' and tuned the generator' if tuned else ''} in {seconds:.1f} "
          f"s (mean absolute pixel error {pixel_error.mean():.4f} of the range); wrote {LATENTS_FILE}, "
          f"{RECONSTRUCTIONS_FILE}, {SETTINGS_FILE}{tuned}, index.html to {out_dir}")


def _pixel_error(images, reconstructions):
    """Mean absolute pixel difference per image, a fraction of 255: uint8 (N, H, W, C) twice -> (N,) float64."""
    return np.abs(images.astype(np.float64) - reconstructions).mean(axis=(1, 2, 3)) / 255
