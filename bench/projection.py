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

With ``--tune_generator N`` each set and space is then also measured after pivotal tuning
(gradctrl.project.projection.tune_generator: N steps on a copy of the generator, all of the set's pivots at
once, as project.py tunes one generator for all the images it is given): pixel error, label agreement and
(with ``--model_dir``) the edits, rendered by the tuned generator; the seconds of tuning per image.

With ``--time_resolution R`` it also times W+ projection steps (the median over ``--time_steps`` steps
after the first, which traces): at R px, one image, on a random generator with config-f shapes
(stylegan2.random_generator; the speed of a step does not depend on the weights), and on the world's
generator with ``--batch_size`` images (seconds per step and per image for ``--steps`` steps); beside each, in
the same run, one forward and backward pass (gradients w.r.t. ws and noise) through the reference synthesis
path, which the projector uses, and through the fast path with transposed up-sampling (``FastSynthesis``,
modconv "input", no XLA: what it used before). ``--n 0``
measures only these times (run it on an idle machine: the sets' own seconds include tracing and whatever
else runs).

    nice -n 10 python bench/projection.py --n 20 --steps 500 --json out.json [--model_dir M]
    python bench/projection.py --n 200 --steps 1000 --batch_size 100 --model_dir M --tune_generator 300 \
        --json out.json
    python bench/projection.py --n 0 --steps 1000 --batch_size 100 --time_resolution 1024 --json times.json
    python bench/projection.py --tables out.json [times.json]   # the markdown tables of saved runs
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
    parser.add_argument("--n", type=int, default=20, help="faces per set (default 20; 0: only the times)")
    parser.add_argument("--steps", type=int, default=1000, help="projection steps (default 1000)")
    parser.add_argument("--spaces", default="w,w+", help="comma-separated spaces (default w,w+)")
    parser.add_argument("--sets", default="drawn,generated", help="comma-separated face sets (default both)")
    parser.add_argument("--seed", type=int, default=0, help="projection seed and generated faces' seed")
    parser.add_argument("--draw_seed", type=int, default=2026, help="seed of the drawn faces (not 0: training)")
    parser.add_argument("--batch_size", type=int, default=20, help="images projected together (default 20)")
    parser.add_argument("--json", help="write the results here too")
    parser.add_argument("--model_dir", help="classifier on the world's w: also measure GradCtrl edits")
    parser.add_argument("--edit_attributes", default="eyeglasses,smile", help="binary attributes edited")
    parser.add_argument("--tune_generator", type=int, default=0,
                        help="also measure after N steps of pivotal tuning (default 0: not)")
    parser.add_argument("--time_resolution", type=int, default=0,
                        help="also time projection steps at this resolution, config-f shapes (default 0: not)")
    parser.add_argument("--time_steps", type=int, default=6, help="steps timed at --time_resolution (default 6)")
    parser.add_argument("--tables", metavar="JSON", nargs="+",
                        help="only print the markdown tables of saved --json files (their runs and times joined)")
    args = parser.parse_args()
    if args.tables:
        print(markdown_tables(_joined([json.loads(Path(path).read_text()) for path in args.tables])))
        return

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
    sets = {"drawn": drawn, "generated": generated}
    for name, images in ((name, sets[name]) for name in args.sets.split(",")) if args.n else ():
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
                   "label_agreement": _agreement(labels, source_labels)}
            if name == "generated":
                run["w_error"] = round(float(np.linalg.norm(ws - ws_true, axis=2).mean()), 3)
                run["w_error_of_start"] = round(float(np.linalg.norm(w_stats[0] - w_true, axis=1).mean()), 3)
            if args.model_dir:
                run["edits"] = _edit_scores(G, scorer, args.model_dir, args.edit_attributes.split(","), ws)
                if name == "generated":
                    run["edits_of_true_w"] = _edit_scores(G, scorer, args.model_dir,
                                                          args.edit_attributes.split(","), ws_true)
            if args.tune_generator:
                run["tuned"] = _tuned(G, images, ws, args, scorer, source_labels)
            results["runs"].append(run)
            print(json.dumps(run), flush=True)
            _write_json(args.json, results)
    if args.time_resolution:
        world_times = _time_steps(G, args.batch_size, args.time_steps, args.seed, w_stats)
        world_times["seconds_per_image"] = round(world_times["seconds_per_step"] * args.steps / args.batch_size, 2)
        world_times["paths"] = _path_times(G, args.batch_size, args.seed)
        large = stylegan2.random_generator(args.time_resolution, seed=args.seed)
        large_times = _time_steps(large, 1, args.time_steps, args.seed)
        large_times["paths"] = _path_times(large, 1, args.seed)
        results["timing"] = {"world": world_times, "config_f": large_times}
        print(json.dumps(results["timing"]), flush=True)
    _write_json(args.json, results)
    print(markdown_tables(results))


def markdown_tables(results):
    """The results as docs/projection.md tables -> str: reconstruction per set, space and tuning (pixel
    error with the stored noise, the exact scorer's label agreement per attribute, w error, seconds per
    image), the edits (share reaching the target label / share whose partner's label changed, of n), the
    times."""
    lines = []
    runs = results.get("runs", [])
    if runs:
        attributes = list(runs[0]["label_agreement"])
        lines += [f"| faces | space | pivotal tuning | pixel error | label agreement ({' / '.join(attributes)}) "
                  "| w error (start's) | seconds / image |", "| --- | --- | --- | --- | --- | --- | --- |"]
        for run in runs:
            for tuned in ([None, run["tuned"]] if "tuned" in run else [None]):
                part = tuned or run
                w_error = (f"{run['w_error']} ({run['w_error_of_start']})" if "w_error" in run and tuned is None
                           else "-")
                lines.append(f"| {results['n']} {run['set']} | {run['space']} | "
                             f"{'%d steps' % tuned['steps'] if tuned else 'no'} | "
                             f"{part['pixel_error_stored_noise']:.4f} | "
                             f"{' / '.join('%.3f' % part['label_agreement'][a] for a in attributes)} | {w_error} | "
                             f"{part['seconds_per_image']} |")
        edit_rows = []
        for run in runs:
            label = f"{run['set']}, projected into {run['space']}"
            if "edits" in run:
                edit_rows.append((label, run["edits"]))
            if "tuned" in run and "edits" in run["tuned"]:
                edit_rows.append((label + ", tuned generator", run["tuned"]["edits"]))
            if "edits_of_true_w" in run and run["space"] == runs[-1]["space"]:
                edit_rows.append((f"{run['set']}, their true w", run["edits_of_true_w"]))
        if edit_rows:
            edits = list(edit_rows[0][1])
            lines += ["", "| latents | " + " | ".join(f"{e} (-> {edit_rows[0][1][e].get('partner', '-')})"
                                                   for e in edits) + " |", "| --- |" + " --- |" * len(edits)]
            for label, table in edit_rows:
                cells = []
                for e in edits:
                    cell = table[e]
                    cells.append("-" if not cell["n"] else
                                 f"{cell['target_reached']:.2f} / {cell.get('partner_changed', 0):.2f} of {cell['n']}")
                lines.append(f"| {label} | " + " | ".join(cells) + " |")
    if "timing" in results:
        for name, t in results["timing"].items():
            lines.append(f"\n{name}: {t['seconds_per_step']} s per W+ step at {t['resolution']} px, batch {t['batch']} "
                         f"(median of {t['steps_timed']} after the first, {t['first_step']} s)"
                         + (f"; {t['seconds_per_image']} s per image for {results['steps']} steps"
                            if "seconds_per_image" in t else "")
                         + (f"; one forward and backward pass: reference path {t['paths']['reference']} s, fast "
                            f"path (transposed) {t['paths']['fast_transposed']} s" if "paths" in t else ""))
    return "\n".join(lines)


def _joined(parts):
    """Several runs' results (each a --json's content) as one: their runs in order, the times of the last that
    has them; the parts must agree on n, steps and the seeds."""
    joined = dict(parts[0], runs=[run for part in parts for run in part.get("runs", [])])
    for part in parts[1:]:
        for key in ("steps", "seed", "draw_seed"):
            if part[key] != joined[key]:
                raise SystemExit(f"--tables: the files differ in {key} ({joined[key]} vs {part[key]})")
        if part["n"] and joined["n"] and part["n"] != joined["n"]:
            raise SystemExit(f"--tables: the files differ in n ({joined['n']} vs {part['n']})")
        joined["n"] = joined["n"] or part["n"]
        if "timing" in part:
            joined["timing"] = part["timing"]
    return joined


def _write_json(path, results):
    """Write ``results`` to ``path`` (None: nowhere) through a temporary name: after every measured set and
    space, so a long run stopped part-way keeps what it finished."""
    if path:
        temporary = Path(f"{path}.partial")
        temporary.write_text(json.dumps(results, indent=1) + "\n")
        temporary.replace(path)


def _tuned(G, images, ws, args, scorer, source_labels):
    """Pivotal tuning of a copy of ``G`` on uint8 ``images`` (N, R, R, 3) and their pivots ``ws`` (N, num_ws,
    w_dim) for ``args.tune_generator`` steps -> {"steps", "seconds_per_image", "pixel_error_stored_noise",
    "label_agreement", "fit_first", "fit_last", "edits" (with --model_dir)}, rendered by the tuned copy."""
    import numpy as np

    import stylegan2
    from gradctrl import world
    from gradctrl.project import projection

    tuned = stylegan2.Generator(G.state)
    started = time.perf_counter()
    history = projection.tune_generator(tuned, images.astype(np.float32) / np.float32(127.5) - 1, ws,
                                        args.tune_generator, seed=args.seed)
    seconds = time.perf_counter() - started
    rendered = stylegan2.to_uint8(tuned.synthesis(ws))
    labels = _labels(world, scorer, rendered)
    result = {"steps": args.tune_generator, "seconds_per_image": round(seconds / len(images), 3),
              "pixel_error_stored_noise": round(_pixel_error(images, rendered), 4),
              "label_agreement": _agreement(labels, source_labels),
              "fit_first": round(float(history[0, 0]), 5), "fit_last": round(float(history[-1, 0]), 5)}
    if args.model_dir:
        result["edits"] = _edit_scores(tuned, scorer, args.model_dir, args.edit_attributes.split(","), ws)
    return result


def _time_steps(G, batch, steps, seed, w_stats=None):
    """Seconds per W+ projection step of ``batch`` random images through ``G`` -> {"resolution", "batch",
    "steps_timed", "seconds_per_step" (median after the first, tracing, step), "first_step"}."""
    import numpy as np

    from gradctrl.project import projection

    size = (batch, G.img_resolution, G.img_resolution, G.img_channels)
    targets = np.random.default_rng(seed).uniform(-1, 1, size).astype(np.float32)
    stamps = [time.perf_counter()]
    projection.project(G, targets, "w+", steps, seed, w_stats=w_stats,
                       progress=lambda step, distance: stamps.append(time.perf_counter()))
    durations = np.diff(stamps)
    return {"resolution": G.img_resolution, "batch": batch, "steps_timed": steps - 1,
            "seconds_per_step": round(float(np.median(durations[1:])), 3), "first_step": round(float(durations[0]), 3)}


def _path_times(G, batch, seed, repeats=3):
    """Seconds of one forward and backward pass (L2 to a random target; gradients w.r.t. ws and the noise maps)
    of ``batch`` images through the reference synthesis path and the fast path with transposed up-sampling
    -> {"reference", "fast_transposed"}: medians of ``repeats`` passes after a first (tracing) one, the two
    paths in turn."""
    import numpy as np
    import tensorflow as tf

    from stylegan2.fast_synthesis import FastSynthesis

    rng = np.random.default_rng(seed)
    ws = tf.Variable(np.repeat(G.w_avg[None, None], batch, 0).repeat(G.num_ws, 1).astype(np.float32))
    noise = [tf.Variable(rng.standard_normal((batch, h, w, 1), np.float32)) for h, w in G.noise_shapes]
    size = (batch, G.img_resolution, G.img_resolution, G.img_channels)
    target = tf.constant(rng.uniform(-1, 1, size).astype(np.float32))
    paths = {"reference": G.synthesis_network,
             "fast_transposed": FastSynthesis(G.synthesis_network, modconv="input", xla=False,
                                              upsampling="transposed")}

    def pass_of(synthesis):
        @tf.function(autograph=False)
        def forward_backward():
            with tf.GradientTape() as tape:
                distance = tf.reduce_sum(tf.square(synthesis(ws, noise) - target))
            return tape.gradient(distance, [ws] + noise)
        return forward_backward

    passes = {name: pass_of(synthesis) for name, synthesis in paths.items()}
    times = {name: [] for name in paths}
    for name, run in passes.items():
        run()
    for _ in range(repeats):
        for name, run in passes.items():
            started = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - started)
    return {name: round(float(np.median(values)), 3) for name, values in times.items()}


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


def _agreement(labels, source_labels):
    """Per attribute, the share of images whose exact label is the source's -> {attribute: share, 3 digits}."""
    return {a: round(float((labels[a] == source_labels[a]).mean()), 3) for a in labels}


def _pixel_error(a, b):
    """Mean absolute difference of two uint8 image sets, as a fraction of 255."""
    return float(abs(a.astype(float) - b.astype(float)).mean() / 255)


if __name__ == "__main__":
    main()
