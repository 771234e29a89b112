"""Edit latents with a trained classifier and render the edits as strips (stage three of GradCtrl).

    python manipulate.py --model_dir M --attribute gender --out_dir out [--generator PKL] [--config C]
        [--input_dir latents.npy | --n_samples 10 --seed 0 --truncation 0.4]
        [--exclude smile,age | --exclude none] [--top_channels 250,100] [--layerwise 2:10]
        [--steps 9] [--step_size 0.444] [--method gradctrl] [--batch_size 8] [--no_progress]

Binary attributes are edited in both directions (+1 raises the branch's probability), a K-class attribute
towards each class. Without --exclude / --top_channels / --layerwise / --steps / --step_size the config's
[attributes.NAME] defaults apply (no exclusion, all layers, 9 steps of 4/9 without a config); without
--truncation or a config, latents are sampled at the truncation the data were (recorded in --data_dir or
the model directory), else at 0.4, and the command says which. Each strip is the original, then each
step, left to right. The output folder is held by this run alone and replaced whole (gradctrl.edit.manipulation).
"""
import argparse

from stylegan2.atomic import FolderLock

from gradctrl.classifier.model import load_classifier, read_classifier_spec
from gradctrl.commands import run_command
from gradctrl.data import latents
from gradctrl.data.datadir import recorded_truncation
from gradctrl.edit import manipulation, methods
from gradctrl.edit.methods import REGISTRY
from gradctrl.errors import UserError
from gradctrl.evaluate.pages import write_edit_page
from gradctrl.files import write_json
from gradctrl.formats import config as config_module
from gradctrl.generators import file_sha256, generator_file, load_generator_file
from gradctrl.options import check_int, check_latent_count, check_step_size, check_truncation, flags_over_config


def build_parser():
    parser = argparse.ArgumentParser(prog="manipulate.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model_dir", required=True, help="model directory: ours (train.py) or the authors' released")
    parser.add_argument("--attribute", required=True, help="attribute to edit")
    parser.add_argument("--out_dir", required=True, help="folder for the strips, the .npz and the settings JSON")
    parser.add_argument("--input_dir", help="latents to edit: a .npy (N, w_dim) or W+ (N, num_ws, w_dim) file, "
                                            "project.py's latents.npz, the authors' pickled array, or a folder "
                                            "holding latents.npy / .npz / .pkl (default: sample them)")
    parser.add_argument("--n_samples", type=int, help="latents to sample (default 10); with --input_dir, the first N")
    parser.add_argument("--exclude", help="attributes whose top channels are masked: a,b or 'none' "
                                          "(default: the config's exclude table)")
    parser.add_argument("--top_channels", help="channels masked per excluded attribute: 250,100 (default: config)")
    parser.add_argument("--layerwise", help="W+ layers lo:hi receiving the edit (default: config, else all)")
    parser.add_argument("--generator", help="official StyleGAN2 pickle or its http(s) URL, downloaded once into "
                                            "$GRADCTRL_CACHE (default: the config's generator.file)")
    parser.add_argument("--config", help="TOML config (generator, attribute edit defaults)")
    parser.add_argument("--allow_other_generator", action="store_true",
                        help="use a generator other than the one the model was trained on (its metrics.json "
                             "records it): a warning instead of a refusal")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sampled latents (default 0)")
    parser.add_argument("--truncation", type=float,
                        help="truncation psi of sampled latents (default: the config's, else the data's, else 0.4)")
    parser.add_argument("--steps", type=int, help="edit steps (default: config, 9)")
    parser.add_argument("--step_size", type=float, help="L2 length of each step (default: config, 4/9)")
    parser.add_argument("--method", default="gradctrl", choices=list(REGISTRY),
                        help="edit method (default gradctrl); with an exclusion (--exclude or the config's), gradctrl "
                             "and interfacegan run as gradctrl_exclude and interfacegan_cond")
    parser.add_argument("--data_dir", help="data directory, for methods fitted on one (gradctrl does not use it)")
    parser.add_argument("--batch_size", type=int, default=8, help="latents edited and rendered at once (default 8)")
    parser.add_argument("--no_progress", action="store_true", help="no progress bar")
    return parser


def main(argv=None):
    """Run the command on ``argv`` (default: the command line) -> exit code 0; bad input exits with 2."""
    return run_command(build_parser(), _run, argv)


def _run(args):
    out_dir = manipulation.check_edit_dir(args.out_dir)
    cfg = config_module.load_config(args.config) if args.config else config_module.default_config()
    try:
        spec = read_classifier_spec(args.model_dir)   # the checks below need no TensorFlow
    except UserError as e:
        raise UserError(f"--model_dir '{args.model_dir}': {e}") from None
    where = f"'{args.model_dir}'"
    if args.attribute not in spec.num_classes:
        raise UserError(f"--attribute '{args.attribute}': the classifier in {where} has no such attribute "
                        f"(it has {', '.join(spec.attributes)})")
    attribute = cfg.attribute(args.attribute)
    if args.attribute in cfg.attributes and attribute.classes != spec.num_classes[args.attribute]:
        raise UserError(f"config {cfg.path}: key 'attributes.{args.attribute}.classes' is {attribute.classes} but the "
                        f"classifier in {where} has {spec.num_classes[args.attribute]} class(es) for it")
    exclude = manipulation.resolve_exclude(args.exclude, args.top_channels, args.attribute, spec, attribute, where)
    default_truncation = cfg.generator.truncation
    if args.config is None and args.truncation is None and args.input_dir is None:
        default_truncation, origin = recorded_truncation(args.data_dir, args.model_dir)
        print(f"sampling latents at truncation {default_truncation} ({origin}); pass --truncation to choose")
    settings = flags_over_config(args, steps=attribute.steps, step_size=attribute.step_size,
                                 truncation=default_truncation)
    steps, step_size, truncation = settings.steps, settings.step_size, settings.truncation
    for flag, value in (("--n_samples", args.n_samples), ("--batch_size", args.batch_size), ("--steps", steps)):
        if value is not None:
            check_int(value, flag)
    check_step_size(step_size, "--step_size")
    check_truncation(truncation, "--truncation")
    check_int(args.seed, "--seed", low=0)
    if methods.REGISTRY[args.method].needs_data and not args.data_dir:
        raise UserError(f"--method {args.method} needs --data_dir: the data directory of prepare_data.py, whose "
                        "selected samples and scores the method is fitted on")
    if args.input_dir is not None:
        path = latents.latents_file(args.input_dir)
        if not path.is_file():  # read once the generator's W+ layer count is known
            raise UserError(f"--input_dir '{args.input_dir}': no such file (give a latent file, or a folder "
                            "holding latents.npy, latents.npz or latents.pkl)")
    generator_path = generator_file(args.generator, cfg)

    with FolderLock(args.model_dir, "--model_dir", shared=True):  # never a folder train.py is replacing
        clf = load_classifier(args.model_dir)
    G = load_generator_file(generator_path, cfg)
    config_module.check_compatible(G, clf, cfg, generator_path, args.model_dir,
                                   allow_other_generator=args.allow_other_generator)
    if args.n_samples is not None:  # each latent's trajectory is kept
        check_latent_count(args.n_samples, "--n_samples", G.w_dim, per_latent=steps + 1)
    layers = None if args.layerwise is None else manipulation.parse_layerwise(args.layerwise, G.num_ws)

    if args.input_dir is not None:
        try:
            w = latents.load_latents(path, w_dim=clf.w_dim, num_ws=G.num_ws)
        except UserError as e:
            raise UserError(f"--input_dir '{args.input_dir}': {e}") from None
        if args.n_samples is not None:
            w = w[:args.n_samples]
        w, base = latents.split_wplus(w)
        source = {"input": str(path)}
    else:
        n = 10 if args.n_samples is None else args.n_samples
        w = latents.sample_w(G, args.seed, range(n), truncation, latents.STREAM_EDIT)
        source = {"seed": args.seed, "truncation": truncation, "n_samples": n, "stream": "edit"}
        base = None

    context = methods.EditContext(clf, G, args.data_dir)
    cases = methods.config_cases(cfg, args.attribute, clf.num_classes[args.attribute], G.num_ws, steps=steps,
                                 step_size=step_size, layers=layers, exclude=exclude)
    layers = cases[0].layers
    method = methods.exclusion_variant(args.method, exclude)
    with FolderLock(out_dir, "--out_dir"), manipulation.edit_folder(out_dir, args.attribute) as folder:
        summary = manipulation.run_edits(context, method, w, cases, folder,
                                         args.batch_size, progress=not args.no_progress, base=base)
        settings = _settings(args, clf, attribute, generator_path, G, cfg, exclude, layers, steps, step_size,
                             source, w, summary)
        write_json(folder / f"{args.attribute}{manipulation.SETTINGS_SUFFIX}", settings)
        write_edit_page(folder, rebuilt=args.attribute, name=out_dir.name)
    stalled = sum(summary["zero_gradient_steps"].values())
    note = methods.stall_note(method, cases[0], stalled, len(w) * steps * len(cases))
    print(f"wrote {len(summary['strips'])} strip(s), {summary['npz']} and {args.attribute}_settings.json to "
          f"{out_dir}" + (f"\nnote: {note}" if note else ""))


def _settings(args, clf, attribute, generator_path, G, cfg, exclude, layers, steps, step_size, source, w, summary):
    """The JSON settings of an edit run: every setting used, the files written, the zero-gradient counts."""
    return {
        "method": args.method, "attribute": args.attribute, "num_classes": clf.num_classes[args.attribute],
        "class_names": list(attribute.class_names) if attribute.class_names else None,
        "model_dir": str(args.model_dir), "classifier_source": clf.source, "classifier_attributes": clf.attributes,
        "generator": str(generator_path), "generator_sha256": file_sha256(generator_path), "num_ws": G.num_ws,
        "config": cfg.path, "exclude": exclude, "layers": list(layers), "steps": steps, "step_size": step_size,
        "latents": source, "n_latents": int(len(w)), "data_dir": args.data_dir, **summary,
        "npz_arrays": {"w0": "(N, w_dim) start latents (of W+ ones: their mean over layers)",
                       "ws0": "(N, num_ws, w_dim) W+ start latents, when given",
                       "traj_<case>": "(N, steps, w_dim) w after each step",
                       "probs_<case>_<attribute>": "(N, steps + 1) or (N, steps + 1, K) probabilities of every "
                                                   "classifier attribute, index 0 at w0"},
    }
