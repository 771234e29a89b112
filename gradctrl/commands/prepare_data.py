"""prepare_data.py: build the data directory the classifiers learn from (stage one of GradCtrl).

    prepare_data.py [run] --generator PKL --n_samples N --truncation 0.4 --seed S \\
        --attributes a,b --scorers a=SPEC b=SPEC --out_dir D [--shard K/N] [--config C]
    prepare_data.py [run] --data_dir AUTHORS_DIR --out_dir D [--attributes a,b]
    prepare_data.py merge --out_dir D [--parts_dir P]

See gradctrl.data.sampling for the parts, sharding and resuming, gradctrl.data.datadir for the output format.
"""
import argparse
import contextlib
import re
import sys
from pathlib import Path

import numpy as np

from stylegan2.atomic import FolderLock

from gradctrl import generators, ray_tasks
from gradctrl.commands import run_command
from gradctrl.data import sampling
from gradctrl.data.datadir import build_data_dir, check_output_path, write_data_dir
from gradctrl.data.sampling import check_selection_possible, parse_shard, part_name
from gradctrl.data.scorers import make_scorers, scorer_record
from gradctrl.errors import UserError
from gradctrl.formats import config as config_module
from gradctrl.formats.authors import read_authors_dir
from gradctrl.formats.config import TRUNCATION_HELP
from gradctrl.options import check_int, check_latent_count, check_truncation, flags_over_config

DEFAULT_PART_SIZE = 1024
ATTRIBUTE_PREFIX = re.compile(r"^([A-Za-z0-9_][A-Za-z0-9_.-]*)=(.+)$")


def _run_parser():
    parser = argparse.ArgumentParser(
        prog="prepare_data.py",
        description="Sample w, render, score each image per attribute, select the extremes and split them into "
                    "a data directory (or read the authors' latents and logits with --data_dir). Work is done in "
                    "parts: a rerun skips finished parts; --shard K/N runs one machine's share, then "
                    "'prepare_data.py merge' joins them; --ray runs every shard as a Ray task and merges. Flags "
                    "win over --config.")
    parser.add_argument("--config", help="TOML config: generator, [data] defaults, attributes and their scorers")
    parser.add_argument("--generator", help="official StyleGAN2 pickle or its http(s) URL, downloaded once into "
                                            "$GRADCTRL_CACHE (default: the config's generator.file)")
    parser.add_argument("--n_samples", type=int, help="number of samples N (default: config data.n_samples)")
    parser.add_argument("--truncation", type=float, help=TRUNCATION_HELP.replace("psi", "psi in (0, 1]"))
    parser.add_argument("--seed", type=int, help="seed of z and of the split (default: config data.seed)")
    parser.add_argument("--attributes", help="comma-separated attribute names (default: those with scorers)")
    parser.add_argument("--scorers", nargs="+", metavar="ATTR=SPEC",
                        help="one scorer per attribute: keras:PATH[,size=H,range=LO:HI,output=NAME], "
                             "nvidia:PATH[,prob][,neg] (NVIDIA's CelebA-HQ attribute classifiers), world:ATTRIBUTE "
                             "(the drawn world's exact scorer), python:module:function or "
                             "builtin:brightness|warmth|color3 (or bare specs in --attributes order)")
    parser.add_argument("--out_dir", required=True, help="the data directory to write")
    parser.add_argument("--p_perclass", type=float, help="fraction of N selected per class (default 0.05)")
    parser.add_argument("--p_val", type=float, help="fraction of each selection kept for validation (default 0.3)")
    parser.add_argument("--batch_size", type=int, help="images rendered and scored at once (default: config)")
    parser.add_argument("--part_size", type=int, default=DEFAULT_PART_SIZE,
                        help=f"samples per part file (default {DEFAULT_PART_SIZE})")
    parser.add_argument("--parts_dir", help="where parts are kept (default: OUT_DIR.parts beside the output)")
    parser.add_argument("--shard", default="0/1", metavar="K/N",
                        help="compute only shard K of N (K from 0), e.g. $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT; "
                             "then run 'prepare_data.py merge'")
    ray_tasks.add_flags(parser, "run the shards as Ray tasks, then merge", "the number of shards N")
    parser.add_argument("--save_images", action="store_true", help="also write PARTS_DIR/images/<index>.png")
    parser.add_argument("--data_dir", help="the authors' layout: latents.pkl and logits/logits_<attr>.pkl "
                                           "(or .npy) instead of sampling")
    parser.add_argument("--no_progress", action="store_true", help="no progress bar")
    return parser


def _merge_parser():
    parser = argparse.ArgumentParser(
        prog="prepare_data.py merge",
        description="Join the parts of every shard, select and split, and write the data directory. The "
                    "sampling settings and default p_perclass / p_val come from the parts directory's run.json.")
    parser.add_argument("--out_dir", required=True, help="the data directory to write")
    parser.add_argument("--parts_dir", help="the shards' parts (default: OUT_DIR.parts)")
    parser.add_argument("--p_perclass", type=float, help="override the run's fraction selected per class")
    parser.add_argument("--p_val", type=float, help="override the run's validation fraction")
    return parser


def main(argv=None):
    """Run ``prepare_data.py [run|merge] ...``; bad input exits with code 2 and one line on stderr."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv.pop(0) if argv and argv[0] in ("run", "merge") else "run"
    parser = _merge_parser() if command == "merge" else _run_parser()
    merge = command == "merge"
    return run_command(parser, lambda args: (_merge if merge else _run)(args, parser.prog), argv)


def _log(prog):
    return lambda message: print(f"{prog}: {message}", file=sys.stderr, flush=True)


def _parts_dir(args):
    out_dir = Path(args.out_dir)
    return Path(args.parts_dir) if args.parts_dir else out_dir.with_name(out_dir.name + ".parts")


def _attributes_and_specs(args, cfg):
    """[(attribute, scorer spec)] from --attributes / --scorers / the config, in order."""
    named, bare = {}, []
    for item in args.scorers or []:
        match = ATTRIBUTE_PREFIX.match(item)
        if match:
            named[match.group(1)] = match.group(2)
        else:
            bare.append(item)
    if named and bare:
        raise UserError(f"--scorers mixes ATTR=SPEC and bare specs ({bare[0]!r}): use one form")
    if args.attributes is not None:
        attributes = [a.strip() for a in args.attributes.split(",") if a.strip()]
    elif named:
        attributes = list(named)
    else:
        attributes = [name for name, a in cfg.attributes.items() if a.scorer]
    if not attributes:
        raise UserError("no attributes: pass --attributes and --scorers, or a --config whose [attributes.NAME] "
                        "tables set scorer")
    if len(set(attributes)) != len(attributes):
        raise UserError(f"--attributes {args.attributes!r} names an attribute twice")
    if bare:
        if len(bare) != len(attributes):
            raise UserError(f"--scorers gives {len(bare)} specs for {len(attributes)} attributes "
                            f"({', '.join(attributes)}): give one each, or use ATTR=SPEC")
        named = dict(zip(attributes, bare))
    unknown = [a for a in named if a not in attributes]
    if unknown:
        raise UserError(f"--scorers names '{unknown[0]}', which is not in --attributes {','.join(attributes)}")
    specs = {}
    for attr in attributes:
        spec = named.get(attr) or (cfg.attributes[attr].scorer if attr in cfg.attributes else None)
        if not spec:
            raise UserError(f"no scorer for attribute '{attr}': pass --scorers {attr}=SPEC or set scorer in "
                            f"[attributes.{attr}] of the config")
        specs[attr] = spec
    return specs


def _run(args, prog):
    cfg = config_module.load_config(args.config) if args.config else config_module.default_config()
    data = flags_over_config(args, n_samples=cfg.data.n_samples, seed=cfg.data.seed, p_perclass=cfg.data.p_perclass,
                             p_val=cfg.data.p_val, batch_size=cfg.data.batch_size, truncation=cfg.generator.truncation)
    n_samples, seed, p_perclass, p_val, truncation = data.n_samples, data.seed, data.p_perclass, data.p_val, \
        data.truncation
    shard = parse_shard(args.shard)
    for flag, value in (("--n_samples", n_samples), ("--batch_size", data.batch_size), ("--part_size", args.part_size)):
        check_int(value, flag)
    check_truncation(truncation, "--truncation")
    check_int(seed, "--seed", low=0)
    out_dir = Path(args.out_dir)
    check_output_path(out_dir)
    if args.ray is not None and shard != (0, 1):
        raise UserError("--ray runs every shard itself: drop --shard (or --ray_tasks N sets their number)")
    ray_tasks.check_flags(args.ray, args.ray_tasks, ", or use --shard K/N")
    if args.data_dir is not None:
        given = [flag for flag, used in (("--generator", args.generator), ("--scorers", args.scorers),
                                         ("--shard", shard != (0, 1)), ("--save_images", args.save_images),
                                         ("--ray", args.ray is not None)) if used]
        if given:
            raise UserError(f"--data_dir reads existing latents and logits: {given[0]} does not apply to it")
        _from_authors_dir(args, prog, out_dir, seed, p_perclass, p_val)
        return
    specs = _attributes_and_specs(args, cfg)
    check_selection_possible(n_samples, p_perclass, p_val, next(iter(specs)))

    generator_path = generators.generator_file(args.generator, cfg)
    scorers = make_scorers(specs)
    G = generators.load_generator_file(generator_path, cfg)
    # every config section that depends on the generator, checked now rather than by manipulate.py later
    config_module.check_against_generator(cfg, G.num_ws, G.w_dim)
    check_latent_count(n_samples, "--n_samples", G.w_dim)
    plan = sampling.SamplingPlan(
        generator_sha256=generators.file_sha256(generator_path), n_samples=n_samples,
        seed=seed, truncation=truncation, scorers={attr: scorer_record(spec) for attr, spec in specs.items()},
        part_size=args.part_size, p_perclass=p_perclass,
        p_val=p_val, classes={a: cfg.attributes[a].classes for a in specs if a in cfg.attributes})
    parts_dir = _parts_dir(args)
    if args.ray is not None:
        sampling.check_parts_dir(parts_dir, plan)
        with FolderLock(out_dir, "--out_dir"):
            _run_on_ray(args, prog, plan, parts_dir)
            _write(sampling.merge_parts(parts_dir, p_perclass, p_val), out_dir, prog)
        return
    # one writer per shard of the parts directory (shards run side by side), and per data directory
    merge = shard[1] == 1 and not getattr(args, "ray_task", False)  # a Ray task: its driver merges
    with FolderLock(parts_dir, "--parts_dir", key=f"shard{shard[0]}of{shard[1]}"), \
            (FolderLock(out_dir, "--out_dir") if merge else contextlib.nullcontext()):
        report = sampling.run_parts(G, plan, scorers, parts_dir, data.batch_size, shard=shard,
                                    save_images=args.save_images, progress=not args.no_progress, log=_log(prog))
        _log(prog)(f"computed {len(report.computed)} parts, skipped {len(report.skipped)} finished ones")
        if not merge:
            if shard[1] > 1 and not getattr(args, "ray_task", False):
                print(f"{prog}: shard {shard[0]}/{shard[1]} done; when every shard has finished, run: "
                      f"prepare_data.py merge --out_dir {out_dir} --parts_dir {parts_dir}")
            return
        _write(sampling.merge_parts(parts_dir, p_perclass, p_val), out_dir, prog)


def _run_on_ray(args, prog, plan, parts_dir):
    """Every shard of this run as a Ray task (:func:`gradctrl.ray_tasks.run_tasks`), each running :func:`_run`
    for its --shard K/N into ``parts_dir``; the parts are those of the one-process run."""
    def shard_args(k, n):
        return argparse.Namespace(**dict(vars(args), shard=f"{k}/{n}", ray=None, ray_tasks=None, no_progress=True,
                                         ray_task=True)), prog
    address = args.ray or None
    n = len(ray_tasks.run_tasks(address, _run, shard_args, count=args.ray_tasks, most=plan.n_parts,
                                kill_when=parts_dir / part_name(0)))
    _log(prog)(f"ran {n} shards as Ray tasks on {address or 'a Ray instance on this machine'}")


def _from_authors_dir(args, prog, out_dir, seed, p_perclass, p_val):
    attributes = None if args.attributes is None else [a.strip() for a in args.attributes.split(",") if a.strip()]
    latents, scores, manifest = read_authors_dir(args.data_dir, attributes)
    data = build_data_dir(latents, scores, dict(manifest, seed=seed), seed, p_perclass, p_val)
    with FolderLock(out_dir, "--out_dir"):
        _write(data, out_dir, prog)


def _merge(args, prog):
    out_dir = Path(args.out_dir)
    check_output_path(out_dir)
    with FolderLock(out_dir, "--out_dir"):
        _write(sampling.merge_parts(_parts_dir(args), args.p_perclass, args.p_val), out_dir, prog)


def _write(data, out_dir, prog):
    """Write the data directory and print one summary line per attribute."""
    write_data_dir(out_dir, data)
    print(f"{prog}: wrote {out_dir}: {data.n_samples} samples, w_dim {data.w_dim}")
    for attr in data.attributes:
        k = data.num_classes(attr)
        kind = "binary" if k == 1 else f"{k} classes"
        split = data.splits[attr]
        chosen = data.labels[attr][split["train"] + split["val"]]
        counts = ", ".join(f"class {c}: {n}" for c, n in enumerate(np.bincount(chosen, minlength=max(k, 2))))
        print(f"  {attr} ({kind}): {len(split['train'])} train, {len(split['val'])} val ({counts})")
