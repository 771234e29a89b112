"""Train the latent attribute classifier on a data directory written by prepare_data.py.

    python train.py --data_dir data/ffhq --out_dir models/ffhq --attributes gender,smile [--config C]
                    [--lr 1e-3] [--batch_size 32] [--n_epochs 20] [--hidden_size 16|none]
                    [--n_shared_layers 0] [--seed 0]

Flags given on the command line win over the config's [train] table. Writes the model directory
(classifier.json, classifier.weights.h5, metrics.json with per-attribute accuracies per epoch) atomically.
"""
import argparse

from stylegan2.atomic import FolderLock

from gradctrl.classifier.model import check_output_dir, save_classifier
from gradctrl.classifier.training import train_classifier
from gradctrl.commands import run_command
from gradctrl.data.datadir import read_data_dir
from gradctrl.data.selection import EMPTY_CLASS_FIX, missing_classes
from gradctrl.errors import UserError
from gradctrl.formats import config as config_module
from gradctrl.options import check_int, check_number, flags_over_config


def _hidden_size(text):
    """``--hidden_size``: a positive integer, or 'none' for linear branches."""
    if text.lower() == "none":
        return "none"
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer or 'none', got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer or 'none', got {value}")
    return value


def build_parser():
    parser = argparse.ArgumentParser(prog="train.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data_dir", required=True, help="data directory written by prepare_data.py")
    parser.add_argument("--out_dir", required=True, help="model directory to write (replaced if it is one)")
    parser.add_argument("--attributes", help="comma-separated attributes to train (default: all in the data)")
    parser.add_argument("--config", help="TOML config; its [train] table gives defaults")
    parser.add_argument("--lr", type=float, help="Adam learning rate (default 1e-3)")
    parser.add_argument("--batch_size", type=int, help="batch size (default 32)")
    parser.add_argument("--n_epochs", type=int, help="number of epochs (default: config, else 20)")
    parser.add_argument("--hidden_size", type=_hidden_size, help="hidden units per branch, or 'none' (default 16)")
    parser.add_argument("--n_shared_layers", type=int, help="shared w_dim -> w_dim layers (default 0)")
    parser.add_argument("--seed", type=int, help="seed for initial weights and batch order (default 0)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def _settings(args, cfg):
    """The training settings: flags over the config's [train] table; UserError naming a bad flag."""
    train = cfg.train
    settings = vars(flags_over_config(args, lr=train.lr, batch_size=train.batch_size, n_epochs=train.n_epochs,
                                      hidden_size=train.hidden_size, n_shared_layers=train.n_shared_layers,
                                      seed=train.seed))
    if settings["hidden_size"] == "none":
        settings["hidden_size"] = None
    check_number(settings["lr"], "--lr", low=0, low_open=True)
    for flag, low in (("batch_size", 1), ("n_epochs", 1), ("n_shared_layers", 0), ("seed", 0)):
        check_int(settings[flag], f"--{flag}", low)
    return settings


def _attributes(args, data, cfg):
    """The attributes to train, in order; UserError for names the data directory lacks, a class without
    training samples, or a class count unlike the config's."""
    if args.attributes is None:
        names = data.attributes
    else:
        names = [a.strip() for a in args.attributes.split(",")]
        if not all(names) or len(set(names)) != len(names):
            raise UserError(f"--attributes {args.attributes!r}: give distinct comma-separated names")
        for name in names:
            if name not in data.splits:
                raise UserError(f"--attributes {name!r}: the data directory '{args.data_dir}' has no such attribute "
                                f"(it has {', '.join(data.attributes)})")
    for name in names:
        k = data.num_classes(name)
        empty = missing_classes(data.labels[name][data.splits[name]["train"]], k)
        if empty:
            raise UserError(f"--data_dir '{args.data_dir}': attribute '{name}' has no training sample of class "
                            f"{empty[0]}, so its branch cannot learn it: rerun prepare_data.py ({EMPTY_CLASS_FIX}), "
                            f"or leave '{name}' out with --attributes")
        if name in cfg.attributes and cfg.attributes[name].classes != k:
            raise UserError(f"config {cfg.path}: key 'attributes.{name}.classes' is {cfg.attributes[name].classes} "
                            f"but the data directory scores it with {data.num_classes(name)} class(es)")
    return names


def main(argv=None):
    """Run the command on ``argv`` (default: the command line) -> exit code 0; bad input exits with 2."""
    return run_command(build_parser(), _run, argv)


def _run(args):
    cfg = config_module.load_config(args.config) if args.config else config_module.default_config()
    settings = _settings(args, cfg)
    check_output_dir(args.out_dir)
    with FolderLock(args.data_dir, "--data_dir", shared=True):  # never a folder prepare_data.py is replacing
        data = read_data_dir(args.data_dir)
    names = _attributes(args, data, cfg)
    with FolderLock(args.out_dir, "--out_dir"):
        clf, metrics = train_classifier(
            data.latents, {a: data.labels[a] for a in names}, {a: data.splits[a] for a in names},
            {a: data.num_classes(a) for a in names}, progress=not args.quiet, **settings)
        metrics = {"settings": settings, "attributes": names, "data_dir": str(args.data_dir),
                   "data_manifest": data.manifest, **metrics}
        save_classifier(clf, args.out_dir, extra_json={"metrics.json": metrics})
    for a in names:
        print(f"{a}: best validation accuracy {metrics['best_val_accuracy'][a]:.4f} "
              f"(epoch {metrics['best_epoch'][a]})")
    print(f"wrote {args.out_dir}")
