"""``python -m stylegan2``: render images from a network pickle as NVIDIA's ``run_generator.py`` does
(``generate``), or train a network (``train``)."""
import argparse
import dataclasses
import os
import re
import sys

import numpy as np
from tqdm import tqdm

import stylegan2

from .atomic import FolderLock, atomic_dir
from .command_line import keep_old_spellings, run_command
from .cpu import default_precision
from .download import fetch, is_url
from .errors import InputError
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
    if os.path.exists(outdir) and not os.path.isdir(outdir):
        raise InputError(f"--out_dir '{outdir}' exists and is not a directory: choose another path")
    generator = stylegan2.load_generator(network)
    names = {seed: f"seed{seed:04d}.png" for seed in seeds}
    new = set(names.values())
    with FolderLock(outdir, "--out_dir"), atomic_dir(outdir, keep=lambda name: name not in new) as folder, \
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
                                          "run_generator.py draws it. The images appear in --out_dir all "
                                          "together or not at all; a second writer of --out_dir is refused.")
    gen.add_argument("--network", required=True,
                     help="official network pickle (.pkl), e.g. stylegan2-ffhq-config-f.pkl, or its http(s) URL "
                          "(downloaded once into $GRADCTRL_CACHE, default ~/.cache/gradctrl)")
    gen.add_argument("--seeds", required=True, help="seeds, e.g. 0-7 or 1,4,10-12")
    gen.add_argument("--truncation", type=float, default=0.5,
                     help="truncation psi (default 0.5, as run_generator.py; 1 = none)")
    gen.add_argument("--truncation_cutoff", type=int, default=None, help="truncate only the first N layers of W+ (default all)")
    gen.add_argument("--noise_mode", choices=("seed", "const"), default="seed",
                     help="seed: noise drawn from the seed after z, as run_generator.py (default); const: the stored buffers")
    gen.add_argument("--batch_size", type=int, default=8, help="images rendered at once (default 8)")
    gen.add_argument("--out_dir", required=True, help="output folder (created if missing)")
    gen.add_argument("--no_progress", action="store_true", help="no progress bar")
    keep_old_spellings(gen, {"--trunc": "--truncation", "--trunc-cutoff": "--truncation_cutoff",
                             "--noise-mode": "--noise_mode", "--batch-size": "--batch_size", "--outdir": "--out_dir",
                             "--no-progress": "--no_progress"})
    _add_train_parser(commands)
    return parser


def _add_train_parser(commands):
    """``train``: every number of :class:`stylegan2.training.TrainingOptions` as a flag over a preset."""
    train = commands.add_parser(
        "train", help="train a StyleGAN2 on a folder of images",
        description="Train a StyleGAN2 (NVIDIA's config-e/f recipe: resnet D, logistic loss, lazy R1, Gs as a "
                    "moving average) on DATA. Writes OUT_DIR/network-snapshot-<kimg>.pkl (official (G, D, Gs) "
                    "pickles), fakes<kimg>.png, log.jsonl and checkpoint.npz every --snapshot_kimg; --resume "
                    "continues a stopped run exactly where its last snapshot was. With TF_CONFIG set (TensorFlow's "
                    "cluster JSON) every worker runs this same command and they train as one "
                    "(MultiWorkerMirroredStrategy); only the chief writes OUT_DIR (docs/distributed.md).")
    train.add_argument("--data", help="a folder of PNG files or a .npy/.npz uint8 array (N, R, R, C); R a power of two")
    train.add_argument("--out_dir", required=True, help="run folder (new, or an earlier run's folder with --resume)")
    train.add_argument("--preset", choices=sorted(PRESETS), default=None,
                       help="sizes and hyper-parameters for small images (default 32; the flags below override it)")
    train.add_argument("--resume", action="store_true",
                       help="continue the run in --out_dir from its last snapshot, with its own settings (only "
                            "--total_kimg and --kid_samples may be given, to extend it or change its KID)")
    train.add_argument("--init", help="start from the weights of a (G, D, Gs) pickle of the same shapes")
    train.add_argument("--no_progress", action="store_true", help="no progress bar")
    train.add_argument("--peer_timeout", type=float, default=120.0,
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
                         "taking batch_size / devices images; 0 or 1: one device",
                 kid_model="Keras model (.keras) whose features KID compares; images fed as float32 in [0, 255]")
    for field in dataclasses.fields(TrainingOptions):
        if field.name == "data":
            continue
        flag = "--" + field.name
        value = getattr(defaults, field.name)
        if isinstance(value, bool):
            train.add_argument(flag, action="store_true", default=None, help=helps.get(field.name, field.name))
        else:
            default = "" if field.name == "precision" else f" (preset or {value})"  # chosen by the CPU
            train.add_argument(flag, type=type(value), default=None,
                               help=f"{helps.get(field.name, field.name.replace('_', ' '))}{default}")
    renamed = {"--outdir": "--out_dir", "--no-progress": "--no_progress", "--peer-timeout": "--peer_timeout"}
    renamed.update({"--" + field.name.replace("_", "-"): "--" + field.name for field in dataclasses.fields(TrainingOptions)
                    if "_" in field.name})
    keep_old_spellings(train, renamed)


def train_main(args):
    """Run ``python -m stylegan2 train``: options = TrainingOptions < preset < flags."""
    if not args.peer_timeout > 0:
        raise InputError(f"--peer_timeout must be > 0 seconds, got {args.peer_timeout}")
    given = {field.name: getattr(args, field.name) for field in dataclasses.fields(TrainingOptions)
             if getattr(args, field.name, None) is not None}
    if args.resume:
        for flag in ("preset", "data", "init"):
            if getattr(args, flag) is not None:
                changeable = ", ".join("--" + name for name in RESUME_CHANGES)
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
    # heavy (TensorFlow): imported once the options are checked, so bad input is refused without it
    from .cluster import read_tf_config
    from .training import train

    cluster = read_tf_config(os.environ.get("TF_CONFIG"), args.peer_timeout)
    trainer = train(options, args.out_dir, resume=args.resume, init=args.init, progress=not args.no_progress,
                    cluster=cluster)
    if cluster is None or cluster.is_chief:
        print(f"trained to {trainer.kimg:.1f} kimg: snapshots in {args.out_dir}")
    else:
        print(f"trained to {trainer.kimg:.1f} kimg as {cluster.describe(cluster.id)}: the chief wrote the snapshots")


def generate_main(args):
    """Run ``python -m stylegan2 generate``: check the flags, then render one PNG per seed."""
    seeds = parse_seeds(args.seeds)
    if args.batch_size < 1:
        raise InputError(f"--batch_size must be >= 1, got {args.batch_size}")
    if not np.isfinite(args.truncation):
        raise InputError(f"--truncation must be a finite number, got {args.truncation}")
    if args.truncation_cutoff is not None and args.truncation_cutoff < 0:
        raise InputError(f"--truncation_cutoff must be >= 0, got {args.truncation_cutoff}")
    if is_url(args.network):
        args.network = str(fetch(args.network, progress=not args.no_progress))
    if not os.path.exists(args.network):  # before the generator's module imports TensorFlow
        raise InputError(f"--network '{args.network}' does not exist: check the path (NVIDIA's networks are at "
                         f"{DOWNLOAD_URL})")
    written = generate(args.network, seeds, args.truncation, args.truncation_cutoff, args.noise_mode, args.out_dir,
                       args.batch_size, progress=not args.no_progress)
    print(f"wrote {len(written)} images to {args.out_dir}")


def main(argv=None):
    """``python -m stylegan2 generate|train ...`` (:func:`stylegan2.command_line.run_command`); returns 0, or
    exits with code 2 and one line on bad input."""
    return run_command(build_parser(), lambda args: (train_main if args.command == "train" else generate_main)(args),
                       argv)
