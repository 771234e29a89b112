"""The demo's summary: how much each edit changed the image scores, with and without exclusion.

    python scripts/demo_summary.py --config configs/demo.toml --edits OUT/edits [--data_dir OUT/data]

``--edits`` holds ``with_exclusion/`` and ``without_exclusion/``, each written by manipulate.py
(``<A>_edits.npz`` + ``<A>_settings.json`` per edited attribute A). For every edit the original image
(w0 in every W+ layer) and the image after the last step (the edited w in the edit's layers) are
rendered and scored by every attribute's scorer from the config. Printed per edit and setting:

- the edited attribute: the mean change of its image score (last step minus original) along the +1 and
  -1 edits (a K-class attribute: the change of class c's score along the edit towards class c);
- every other attribute: the mean absolute change of its image score (a K-class score: averaged over
  its K columns).

Scores are in the scorers' units (for the world: the factors themselves, e.g. smile in [-1, 1], age in
[0, 1]; logits for eyeglasses and hair length); with ``--data_dir`` the standard deviation of each score over
the data set is printed for scale. Attributes scored by the world's exact scorer (``world:ATTRIBUTE``) also
get exact labels (:func:`gradctrl.world.score_labels`): for the edited attribute the share of latents whose
label is the edit's target before and after the edit (+1: present, -1: absent, to <class>: that class), for
every other attribute the share whose label changed. The tables also go to ``EDITS/summary.json``.
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np

SETTINGS = ("with_exclusion", "without_exclusion")


def score_edits(G, scorers, w0, traj, layers, batch_size=64):
    """Scores of the originals and of the images after the last step: ({attribute: (N,) or (N, K)}, same) for
    w0 (N, w_dim), traj (N, S, w_dim)."""
    from gradctrl.render import render_originals, render_uint8, wplus

    original = render_originals(G, w0, batch_size)
    edited = render_uint8(G, wplus(w0, traj[:, -1:], G.num_ws, layers)[:, 0], batch_size)
    return ({name: scorer(original) for name, scorer in scorers.items()},
            {name: scorer(edited) for name, scorer in scorers.items()})


def summarise_edit(before, after, case, exact):
    """One row for an edit case: the target's mean score change and every other attribute's mean absolute
    change; for the attributes in ``exact`` (scored by the world's exact scorer) the label shares too."""
    from gradctrl.world import score_labels

    attribute = case.attribute
    target = after[attribute] - before[attribute]
    if target.ndim == 2:
        target = target[:, case.target_class]
    row = {"target_mean_change": float(np.mean(target))}
    for name in before:
        if name != attribute:
            row[f"{name}_mean_abs_change"] = float(np.mean(np.abs(after[name] - before[name])))
    for name in exact:
        labels = score_labels(exact[name], before[name]), score_labels(exact[name], after[name])
        if name == attribute:
            goal = case.target_class if case.target_class is not None else int(case.direction > 0)
            row["target_label_before"], row["target_label_after"] = (float(np.mean(lab == goal)) for lab in labels)
        else:
            row[f"{name}_label_changed"] = float(np.mean(labels[0] != labels[1]))
    return row


def main(argv=None):
    parser = argparse.ArgumentParser(prog="demo_summary.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, help="the demo config (generator and scorers)")
    parser.add_argument("--edits", required=True, help="folder with with_exclusion/ and without_exclusion/")
    parser.add_argument("--data_dir", help="data directory, for the scores' spread over the data set")
    from gradctrl.commands import run_command  # here: __main__ puts the repository on sys.path first

    return run_command(parser, _run, argv)


def _run(args):
    from gradctrl.data.scorers import make_scorers
    from gradctrl.edit.methods import edit_cases
    from gradctrl.errors import UserError
    from gradctrl.files import write_json
    from gradctrl.formats.config import load_config
    from gradctrl.generators import file_sha256, open_generator

    cfg = load_config(args.config)
    scorers = make_scorers({name: a.scorer for name, a in cfg.attributes.items() if a.scorer})
    exact = {name: a.scorer.split(":", 1)[1] for name, a in cfg.attributes.items()
             if a.scorer and a.scorer.startswith("world:")}
    edits = Path(args.edits)
    generator, rows, spread, position = None, [], {}, {}
    if args.data_dir:
        from gradctrl.data.datadir import read_data_dir

        data = read_data_dir(args.data_dir)
        spread = {name: float(np.std(data.scores[name], axis=0).mean()) for name in scorers if name in data.scores}
    for setting in SETTINGS:
        for settings_file in sorted((edits / setting).glob("*_settings.json")):
            settings = json.loads(settings_file.read_text(encoding="utf-8"))
            if generator is None:
                generator = open_generator(settings["generator"], cfg)
            if file_sha256(settings["generator"]) != settings["generator_sha256"]:
                raise UserError(f"{settings_file}: the generator changed since these edits were made")
            attribute = settings["attribute"]
            cases = edit_cases(attribute, settings["num_classes"], settings.get("class_names"))
            with np.load(edits / setting / settings["npz"], allow_pickle=False) as arrays:
                w0 = arrays["w0"]
                trajectories = {case.tag: arrays[f"traj_{case.tag}"] for case in cases}
            for order, case in enumerate(cases):
                position[attribute, case.tag] = order
                before, after = score_edits(generator, scorers, w0, trajectories[case.tag], settings["layers"])
                rows.append({"attribute": attribute, "case": case.tag, "setting": setting,
                             "label": case.label, "exclude": settings["exclude"], "n_latents": int(len(w0)),
                             **summarise_edit(before, after, case, exact)})
    if not rows:
        raise UserError(f"--edits '{edits}' holds no manipulate.py output in {' or '.join(SETTINGS)}")
    order = list(cfg.attributes)
    rows.sort(key=lambda r: (order.index(r["attribute"]) if r["attribute"] in order else len(order),
                             r["attribute"], position[r["attribute"], r["case"]], SETTINGS.index(r["setting"])))
    _print_table(rows, list(scorers), spread)
    if exact:
        _print_labels(rows, list(exact))
    write_json(edits / "summary.json", {"rows": rows, "score_std": spread})


def _print_table(rows, names, spread):
    """One line per edit and setting; columns: the target's mean change, the others' mean |change|."""
    header = f"{'edit':<22}{'exclusion':<11}{'target mean change':>19}" + "".join(f"{'|d| ' + n:>16}" for n in names)
    print("Image-score changes after the last edit step (target: mean change; others: mean absolute change)")
    print(header)
    for row in rows:
        cells = "".join(f"{'-' if n == row['attribute'] else format(row[f'{n}_mean_abs_change'], '.4f'):>16}"
                        for n in names)
        print(f"{row['attribute'] + ' ' + row['label']:<22}{row['setting'].split('_')[0]:<11}"
              f"{row['target_mean_change']:>+19.4f}{cells}")
    if spread:
        print(f"{'score std over the data':<33}{'':>19}" + "".join(f"{spread.get(n, float('nan')):>16.4f}" for n in names))



def _print_labels(rows, names):
    """Exact labels: the target's share at the edit's goal before -> after; the others' share changed."""
    print()
    print("Exact labels (world scorer): target = share of latents at the edit's goal, before -> after; "
          "others = share whose label changed")
    print(f"{'edit':<22}{'exclusion':<11}{'target':>14}" + "".join(f"{'flip ' + n:>17}" for n in names))
    for row in rows:
        if "target_label_after" not in row:
            continue
        target = f"{row['target_label_before']:.2f} -> {row['target_label_after']:.2f}"
        cells = "".join(f"{'-' if n == row['attribute'] else format(row[f'{n}_label_changed'], '.2f'):>17}"
                        for n in names)
        print(f"{row['attribute'] + ' ' + row['label']:<22}{row['setting'].split('_')[0]:<11}{target:>14}{cells}")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.exit(main())
