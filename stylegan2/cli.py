"""``python -m stylegan2``: render images from a network pickle as NVIDIA's ``run_generator.py`` does
(``generate``), or train a network (``train``)."""
import argparse
import dataclasses
import os
import re

import numpy as np

from .cpu import default_precision
from .download import fetch, is_url
from .errors import InputError, exit_on_input_error, quiet_tensorflow
from .images import write_png
from .official_pickle import DOWNLOAD_URL
from .training_options import PRESETS, RESUME_CHANGES, TrainingOptions

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


def generate(network, seeds, truncation_psi, truncation_cutoff, noise_mode, outdir, batch_size, progress=True):
    """Render one PNG ``seed%04d.png`` per seed into ``outdir`` -> list of written paths.

    ``outdir`` is held by this process alone (:class:`stylegan2.atomic.FolderLock`) and the image set appears
    whole or not at all: the images are written into a temporary sibling holding ``outdir``'s other files,
    which then replaces it. ``progress``: a bar with rate and ETA on stderr."""
    import sys

    from tqdm import tqdm

    import stylegan2

    from .atomic import FolderLock, atomic_dir

    if os.path.exists(outdir) and not os.path.isdir(outdir):
        raise InputError(f"--outdir '{outdir}' exists and is not a directory: choose another path")
    generator = stylegan2.load_generator(network)
    names = {seed: f"seed{seed:04d}.png" for seed in seeds}
    new = set(names.values())
    with FolderLock(outdir, "--outdir"), atomic_dir(outdir, keep=lambda name: name not in new) as folder, \
            tqdm(total=len(seeds), desc="generate", unit="image", disable=not progress, file=sys.stderr,
                 dynamic_ncols=True) as bar:
        for start in range(0, len(seeds), batch_size):
            batch = seeds[start:start + batch_size]
            inputs = [seed_inputs(generator, seed, noise_mode) for seed in batch]
            z = np.concatenate([z for z, _ in inputs])
            noise = None
            if noise_mode == "seed":
                noise = [np.concatenate([buffers[i] for _, buffers in inputs])
                         for i in range(len(generator.noise_shapes))]
            ws = generator.mapping(z, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)
            images = stylegan2.to_uint8(generator.synthesis(ws, noise_mode="const", noise=noise))
            for seed, image in zip(batch, images):
                write_png(folder / names[seed], image)
            bar.update(len(batch))
    return [os.path.join(outdir, names[seed]) for seed in seeds]


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m stylegan2",
        description="Render images from a network pickle as NVIDIA's run_generator.py does (generate), or train "
                    "a network (train).")
    commands = parser.add_subparsers(dest="command", required=True)
    gen = commands.add_parser("generate", help="render images for a list of seeds",
                              description="Render seed%04d.png per seed (seed0007.png for seed 7), z drawn as NVIDIA's "
                                          "run_generator.py draws it. The images appear in --outdir all "
                                          "together or not at all; a second writer of --outdir is refused.")
    gen.add_argument("--network", required=True,
                     help="official network pickle (.pkl), e.g. stylegan2-ffhq-config-f.pkl, or its http(s) URL "
                          "(downloaded once into $GRADCTRL_CACHE, default ~/.cache/gradctrl)")
    gen.add_argument("--seeds", required=True, help="seeds, e.g. 0-7 or 1,4,10-12")
    gen.add_argument("--trunc", type=float, default=0.5, help="truncation psi (default 0.5, as run_generator.py; 1 = none)")
    gen.add_argument("--trunc-cutoff", type=int, default=None, help="truncate only the first N layers of W+ (default all)")
    gen.add_argument("--noise-mode", choices=("seed", "const"), default="seed",
                     help="seed: noise drawn from the seed after z, as run_generator.py (default); const: the stored buffers")
    gen.add_argument("--batch-size", type=int, default=8, help="images rendered at once (default 8)")
    gen.add_argument("--outdir", required=True, help="output folder (created if missing)")
    gen.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_train_parser(commands)
    return parser


def _add_train_parser(commands):
    """``train``: every number of :class:`stylegan2.training.TrainingOptions` as a flag over a preset."""
    train = commands.add_parser(
        "train", help="train a StyleGAN2 on a folder of images",
        description="Train a StyleGAN2 (NVIDIA's config-e/f recipe: resnet D, logistic loss, lazy R1, Gs as a "
                    "moving average) on DATA. Writes OUTDIR/network-snapshot-<kimg>.pkl (official (G, D, Gs) "
                    "pickles), fakes<kimg>.png, log.jsonl and checkpoint.npz every --snapshot-kimg; --resume "
                    "continues a stopped run exactly where its last snapshot was. With TF_CONFIG set (TensorFlow's "
                    "cluster JSON) every worker runs this same command and they train as one "
                    "(MultiWorkerMirroredStrategy); only the chief writes OUTDIR (docs/distributed.md).")
    train.add_argument("--data", help="a folder of PNG files or a .npy/.npz uint8 array (N, R, R, C); R a power of two")
    train.add_argument("--outdir", required=True, help="run folder (new, or an earlier run's folder with --resume)")
    train.add_argument("--preset", choices=sorted(PRESETS), default=None,
                       help="sizes and hyper-parameters for small images (default 32; the flags below override it)")
    train.add_argument("--resume", action="store_true",
                       help="continue the run in --outdir from its last snapshot, with its own settings (only "
                            "--total-kimg and --kid-samples may be given, to extend it or change its KID)")
    train.add_argument("--init", help="start from the weights of a (G, D, Gs) pickle of the same shapes")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    train.add_argument("--peer-timeout", type=float, default=120.0,
                       help="under TF_CONFIG (training across machines, docs/distributed.md): seconds to wait for "
                            "every other task of the cluster to answer before giving up (default 120)")
    defaults = TrainingOptions()
    helps = dict(total_kimg="length of the run in thousands of real images", snapshot_kimg="kimg between snapshots",
                 mirror="x-flip half the real images", r1_gamma="R1 weight gamma", r1_interval="minibatches between R1 steps",
                 pl_weight="path-length weight (0: off)",
                 mapping_lrmul="learning-rate multiplier of the mapping network (NVIDIA's 0.01 suits runs of "
                               "millions of images; short runs barely move the mapping)", ema_kimg="Gs half-life in kimg",
                 ema_rampup="cap the half-life at this x the images seen (0: NVIDIA's fixed half-life)",
                 precision="float32 or bfloat16 convolutions (default: bfloat16 on CPUs with AMX, else float32)",
                 kid_samples="samples for KID at each snapshot (0: none)",
                 devices="data-parallel training on this many GPUs (CPU devices when no GPU is visible), each "
                         "taking batch-size / devices images; 0 or 1: one device",
                 kid_model="Keras model (.keras) whose features KID compares; images fed as float32 in [0, 255]")
    for field in dataclasses.fields(TrainingOptions):
        if field.name == "data":
            continue
        flag = "--" + field.name.replace("_", "-")
        value = getattr(defaults, field.name)
        if isinstance(value, bool):
            train.add_argument(flag, action="store_true", default=None, help=helps.get(field.name, field.name))
        else:
            default = "" if field.name == "precision" else f" (preset or {value})"  # chosen by the CPU
            train.add_argument(flag, type=type(value), default=None,
                               help=f"{helps.get(field.name, field.name.replace('_', ' '))}{default}")


def train_main(args):
    """Run ``python -m stylegan2 train``: options = TrainingOptions < preset < flags."""
    if not args.peer_timeout > 0:
        raise InputError(f"--peer-timeout must be > 0 seconds, got {args.peer_timeout}")
    given = {field.name: getattr(args, field.name) for field in dataclasses.fields(TrainingOptions)
             if getattr(args, field.name, None) is not None}
    if args.resume:
        for flag in ("preset", "data", "init"):
            if getattr(args, flag) is not None:
                changeable = ", ".join("--" + name.replace("_", "-") for name in RESUME_CHANGES)
                raise InputError(f"--resume continues a run with its own settings: drop --{flag} (only "
                                 f"{changeable} can change)")
        options = given  # the changes; train() reads the rest from the run folder
    else:
        if not args.data:
            raise InputError("--data is required for a new run (a folder of PNG files or a .npy/.npz uint8 array)")
        options = dataclasses.replace(TrainingOptions(**PRESETS[args.preset or "32"]), **given)
        if options.ema_rampup == 0:
            options.ema_rampup = None
        if args.precision is None:
            options.precision, reason = default_precision()
            print(f"precision {options.precision}: {reason} (--precision overrides)")
        options.check()  # before the training module imports TensorFlow
    from .cluster import read_tf_config  # TensorFlow: imported once the options are checked
    from .training import train

    cluster = read_tf_config(os.environ.get("TF_CONFIG"), args.peer_timeout)
    trainer = train(options, args.outdir, resume=args.resume, init=args.init, progress=not args.no_progress,
                    cluster=cluster)
    if cluster is None or cluster.is_chief:
        print(f"trained to {trainer.kimg:.1f} kimg: snapshots in {args.outdir}")
    else:
        print(f"trained to {trainer.kimg:.1f} kimg as {cluster.describe(cluster.id)}: the chief wrote the snapshots")


def main(argv=None):
    """Command-line entry point; returns 0, or exits with code 2 and one line on bad input."""
    quiet_tensorflow()
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "train":
        with exit_on_input_error(parser.prog):
            train_main(args)
        return 0
    with exit_on_input_error(parser.prog):
        seeds = parse_seeds(args.seeds)
        if args.batch_size < 1:
            raise InputError(f"--batch-size must be >= 1, got {args.batch_size}")
        if not np.isfinite(args.trunc):
            raise InputError(f"--trunc must be a finite number, got {args.trunc}")
        if args.trunc_cutoff is not None and args.trunc_cutoff < 0:
            raise InputError(f"--trunc-cutoff must be >= 0, got {args.trunc_cutoff}")
        if is_url(args.network):
            args.network = str(fetch(args.network, progress=not args.no_progress))
        if not os.path.exists(args.network):  # before the generator's module imports TensorFlow
            raise InputError(f"--network '{args.network}' does not exist: check the path (NVIDIA's networks are at "
                             f"{DOWNLOAD_URL})")
        written = generate(args.network, seeds, args.trunc, args.trunc_cutoff, args.noise_mode, args.outdir,
                           args.batch_size, progress=not args.no_progress)
    print(f"wrote {len(written)} images to {args.outdir}")
    return 0
