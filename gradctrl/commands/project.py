"""Project real images into the generator's W or W+ space (NVIDIA's projector recipe), for editing them.

    python project.py --config C --images PATH --out_dir DIR [--space w|w+] [--steps 1000] [--seed 0]
        [--generator PKL] [--features keras:PATH] [--features_weight 1] [--batch_size 8] [--no_progress]

PATH is a folder of PNG / JPEG images or an .npy of uint8 (N, H, W, C) images; each is converted to the
generator's channels, area-resized and centre-cropped to its resolution (a note says what was done).
--space w fits one w shared by every layer (NVIDIA's), w+ one per layer. The loss needs no download:
pixel L2 + SSIM where the resolution allows + the L2 of a Keras model's outputs (--features). Writes, as
one folder that appears whole or not at all: latents.npz (w (N, num_ws, w_dim), names, distance and
noise_penalty per step, the fitted noise maps noise<i>), reconstructions.png (per image: source,
reconstruction, absolute difference) and project.json (every setting). manipulate.py --input_dir DIR edits
the latents. The recipe and its measurements: docs/projection.md.
"""
import argparse
import sys
import time
from pathlib import Path

from gradctrl.commands import run_command

LATENTS_FILE, RECONSTRUCTIONS_FILE, SETTINGS_FILE = "latents.npz", "reconstructions.png", "project.json"


def build_parser():
    from gradctrl.projection import SPACES

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
    from gradctrl.errors import UserError

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
    import numpy as np
    from tqdm import tqdm

    import stylegan2
    from stylegan2.atomic import FolderLock, atomic_dir, atomic_write
    from stylegan2.images import write_png

    from gradctrl import config as config_module
    from gradctrl import projection
    from gradctrl.errors import UserError
    from gradctrl.files import write_json
    from gradctrl.generators import file_sha256, open_generator
    from gradctrl.options import check_int, check_number
    from gradctrl.render import compose_strip
    from gradctrl.targets import read_targets

    check_int(args.steps, "--steps")
    check_int(args.seed, "--seed", low=0)
    check_int(args.batch_size, "--batch_size")
    check_number(args.features_weight, "--features_weight", low=0)
    out_dir = check_out_dir(args.out_dir)
    features = None
    if args.features is not None:
        kind, _, features_path = args.features.partition(":")
        if kind != "keras" or not features_path:
            raise UserError(f"--features '{args.features}': expected keras:PATH (a Keras .keras or .h5 file)")
        features = projection.load_features(features_path)
    cfg = config_module.load_config(args.config)
    G = open_generator(args.generator, cfg)
    generator_path = args.generator or cfg.generator.file
    images, names, notes = read_targets(args.images, G.img_resolution, G.img_channels)
    for note in notes:
        print(f"note: {note}")
    loss = projection.ImageLoss(G.img_resolution, features, args.features_weight, args.features)
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
        seconds = time.perf_counter() - started
        ws = np.concatenate([p.ws for p in parts])
        reconstructions = stylegan2.to_uint8(np.concatenate([p.images for p in parts]))
        difference = np.abs(images.astype(np.int16) - reconstructions.astype(np.int16)).astype(np.uint8)
        arrays = {"w": ws, "names": np.array(names), "distance": np.concatenate([p.distance for p in parts]),
                  "noise_penalty": np.concatenate([p.noise_penalty for p in parts])}
        for index in range(len(G.noise_shapes)):
            arrays[f"noise{index}"] = np.concatenate([p.noise[index] for p in parts])
        pixel_error = np.abs(images.astype(np.float64) - reconstructions).mean(axis=(1, 2, 3)) / 255
        with atomic_dir(out_dir) as folder:
            with atomic_write(folder / LATENTS_FILE) as f:
                np.savez(f, **arrays)
            rows = [compose_strip(np.stack(frames)) for frames in zip(images, reconstructions, difference)]
            write_png(folder / RECONSTRUCTIONS_FILE, np.concatenate(rows, axis=0))
            write_json(folder / SETTINGS_FILE, {
                "images": str(args.images), "names": names, "notes": notes, "config": cfg.path,
                "generator": str(generator_path), "generator_sha256": file_sha256(generator_path),
                "space": args.space, "steps": args.steps, "seed": args.seed, "loss": loss.describe(),
                "features": args.features, "features_weight": args.features_weight,
                "noise_penalty_weight": projection.NOISE_PENALTY_WEIGHT, "w_spread": w_stats[1],
                "batch_size": args.batch_size, "seconds": round(seconds, 2),
                "pixel_mean_abs_error": [round(float(e), 6) for e in pixel_error],
                "arrays": {"w": "(N, num_ws, w_dim) float32 fitted latents (space w: every layer the same w)",
                           "names": "(N,) source names", "distance": "(N, steps) image distance at each step",
                           "noise_penalty": "(N, steps) noise autocorrelation penalty at each step (unweighted)",
                           "noise<i>": "(N, H, W) fitted noise map i"}})
    print(f"projected {n} image(s) into {args.space} in {seconds:.1f} s (mean absolute pixel error "
          f"{pixel_error.mean():.4f} of the range); wrote {LATENTS_FILE}, {RECONSTRUCTIONS_FILE} and "
          f"{SETTINGS_FILE} to {out_dir}")
