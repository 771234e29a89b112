"""Compare editing methods on held-out latents: how much the target attribute moves, and what else moves with it.

``python evaluate.py --config C --model_dir M --data_dir D --out_dir E`` samples held-out latents
(the evaluation's own seed stream, distinct from prepare_data's and manipulate's), and for every method,
target attribute and edit (+1 and -1 for a binary attribute, towards each class for a K-class one):

1. edits the latents (same number of steps and step length for every method, written into the same W+
   layers: the attribute's config defaults, except where the config holds settings tune.py chose per edit
   and method, ``[attributes.NAME.tuned.TAG]``);
2. renders every step and scores the images with the config's image scorers (``--latent_only``: scores the
   edited w with the latent classifiers instead, without rendering: quick, but circular for GradCtrl,
   whose edits climb exactly those classifiers);
3. measures per step the signed target change, the mean absolute non-target change and the identity drift
   (see :mod:`gradctrl.evaluate.curves`), and summarises them at target changes of 0.5, 1 and 2 standard deviations.

Methods: ``gradctrl_exclude`` (GradCtrl with the config's exclusion), ``gradctrl`` (without),
``interfacegan`` (SVM normal on the data directory's selected samples), ``interfacegan_cond`` (projected
orthogonal to the excluded attributes' normals), ``ganspace`` (the PCA component of w most correlated with
the score). The two exclusion methods are skipped for an attribute with no exclusion configured.

Writes ``E/curves.csv`` (every step), ``E/summary.csv`` and ``E/summary.md`` (the tables), ``E/curves.png``
(the curves) and ``E/evaluation.json`` (the settings and notes).

``--ray [ADDRESS]`` renders and scores on Ray (docs/distributed.md): each rendering round (the comparison; with
``--claims`` also the straight lines and each small-data classifier's edits) is split into contiguous blocks of
held-out latents, whole ``--batch_size`` batches each, one Ray task per block, and joined in latent order, so
every image and score is the one-process run's and the report the same bytes. The edits (the classifier's
gradient steps, the baselines' fits), the bootstrap, the saliency maps and the small-data classifiers'
training run in the driver.
"""
import argparse
import contextlib
import dataclasses
import shlex
import sys

import numpy as np

from stylegan2.atomic import FolderLock

from gradctrl import ray_tasks, world
from gradctrl.classifier.model import load_classifier, read_classifier_spec
from gradctrl.commands import run_command
from gradctrl.data.latents import STREAM_EVAL, sample_w
from gradctrl.data.scorers import make_scorers
from gradctrl.edit.methods import EditContext, REGISTRY, config_cases, config_tuned, get_method
from gradctrl.errors import UserError
from gradctrl.evaluate import curves
from gradctrl.evaluate.claims import measure_claims, median_half_width
from gradctrl.evaluate.claims_report import claims_files
from gradctrl.evaluate.evaluation import compare_methods, image_measurements, latent_blocks
from gradctrl.evaluate.reports import check_out_dir, write_evaluation
from gradctrl.formats.config import TRUNCATION_HELP, check_compatible, default_config, load_config
from gradctrl.generators import generator_file, load_generator_file
from gradctrl.options import check_int, check_latent_count, check_step_size, check_truncation, flags_over_config

N_SAMPLES = 64              # held-out latents of a method comparison
# Held-out latents of --claims: on the shipped world generator, 128 latents gave claim 1's paired 95 %
# intervals a median half-width of 0.049 std (12 planted comparisons at 1 std, seed 0, 2,000 resamples;
# docs/claims.md); half-widths shrink as 1 / sqrt(N), so 256 gives about 0.035, under issue 21's 0.05 with room
# for a generator whose latents spread more.
CLAIMS_N_SAMPLES = 256


def build_parser():
    parser = argparse.ArgumentParser(
        prog="evaluate.py",
        description="Compare GradCtrl with InterFaceGAN and GANSpace on held-out latents: target change against "
                    "non-target change and identity drift, in standard deviations of each score.")
    parser.add_argument("--config", help="TOML config: generator, truncation, attributes with their image "
                                          "scorers and edit defaults (layers, exclusion, steps)")
    parser.add_argument("--generator", help="StyleGAN2 pickle or its http(s) URL, downloaded once into "
                                            "$GRADCTRL_CACHE (default: the config's generator.file)")
    parser.add_argument("--model_dir", required=True, help="GradCtrl classifier directory (ours or the authors')")
    parser.add_argument("--allow_other_generator", action="store_true",
                        help="use a generator other than the one the model was trained on (its metrics.json "
                             "records it): a warning instead of a refusal")
    parser.add_argument("--data_dir", help="data directory of prepare_data (selected samples and scores): "
                                           "needed by the InterFaceGAN and GANSpace baselines")
    parser.add_argument("--out_dir", required=True, help="output directory (replaced if it is an earlier evaluation)")
    parser.add_argument("--attributes", help="comma-separated target attributes (default: every classifier "
                                             "attribute that can be scored)")
    parser.add_argument("--methods", help=f"comma-separated registered edit methods, from {', '.join(REGISTRY)} "
                                          "(default: all)")
    parser.add_argument("--n_samples", type=int,
                        help="held-out latents (default 64; with --claims 256, enough for claim 1's paired intervals: "
                             "docs/claims.md)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the held-out latents (evaluation stream)")
    parser.add_argument("--truncation", type=float, help=TRUNCATION_HELP)
    parser.add_argument("--steps", type=int, help="steps per edit (default: each attribute's config value, 9)")
    parser.add_argument("--step_size", type=float, help="L2 length of a step (default: the config's, 4/9)")
    parser.add_argument("--ganspace_components", type=int, default=20,
                        help="GANSpace picks among this many leading principal components (default 20)")
    parser.add_argument("--batch_size", type=int, default=16,
                        help="images rendered together, and latents per rendering round (default 16)")
    parser.add_argument("--claims", action="store_true",
                        help="also measure the paper's five claims with exact labels (world scorers only; needs "
                             "--data_dir): claims.md, a CSV per table and plots in --out_dir (docs/claims.md)")
    parser.add_argument("--n_boot", type=int, default=2000,
                        help="--claims: bootstrap resamples (default 2000: a bootstrap p-value is at least "
                             "2 / (n_boot + 1), which must pass claim 1's Holm-corrected thresholds)")
    parser.add_argument("--small_data_sizes", default="250,500,1000,2000,4000",
                        help="--claims: selected samples per attribute for the small-data classifiers "
                             "(default 250,500,1000,2000,4000; a size beyond the selection is noted and skipped)")
    parser.add_argument("--small_data_seeds", type=int, default=3,
                        help="--claims: seeds 0..n-1 per small-data size (default 3)")
    parser.add_argument("--small_data_latents", type=int, default=16,
                        help="--claims: held-out latents each small-data classifier edits (default 16)")
    parser.add_argument("--small_data_epochs", type=int,
                        help="--claims: epochs of the small-data classifiers (default: the config's [train])")
    parser.add_argument("--top_k", type=int,
                        help="--claims: channels of a salient set for the shared-channel overlap (default: the "
                             "largest exclusion top-k of the config)")
    ray_tasks.add_flags(parser, "render and score on Ray: each rendering round split into blocks of held-out latents "
                                "(whole --batch_size batches), one Ray task each, joined in latent order (the same "
                                "report; the edits, the bootstrap and --claims' small-data training run here)",
                        "the blocks per rendering round, at most one per batch")
    parser.add_argument("--no_progress", action="store_true", help="no progress bars")
    parser.add_argument("--latent_only", action="store_true",
                        help="score the edited w with the latent classifiers instead of rendering (quick look; "
                             "circular for GradCtrl)")
    return parser


def _run(args):
    methods = [m.strip() for m in args.methods.split(",") if m.strip()] if args.methods else list(REGISTRY)
    for name in methods or [""]:
        get_method(name, f"--methods {args.methods!r}")
    if args.n_samples is None:
        args.n_samples = CLAIMS_N_SAMPLES if args.claims else N_SAMPLES
    for flag, value in (("--n_samples", args.n_samples), ("--steps", args.steps), ("--batch_size", args.batch_size),
                        ("--ganspace_components", args.ganspace_components)):
        if value is not None:
            check_int(value, flag)
    if args.step_size is not None:
        check_step_size(args.step_size, "--step_size")
    if args.truncation is not None:
        check_truncation(args.truncation, "--truncation")
    if args.n_samples < 2:
        raise UserError(f"--n_samples {args.n_samples}: at least 2 held-out latents are needed "
                        "for a standard deviation")
    sizes = _check_claims_flags(args) if args.claims else None
    ray_tasks.check_flags(args.ray, args.ray_tasks)
    if args.ray is not None and args.latent_only:
        raise UserError("--ray splits the rendering, and --latent_only renders nothing: drop one of them")
    check_out_dir(args.out_dir)
    baselines = [m for m in methods if REGISTRY[m].needs_data]
    if baselines and not args.data_dir:
        raise UserError(f"--methods includes {baselines[0]}, which needs --data_dir (prepare_data's selected samples)")

    config = load_config(args.config) if args.config else default_config()
    spec = read_classifier_spec(args.model_dir)   # the checks up to loading need no TensorFlow
    generator_path = generator_file(args.generator, config)
    scored = list(spec.attributes) if args.latent_only else [name for name, a in config.attributes.items() if a.scorer]
    if not scored:
        raise UserError("image scores need scorers: pass a --config whose attributes name a `scorer`, "
                        "or use --latent_only")
    targets = ([a.strip() for a in args.attributes.split(",") if a.strip()] if args.attributes
               else [a for a in spec.attributes if a in scored])
    for name in targets:
        if name not in spec.num_classes:
            raise UserError(f"--attributes: '{name}' is not an attribute of the classifier "
                            f"({', '.join(spec.attributes)})")
        if name not in scored:
            raise UserError(f"--attributes: '{name}' has no scorer in the config: give "
                            f"[attributes.{name}] a `scorer` (or use --latent_only)")
    if not targets:
        raise UserError("no target attribute: the classifier and the scorers share no attribute")
    if len(scored) < 2:
        raise UserError(f"only '{scored[0]}' is scored: non-target change needs at least two scored attributes")

    with FolderLock(args.model_dir, "--model_dir", shared=True):  # never a folder train.py is replacing
        clf = load_classifier(args.model_dir)
    context = EditContext(clf, data_dir=args.data_dir, ganspace_components=args.ganspace_components)
    if args.data_dir:
        with FolderLock(args.data_dir, "--data_dir", shared=True):
            context.data()  # read and checked against the classifier before any work
    G = load_generator_file(generator_path, config)
    check_compatible(G, clf, config, generator_path, args.model_dir,
                     allow_other_generator=args.allow_other_generator)
    check_latent_count(args.n_samples, "--n_samples", G.w_dim)
    if args.latent_only:
        scorers = None
    else:
        scorers = make_scorers({name: config.attribute(name).scorer for name in scored})

    truncation = flags_over_config(args, truncation=config.generator.truncation).truncation
    w = sample_w(G, args.seed, np.arange(args.n_samples), truncation, STREAM_EVAL)
    cases = [case for name in targets
             for case in config_cases(config, name, clf.num_classes[name], G.num_ws, args.steps, args.step_size)]

    plan = _claims_plan(args, config, context, scorers, cases, sizes) if args.claims else None
    on_ray = ray_tasks.session(args.ray or None, args.ray_tasks) if args.ray is not None else contextlib.nullcontext()
    with on_ray as ray, FolderLock(args.out_dir, "--out_dir"):
        blocks = None if ray is None else _ray_blocks(ray, args, config, generator_path, scorers)
        comparison = compare_methods(G, context, w, cases, methods, scorers, args.batch_size,
                                     progress=not args.no_progress, tuned=config_tuned(config), blocks=blocks)
        extra, claim_settings = _claims(args, plan, G, context, w, comparison, scorers, blocks) if args.claims \
            else ({}, {})
        settings = {"config": config.path, "generator": str(generator_path),
                    "model_dir": str(args.model_dir), "data_dir": args.data_dir, "methods": comparison.methods,
                    "targets": targets, "scored": scored, "latent_only": args.latent_only,
                    "n_samples": args.n_samples, "seed": args.seed, "truncation": truncation,
                    "levels": list(curves.LEVELS), "ganspace_components": args.ganspace_components,
                    "cases": [dataclasses.asdict(c) for c in cases], **claim_settings}
        markdown = write_evaluation(args.out_dir, comparison, settings, args.latent_only, extra)
    print(extra.get("claims.md", markdown))
    print(f"wrote {args.out_dir}/summary.md, summary.csv, curves.csv, curves.png"
          + (", claims.md and the claims' CSVs and plots" if extra else ""))


def _check_claims_flags(args):
    """``--claims``' own flags, checked before any work -> the small-data sizes [int]; UserError otherwise."""
    if args.latent_only:
        raise UserError("--claims measures with the exact scorer's images: drop --latent_only")
    if not args.data_dir:
        raise UserError("--claims needs --data_dir (the baselines, small data and label association read it)")
    for flag in ("n_boot", "small_data_seeds", "small_data_latents", "small_data_epochs", "top_k"):
        if getattr(args, flag) is not None:
            check_int(getattr(args, flag), f"--{flag}")
    try:
        sizes = [int(size) for size in args.small_data_sizes.split(",") if size.strip()]
    except ValueError:
        raise UserError(f"--small_data_sizes {args.small_data_sizes!r}: give comma-separated integers") from None
    if not sizes or min(sizes) < 2:
        raise UserError(f"--small_data_sizes {args.small_data_sizes!r}: give sizes of at least 2")
    if args.small_data_latents > args.n_samples:
        raise UserError(f"--small_data_latents {args.small_data_latents} exceeds --n_samples {args.n_samples}")
    return sizes


def _claims_plan(args, config, context, scorers, cases, sizes):
    """``--claims``' settings, checked against the config and the data directory before the edits
    -> (small_data, top_k, pairs [(kind, target, partner)] from the config's [claims] table)."""
    clf = context.classifier
    not_world = [name for name in scorers if not config.attribute(name).scorer.startswith("world:")]
    if not_world:
        raise UserError(f"--claims needs exact labels: attribute '{not_world[0]}' is not scored by the world's "
                        "scorer (world:ATTRIBUTE); use configs/world.toml")
    context.check_class_counts(clf.attributes, "--claims")  # the small-data classifiers train on its labels
    top_k = args.top_k or max((k for case in cases for k in case.exclude.values()), default=0)
    if not 0 < top_k <= clf.w_dim:
        raise UserError(f"--top_k {top_k}: give a channel count in [1, {clf.w_dim}] (the config sets no "
                        "exclusion to take it from)")
    train = config.train
    small_data = {"sizes": sizes, "seeds": list(range(args.small_data_seeds)),
                  "n_latents": args.small_data_latents, "p_val": config.data.p_val,
                  "train": {"hidden_size": train.hidden_size, "n_shared_layers": train.n_shared_layers,
                            "lr": train.lr, "batch_size": train.batch_size,
                            "n_epochs": args.small_data_epochs or train.n_epochs}}
    pairs = [("planted", a, b) for a, b in config.claims.planted_pairs] + \
        [("control", a, b) for a, b in config.claims.control_pairs]
    if not config.claims.planted_pairs:
        raise UserError(f"--claims decides claim 1 on the planted pairs, and config {config.path} names none: add "
                        "[claims] planted_pairs = [[\"a\", \"b\"], ...] (configs/world.toml has the world's)")
    return small_data, top_k, pairs


def _ray_blocks(ray, args, config, generator_path, scorers):
    """``blocks`` for :func:`gradctrl.evaluate.evaluation.image_measurements` under --ray: the latents of a rendering round
    in contiguous blocks of whole batches (:func:`gradctrl.evaluate.evaluation.latent_blocks`), one Ray task
    (:func:`_measure_block`) each, on the session ``ray`` -> function (w, jobs) -> [each block's measurements]."""
    specs = {name: config.attribute(name).scorer for name in scorers}

    def blocks(w, jobs):
        batches = -(-len(w) // args.batch_size)

        def block_args(k, n):
            start, stop = latent_blocks(len(w), args.batch_size, n)[k]
            return (config, str(generator_path), specs, w[start:stop],
                    [(case, method, traj[start:stop]) for case, method, traj in jobs], args.batch_size)
        count = min(args.ray_tasks, batches) if args.ray_tasks else None
        return ray_tasks.run_on(ray, _measure_block, block_args, count=count, most=batches,
                                kill_when=ray_tasks.KILL_AT_START)
    return blocks


def _measure_block(config, generator_path, specs, w, jobs, batch_size):
    """A Ray task of --ray: :func:`gradctrl.evaluate.evaluation.image_measurements` of one block of held-out latents w
    (B, w_dim) and the jobs' trajectories over them [(case, method, (B, S, w_dim))], with the generator and the
    scorers ({attribute: spec}) loaded on the worker."""
    G = load_generator_file(generator_path, config)
    return image_measurements(G, w, jobs, make_scorers(specs), batch_size, progress=False)


def _claims(args, plan, G, context, w, comparison, scorers, blocks):
    """``--claims``: measure (:func:`gradctrl.evaluate.claims.measure_claims`; ``blocks``: see :func:`_ray_blocks`) ->
    (report files, settings for evaluation.json)."""
    small_data, top_k, pairs = plan
    claims = measure_claims(G, context, w, comparison, scorers, world.score_labels, small_data, top_k, args.n_boot,
                            args.seed, args.batch_size, pairs, progress=not args.no_progress, blocks=blocks)
    command = "evaluate.py " + shlex.join(ray_tasks.without_flags(sys.argv[1:]))  # --ray leaves the report as is
    settings = {"command": command, "seed": args.seed, "n_samples": args.n_samples,
                "n_boot": args.n_boot, "top_k": top_k, "small_data_seeds": small_data["seeds"],
                "small_data_latents": args.small_data_latents}
    return claims_files(claims, settings), dict(settings, small_data=small_data,
                                                verdicts={k: list(v) for k, v in claims.verdicts.items()},
                                                claim1_median_half_width=median_half_width(claims.paired))


def main(argv=None):
    """Run the command on ``argv`` (default: the command line) -> exit code 0; bad input exits with 2."""
    return run_command(build_parser(), _run, argv)
