"""``python -m stylegan2``: render images from a network pickle as NVIDIA's ``run_generator.py`` does."""
import argparse
import os
import re

import numpy as np

from .errors import InputError, exit_on_input_error
from .images import write_png

_MAX_SEED = 2 ** 32 - 1


def parse_seeds(text):
    """'0-7' or '1,4,10-12' -> list of ints in [0, 2^32 - 1] (ranges inclusive, as NVIDIA's tools)."""
    seeds = []
    for part in text.split(","):
        match = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if match is None:
            raise InputError(f"--seeds {text!r} is not a list of seeds: use e.g. 0-7 or 1,4,10-12")
        lo = int(match.group(1))
        hi = lo if match.group(2) is None else int(match.group(2))
        if hi < lo or hi > _MAX_SEED:
            raise InputError(f"--seeds range '{part.strip()}' is empty or beyond {_MAX_SEED}: use e.g. 0-7")
        seeds.extend(range(lo, hi + 1))
    return seeds


def seed_inputs(generator, seed, noise_mode):
    """z (1, z_dim) and, for noise_mode 'seed', the noise buffers, drawn as NVIDIA's run_generator.py does:
    rnd = RandomState(seed); z = rnd.randn(1, z_dim); then rnd.randn(1, 1, H, W) per noise buffer in order."""
    rnd = np.random.RandomState(seed)
    z = rnd.randn(1, generator.z_dim).astype(np.float32)
    noise = [rnd.randn(1, 1, h, w).astype(np.float32)[0] for h, w in generator.noise_shapes] if noise_mode == "seed" else None
    return z, noise


def generate(network, seeds, truncation_psi, truncation_cutoff, noise_mode, outdir, batch_size):
    """Render one PNG ``seed%04d.png`` per seed into ``outdir``. -> list of written paths."""
    import stylegan2

    generator = stylegan2.load_generator(network)
    if os.path.exists(outdir) and not os.path.isdir(outdir):
        raise InputError(f"--outdir '{outdir}' exists and is not a directory: choose another path")
    try:
        os.makedirs(outdir, exist_ok=True)
    except OSError as e:
        raise InputError(f"cannot create --outdir '{outdir}' ({e.strerror}): choose another path") from None
    written = []
    for start in range(0, len(seeds), batch_size):
        batch = seeds[start:start + batch_size]
        inputs = [seed_inputs(generator, seed, noise_mode) for seed in batch]
        z = np.concatenate([z for z, _ in inputs])
        noise = None
        if noise_mode == "seed":
            noise = [np.concatenate([buffers[i] for _, buffers in inputs]) for i in range(len(generator.noise_shapes))]
        ws = generator.mapping(z, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)
        images = stylegan2.to_uint8(generator.synthesis(ws, noise_mode="const", noise=noise))
        for seed, image in zip(batch, images):
            path = os.path.join(outdir, f"seed{seed:04d}.png")
            write_png(path, image)
            written.append(path)
    return written


def build_parser():
    parser = argparse.ArgumentParser(prog="python -m stylegan2", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    gen = commands.add_parser("generate", help="render images for a list of seeds",
                              description="Render seed%%04d.png per seed, z drawn as NVIDIA's run_generator.py draws it.")
    gen.add_argument("--network", required=True, help="official network pickle (.pkl), e.g. stylegan2-ffhq-config-f.pkl")
    gen.add_argument("--seeds", required=True, help="seeds, e.g. 0-7 or 1,4,10-12")
    gen.add_argument("--trunc", type=float, default=0.5, help="truncation psi (default 0.5, as run_generator.py; 1 = none)")
    gen.add_argument("--trunc-cutoff", type=int, default=None, help="truncate only the first N layers of W+ (default all)")
    gen.add_argument("--noise-mode", choices=("seed", "const"), default="seed",
                     help="seed: noise drawn from the seed after z, as run_generator.py (default); const: the stored buffers")
    gen.add_argument("--batch-size", type=int, default=8, help="images rendered at once (default 8)")
    gen.add_argument("--outdir", required=True, help="output folder (created if missing)")
    return parser


def main(argv=None):
    """Command-line entry point; returns 0, or exits with code 2 and one line on bad input."""
    parser = build_parser()
    args = parser.parse_args(argv)
    with exit_on_input_error(parser.prog):
        seeds = parse_seeds(args.seeds)
        if args.batch_size < 1:
            raise InputError(f"--batch-size must be >= 1, got {args.batch_size}")
        if not np.isfinite(args.trunc):
            raise InputError(f"--trunc must be a finite number, got {args.trunc}")
        if args.trunc_cutoff is not None and args.trunc_cutoff < 0:
            raise InputError(f"--trunc-cutoff must be >= 0, got {args.trunc_cutoff}")
        written = generate(args.network, seeds, args.trunc, args.trunc_cutoff, args.noise_mode, args.outdir,
                           args.batch_size)
    print(f"wrote {len(written)} images to {args.outdir}")
    return 0
