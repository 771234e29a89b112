"""How well does the projector fit the world? Drawn faces the generator never made, and generated faces of known w.

Projects ``--n`` held-out drawn faces (gradctrl.world, seed ``--draw_seed``: the training set is seed 0) and
``--n`` generated faces (w of the evaluation stream, seed ``--seed``, truncation 0.7, stored noise) through
the world's generator in each of ``--spaces``, with ``--steps`` steps (gradctrl.project.projection, the loss with no
download: pixel L2 + single-scale SSIM at 32 px). For each set and space it reports: the mean absolute pixel
error of the reconstruction (fraction of the 0-255 range) with the fitted noise maps and with the stored
noise (what manipulate.py renders); the exact scorer's label agreement between source and reconstruction
(stored noise) per attribute; for generated faces the w recovery error (mean over layers of |w_fit - w|,
and the same for the mean-w start); seconds per image (wall clock, images projected ``--batch_size`` at a
time, including tracing).

With ``--model_dir M`` (a classifier trained on the world, e.g. scripts/demo.sh's OUT/model) it then edits
the projected latents (W+ ones through their layer mean, as manipulate.py) and, for the generated set, the
true latents too, with GradCtrl and the config's defaults (exclusion, 9 steps of 4/9, every layer) for each
of ``--edit_attributes`` in both directions, and reports, among latents whose start image the exact scorer
labels on the other side: the share whose last step reaches the target label, and the share whose
excluded partner's label (the config's exclude table) changed.

    nice -n 10 python bench/projection.py --n 20 --steps 500 --json out.json [--model_dir M]
"""
import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=20, help="faces per set (default 20)")
    parser.add_argument("--steps", type=int, default=1000, help="projection steps (default 1000)")
    parser.add_argument("--spaces", default="w,w+", help="comma-separated spaces (default w,w+)")
    parser.add_argument("--seed", type=int, default=0, help="projection seed and generated faces' seed")
    parser.add_argument("--draw_seed", type=int, default=2026, help="seed of the drawn faces (not 0: training)")
    parser.add_argument("--batch_size", type=int, default=20, help="images projected together (default 20)")
    parser.add_argument("--json", help="write the results here too")
    parser.add_argument("--model_dir", help="classifier on the world's w: also measure GradCtrl edits")
    parser.add_argument("--edit_attributes", default="eyeglasses,smile", help="binary attributes edited")
    args = parser.parse_args()

    import numpy as np

    import stylegan2
    from gradctrl import world
    from gradctrl.data import latents
    from gradctrl.project import projection

    G = stylegan2.load_generator(ROOT / "gradctrl" / "assets" / "world32.pkl")
    scorer = __import__("keras").saving.load_model(world.SCORER_PATH, compile=False)
    drawn = world.draw_faces(world.sample_factors(args.n, args.draw_seed), G.img_resolution)
    w_true = latents.sample_w(G, args.seed, range(args.n), 0.7, latents.STREAM_EVAL)
    ws_true = np.repeat(w_true[:, None], G.num_ws, axis=1)
    generated = stylegan2.to_uint8(G.synthesis(ws_true))
    w_stats = projection.w_statistics(G, args.seed)
    results = {"n": args.n, "steps": args.steps, "seed": args.seed, "draw_seed": args.draw_seed,
               "loss": projection.ImageLoss(G.img_resolution).describe(), "runs": []}
    for name, images in (("drawn", drawn), ("generated", generated)):
        source_labels = _labels(world, scorer, images)
        for space in args.spaces.split(","):
            started = time.perf_counter()
            parts = []
            for start in range(0, args.n, args.batch_size):
                targets = images[start:start + args.batch_size].astype(np.float32) / np.float32(127.5) - 1
                parts.append(projection.project(G, targets, space, args.steps, args.seed, w_stats=w_stats,
                                                first_index=start))
            seconds = time.perf_counter() - started
            ws = np.concatenate([p.ws for p in parts])
            fitted = stylegan2.to_uint8(np.concatenate([p.images for p in parts]))
            stored = stylegan2.to_uint8(G.synthesis(ws))
            labels = _labels(world, scorer, stored)
            run = {"set": name, "space": space, "seconds_per_image": round(seconds / args.n, 3),
                   "pixel_error_fitted_noise": round(_pixel_error(images, fitted), 4),
                   "pixel_error_stored_noise": round(_pixel_error(images, stored), 4),
                   "label_agreement": {a: round(float((labels[a] == source_labels[a]).mean()), 3) for a in labels}}
            if name == "generated":
                run["w_error"] = round(float(np.linalg.norm(ws - ws_true, axis=2).mean()), 3)
                run["w_error_of_start"] = round(float(np.linalg.norm(w_stats[0] - w_true, axis=1).mean()), 3)
            if args.model_dir:
                run["edits"] = _edit_scores(G, scorer, args.model_dir, args.edit_attributes.split(","), ws)
                if name == "generated":
                    run["edits_of_true_w"] = _edit_scores(G, scorer, args.model_dir,
                                                          args.edit_attributes.split(","), ws_true)
            results["runs"].append(run)
            print(json.dumps(run), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")


def _edit_scores(G, scorer, model_dir, attributes, ws):
    """GradCtrl edits of W+ latents ws (N, num_ws, w_dim) with configs/world.toml's defaults -> {"<attribute>
    <+1|-1>": {"n": latents starting on the other side, "target_reached": share, "partner_changed": share}}."""
    import numpy as np

    from gradctrl import world
    from gradctrl.classifier.model import load_classifier
    from gradctrl.data.latents import split_wplus
    from gradctrl.edit.methods import EditContext, config_cases, edit_latents
    from gradctrl.formats.config import load_config
    from gradctrl.render import render_uint8, wplus

    config = load_config(ROOT / "configs" / "world.toml")
    clf = load_classifier(model_dir)
    context = EditContext(clf, G)
    w0, base = split_wplus(ws)
    start = _labels(world, scorer, render_uint8(G, ws))
    result = {}
    for attribute in attributes:
        partner = next(iter(config.attribute(attribute).exclude), None)
        for case in config_cases(config, attribute, 1, G.num_ws):
            traj = edit_latents("gradctrl_exclude", context, w0, case).traj
            last = wplus(w0, traj[:, -1:], G.num_ws, case.layers, base)[:, 0]
            end = _labels(world, scorer, render_uint8(G, last))
            target = 1 if case.direction > 0 else 0
            rows = start[attribute] != target
            entry = {"n": int(rows.sum()),
                     "target_reached": round(float((end[attribute][rows] == target).mean()), 3) if rows.any() else None}
            if partner is not None:
                entry["partner"] = partner
                entry["partner_changed"] = (round(float((end[partner][rows] != start[partner][rows]).mean()), 3)
                                            if rows.any() else None)
            result[f"{attribute} {case.label}"] = entry
    return result


def _labels(world, scorer, images):
    """The exact scorer's labels of uint8 images -> {attribute: (N,) int64}."""
    scores = world.predict_scores(scorer, images)
    return {a: world.score_labels(a, scores[a]) for a in world.SCORER_OUTPUTS}


def _pixel_error(a, b):
    """Mean absolute difference of two uint8 image sets, as a fraction of 255."""
    return float(abs(a.astype(float) - b.astype(float)).mean() / 255)


if __name__ == "__main__":
    main()
