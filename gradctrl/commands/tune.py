"""Choose each method's W+ layer range and GradCtrl's exclusion top-k on validation latents (docs/claims.md).

``python tune.py --config C --model_dir M --data_dir D --out_config T --out_dir R`` draws validation latents
from their own seed stream (``STREAM_TUNE``: never the test latents evaluate.py measures on), and for every
edit of the target attributes and every method searches the space pre-registered in docs/claims.md: every
contiguous W+ range for every method, and for GradCtrl with exclusion the top-k of each attribute the config
excludes. Each setting is rendered and scored by the config's scorers (the world's exact ones); the pick is the smallest
planted-partner |change| at 1 std of target change among the settings that reach it (ties: fewer layers,
smaller k, lower first layer).

Writes ``T``: the config it started from, unchanged, with a header saying how the settings were chosen and
one ``[attributes.NAME.tuned.TAG]`` table per edit (evaluate.py and ``--claims`` run each method with them);
and ``R``: ``frontier.png`` (partner change against target change per top-k), ``search.csv`` (every
setting) and ``tuning.json`` (the settings and notes). Without ``--full`` the search is the demo-sized
subset (layer ends at even layers, top-k 0, 16, 64); ``--full`` is the pre-registered space.
"""
import argparse
import dataclasses
import shlex
import sys

import numpy as np

from stylegan2.atomic import FolderLock, atomic_dir, write_bytes

from gradctrl.classifier.model import load_classifier
from gradctrl.commands import run_command
from gradctrl.data.latents import STREAM_TUNE, sample_w
from gradctrl.data.scorers import make_scorers
from gradctrl.edit.methods import EditContext, REGISTRY, config_cases, config_tuned, get_method
from gradctrl.errors import UserError
from gradctrl.evaluate import tuning
from gradctrl.evaluate.claims import exact_measurements, held_out_note
from gradctrl.evaluate.reports import csv_text
from gradctrl.files import check_output_dir, json_bytes
from gradctrl.formats.config import check_compatible, load_config
from gradctrl.generators import generator_file, load_generator_file
from gradctrl.options import check_int

MARKER_FILE = "tuning.json"


def build_parser():
    parser = argparse.ArgumentParser(
        prog="tune.py",
        description="Choose each method's W+ layer range and GradCtrl's exclusion top-k per edit on validation "
                    "latents, by the rule pre-registered in docs/claims.md; write them into a config.")
    parser.add_argument("--config", required=True, help="TOML config with a scorer per attribute (the world's "
                                                        "exact ones), the exclusions and the [claims] planted pairs")
    parser.add_argument("--generator", help="StyleGAN2 pickle (default: the config's generator.file)")
    parser.add_argument("--model_dir", required=True, help="GradCtrl classifier directory")
    parser.add_argument("--allow_other_generator", action="store_true",
                        help="use a generator other than the one the model was trained on (its metrics.json "
                             "records it): a warning instead of a refusal")
    parser.add_argument("--data_dir", required=True, help="data directory of prepare_data (the baselines)")
    parser.add_argument("--out_config", help="the tuned config to write (e.g. configs/world_tuned.toml; required "
                                             "unless --only_steps)")
    parser.add_argument("--out_dir", required=True, help="folder for frontier.png, search.csv and tuning.json "
                                                         "(replaced if it is an earlier tuning)")
    parser.add_argument("--attributes", help="comma-separated target attributes (default: every attribute of the "
                                             "classifier, as the pre-registration says)")
    parser.add_argument("--methods", help=f"comma-separated methods, from {', '.join(REGISTRY)} (default: all)")
    parser.add_argument("--n_val", type=int, default=16, help="validation latents (default 16)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the validation latents (tuning stream)")
    parser.add_argument("--full", action="store_true",
                        help="search the whole pre-registered space: every W+ range, top-k 0, 8, 16, 32, 64 "
                             "(default: the demo-sized subset, range ends at even layers, top-k 0, 16, 64)")
    parser.add_argument("--choose_steps", action="store_true",
                        help="first choose the path length by the rule pre-registered in docs/claims.md: the "
                             "smallest of 9, 18, 27, 36, 45 steps whose paths reach 1 std of target change for at "
                             "least 90 %% of the (edit, method) pairs that 45 steps reach (config settings, "
                             "validation latents); the search then runs at that length, and evaluate.py should "
                             "too (--steps: tuning.json and the tuned config's header give it)")
    parser.add_argument("--only_steps", action="store_true",
                        help="choose the path length only (--choose_steps without the layer and top-k search): "
                             "write tuning.json with the choice, no tuned config")
    parser.add_argument("--batch_size", type=int, default=16, help="images rendered together (default 16)")
    parser.add_argument("--no_progress", action="store_true", help="no progress bars")
    return parser


def _run(args):
    methods = [m.strip() for m in args.methods.split(",") if m.strip()] if args.methods else list(REGISTRY)
    for name in methods or [""]:
        get_method(name, f"--methods {args.methods!r}")
    for flag, value in (("--n_val", args.n_val), ("--batch_size", args.batch_size)):
        check_int(value, flag)
    if args.n_val < 2:
        raise UserError(f"--n_val {args.n_val}: at least 2 validation latents are needed for a standard deviation")
    if args.only_steps:
        if args.out_config:
            raise UserError("--out_config with --only_steps: only the path length is chosen, no config is written "
                            "(drop --out_config, or --only_steps to tune the settings too)")
        args.choose_steps = True
    elif not args.out_config:
        raise UserError("--out_config is required: the tuned config to write (or --only_steps to choose the path "
                        "length alone)")
    check_output_dir(args.out_dir, MARKER_FILE, "a tuning folder")
    config = load_config(args.config)
    generator_path = generator_file(args.generator, config)
    if config_tuned(config):
        raise UserError(f"config {config.path} already has tuned settings ([attributes.NAME.tuned]): tune from the "
                        "config they were tuned from (e.g. configs/world.toml)")
    unscored = [n for n, a in config.attributes.items() if not a.scorer]
    if unscored:
        raise UserError(f"tuning renders and scores every attribute: give [attributes.{unscored[0]}] a `scorer` "
                        "(configs/world.toml has the world's exact ones)")
    planted = config.claims.planted_pairs
    clf = load_classifier(args.model_dir)
    targets = [a.strip() for a in args.attributes.split(",") if a.strip()] if args.attributes else list(clf.attributes)
    for name in targets:
        if name not in clf.num_classes:
            raise UserError(f"--attributes: '{name}' is not an attribute of the classifier ({', '.join(clf.attributes)})")
    context = EditContext(clf, data_dir=args.data_dir)
    context.check_class_counts(targets, "tune.py")
    G = load_generator_file(generator_path, config)
    check_compatible(G, clf, config, generator_path, args.model_dir,
                     allow_other_generator=args.allow_other_generator)

    w_val = sample_w(G, args.seed, np.arange(args.n_val), config.generator.truncation, STREAM_TUNE)
    scorers = make_scorers({name: a.scorer for name, a in config.attributes.items()})
    cases = [case for name in targets for case in config_cases(config, name, clf.num_classes[name], G.num_ws)]
    ranges = tuning.layer_ranges(G.num_ws, coarse=not args.full)
    top_ks = tuning.TOP_KS if args.full else tuning.COARSE_TOP_KS
    notes = [held_out_note(w_val, context.data().latents)]
    if max(top_ks) > clf.w_dim:
        top_ks = tuple(k for k in top_ks if k <= clf.w_dim)
        notes.append(f"top-k above the latent width {clf.w_dim} left out of the search: {', '.join(map(str, top_ks))}")

    def partners_of(attribute):
        return [b if a == attribute else a for a, b in planted if attribute in (a, b)]

    def measure(w, jobs):
        originals, measured = exact_measurements(G, w, jobs, scorers, args.batch_size, not args.no_progress)
        return originals, [scores for scores, _ in measured]

    with FolderLock(args.out_dir, "--out_dir"):
        steps, length_note = None, None
        if args.choose_steps:
            reach = tuning.path_reach(context, w_val, cases, methods, measure, max(tuning.STEP_CANDIDATES),
                                      progress=not args.no_progress)
            steps, counts = tuning.choose_steps([row["steps_to_reach"] for row in reach])
            cases = [dataclasses.replace(case, steps=steps) for case in cases]
            length_note = (f"path length: {steps} steps, chosen on the validation latents (edit and method pairs "
                           "reaching 1 std by steps: " + ", ".join(f"{c}: {n}" for c, n in counts.items()) + ")")
            notes.append(length_note)
        command = "tune.py " + shlex.join(sys.argv[1:])
        if args.only_steps:
            settings = {"command": command, "config": config.path, "n_val": args.n_val, "seed": args.seed,
                        "stream": STREAM_TUNE, "targets": targets, "methods": methods, "notes": notes,
                        "steps": steps, "steps_reach": counts, "path_reach": reach}
            with atomic_dir(check_output_dir(args.out_dir, MARKER_FILE, "a tuning folder")) as folder:
                (folder / MARKER_FILE).write_bytes(json_bytes(settings))
            print(f"{length_note}\nwrote {args.out_dir}/tuning.json")
            return
        result = tuning.tune(context, w_val, cases, methods, measure, partners_of, ranges, top_ks,
                             progress=not args.no_progress)
        settings = {"command": command, "config": config.path, "n_val": args.n_val, "seed": args.seed,
                    "stream": STREAM_TUNE, "full": args.full, "ranges": ranges, "top_ks": list(top_ks),
                    "targets": targets, "methods": methods, "notes": notes + result.notes,
                    "chosen": [dict(row) for row in result.chosen.values()]}
        if args.choose_steps:
            settings.update(steps=steps, steps_reach=counts, path_reach=reach)
        header = _header(command, config, args, ranges, top_ks, steps)
        with open(config.path, encoding="utf-8") as f:
            original = f.read()
        text = header + original.rstrip("\n") + "\n" + tuning.tuned_tables(result)
        out_dir = check_output_dir(args.out_dir, MARKER_FILE, "a tuning folder")
        with atomic_dir(out_dir) as folder:
            (folder / "frontier.png").write_bytes(tuning.plot_frontier(result, partners_of))
            (folder / "search.csv").write_text(csv_text([dict(r, exclude=str(r["exclude"])) for r in result.rows]))
            (folder / MARKER_FILE).write_bytes(json_bytes(settings))
        write_bytes(args.out_config, text.encode())
    for line in ([length_note] if length_note else []) + result.notes:
        print(line)
    print(f"wrote {args.out_config} ({len(result.chosen)} tuned settings) and {args.out_dir}/frontier.png, "
          "search.csv, tuning.json")


def _header(command, config, args, ranges, top_ks, steps=None):
    """The tuned config's opening comment: how its settings were chosen (``steps``: the chosen path length)."""
    length = "" if steps is None else (
        f"# Searched with paths of {steps} steps, the length --choose_steps chose\n"
        "# (docs/claims.md, \"Path length for the claims\"):"
        f" run evaluate.py with --steps {steps} to edit as the settings were chosen.\n")
    return (f"# Tuned by `{command}` (docs/claims.md, \"Tuned settings\").\n" + length +
            f"# Chosen per edit and method on {args.n_val} validation latents (seed {args.seed}, the tuning stream\n"
            "# STREAM_TUNE: never evaluate.py's test latents) by the rule pre-registered in docs/claims.md before the\n"
            "# first search: among the settings whose mean target change reaches 1 std, the smallest mean |change|\n"
            "# of the planted partner there (a target without one: of every other attribute); ties: fewer layers,\n"
            "# then the smaller top-k, then the lower first layer.\n"
            f"# Searched ({'the full pre-registered space' if args.full else 'the demo-sized subset; --full: the whole space'}): "
            f"{len(ranges)} W+ ranges [lo, hi) for every method,\n"
            f"# top-k in {{{', '.join(str(k) for k in top_ks)}}} per excluded attribute for GradCtrl with exclusion.\n"
            f"# The config it started from ({config.path}) follows unchanged; each [attributes.NAME.tuned.TAG] table at\n"
            "# the end gives, per method, the layers (and GradCtrl's exclusion) that edit runs with.\n\n")


def main(argv=None):
    """Run the command on ``argv`` (default: the command line) -> exit code 0; bad input exits with 2."""
    return run_command(build_parser(), _run, argv)
