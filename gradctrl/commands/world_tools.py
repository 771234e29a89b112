"""``python -m gradctrl.world COMMAND ...``: draw the ground-truth world of cartoon faces (draw), preview it
(grid), train its exact scorer (train-scorer), measure a generator of it (quality) and a training run's
snapshots (snapshots). The work is in :mod:`gradctrl.world` and :mod:`gradctrl.world.quality`."""
import argparse
import json
import sys
from pathlib import Path

from stylegan2.command_line import keep_old_spellings, run_command

from gradctrl import world
from gradctrl.world import quality as world_quality


def build_parser():
    parser = argparse.ArgumentParser(prog="python -m gradctrl.world",
                                     description="Draw the ground-truth world of cartoon faces, preview it, "
                                                 "and train its exact scorer.")
    commands = parser.add_subparsers(dest="command", required=True)
    draw = commands.add_parser("draw", help="draw a training set: DIR/images.npy, factors.npz, factors.json")
    draw.add_argument("--n_samples", type=int, required=True, help="number of faces")
    draw.add_argument("--seed", type=int, default=0, help="seed of every factor (default 0)")
    draw.add_argument("--out_dir", required=True, help="new folder to write (must not exist or be empty)")
    draw.add_argument("--resolution", type=int, default=32, help="image side in px (default 32)")
    grid = commands.add_parser("grid", help="write a preview grid PNG")
    grid.add_argument("--n_samples", type=int, default=64, help="number of faces (default 64)")
    grid.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    grid.add_argument("--out", required=True, help="PNG to write")
    grid.add_argument("--resolution", type=int, default=32, help="image side in px (default 32)")
    grid.add_argument("--scale", type=int, default=4, help="upscaling of each pixel in the PNG (default 4)")
    grid.add_argument("--sweep", action="store_true", help="one row per attribute, varied from a base face")
    train = commands.add_parser("train-scorer", help="train the exact scorer (a small Keras CNN) and measure it")
    train.add_argument("--out", required=True, help="the .keras file to write (its metrics go to the .json beside)")
    train.add_argument("--data", help="folder written by 'draw' to train on "
                                      "(default: draw --n_samples faces of --seed)")
    train.add_argument("--n_samples", type=int, default=30000, help="training faces (default 30000)")
    train.add_argument("--seed", type=int, default=0, help="seed of the drawn faces and of training (default 0)")
    train.add_argument("--n_epochs", type=int, default=8, help="epochs (default 8)")
    train.add_argument("--resolution", type=int, default=32, help="image side in px, without --data (default 32)")
    train.add_argument("--test_n_samples", type=int, default=10000, help="fresh test faces (default 10000)")
    train.add_argument("--test_seed", type=int, default=1, help="seed of the test faces (default 1)")
    quality = commands.add_parser("quality", help="measure a generator of the world against the drawn faces "
                                  "(KID, marginals, planted correlations, confident labels; a sample grid)")
    quality.add_argument("--generator", required=True, help="the generator pickle to measure")
    _add_measurement_flags(quality, "folder to write: quality.json, quality.md, grids.png", n_samples=5000, seed=0)
    quality.add_argument("--truncation", type=float, default=1.0, help="truncation psi of the samples (default 1)")
    quality.add_argument("--scorer", help="a .keras scorer (default the shipped exact scorer)")
    snapshots = commands.add_parser("snapshots", help="measure every snapshot of a training run with 'quality' "
                                    "and pick one by the snapshot rule (the smallest mean gap)")
    snapshots.add_argument("--run", required=True, help="a 'python -m stylegan2 train' run folder")
    _add_measurement_flags(snapshots, "folder of the measurements (resumed where it exists)", n_samples=500, seed=1)
    snapshots.add_argument("--kimg_offset", type=int, default=0,
                           help="kimg trained before the run (a run started with --init; default 0)")
    keep_old_spellings(draw, {"--out": "--out_dir", "--n": "--n_samples"})
    keep_old_spellings(grid, {"--n": "--n_samples"})
    keep_old_spellings(train, {"--n": "--n_samples", "--epochs": "--n_epochs", "--test_n": "--test_n_samples"})
    keep_old_spellings(quality, {"--out": "--out_dir", "--n": "--n_samples", "--network": "--generator",
                                 "--trunc": "--truncation"})
    keep_old_spellings(snapshots, {"--out": "--out_dir", "--n": "--n_samples"})
    return parser


def _add_measurement_flags(parser, out_dir_help, n_samples, seed):
    """Add to the subparser ``parser`` the flags of a measurement against the drawn faces, shared by 'quality'
    and 'snapshots' (which runs 'quality' on each snapshot): --data (a 'draw' folder), --out_dir (its help:
    ``out_dir_help``), --n_samples (samples of each side, default ``n_samples``) and --seed (the seed of the
    generator's z, default ``seed``)."""
    parser.add_argument("--data", required=True,
                        help="folder written by 'draw' (holding at least 2 x --n_samples faces)")
    parser.add_argument("--out_dir", required=True, help=out_dir_help)
    parser.add_argument("--n_samples", type=int, default=n_samples, help=f"samples of each side (default {n_samples})")
    parser.add_argument("--seed", type=int, default=seed, help=f"seed of the generator's z (default {seed})")


def main(argv=None):
    """``python -m gradctrl.world COMMAND ...`` (draw, grid, train-scorer, quality, snapshots); bad input: one
    line on stderr, exit 2."""
    return run_command(build_parser(), _run, argv)


def _run(args):
    """Run the parsed ``python -m gradctrl.world`` command ``args``."""
    if args.command == "draw":
        out = world.write_world(args.out_dir, args.n_samples, args.seed, args.resolution, progress=True)
        print(f"wrote {out}/images.npy, factors.npz, factors.json ({args.n_samples} faces, {args.resolution} px)")
    elif args.command == "grid":
        world.write_grid(args.out, args.n_samples, args.seed, args.resolution, args.scale, args.sweep)
        print(f"wrote {args.out}")
    elif args.command == "train-scorer":
        metrics = world.run_train_scorer(args.out, args.n_samples, args.seed, args.n_epochs, args.test_n_samples,
                                         args.test_seed, args.data, args.resolution)
        print(json.dumps(metrics, indent=2))
        print(f"wrote {args.out} and {Path(args.out).with_suffix('.json')}")
    elif args.command == "quality":
        print(world_quality.markdown(world_quality.measure(args.generator, args.data, args.out_dir, args.n_samples,
                                                           args.seed, args.truncation, args.scorer)))
        print(f"wrote {args.out_dir}/quality.json, quality.md, grids.png")
    elif args.command == "snapshots":
        world_quality.rank_snapshots(args.run, args.data, args.out_dir, args.n_samples, args.seed, args.kimg_offset)
        print((Path(args.out_dir) / "snapshots.md").read_text())


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
