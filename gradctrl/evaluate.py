"""Compare editing methods on held-out latents: how much the target attribute moves, and what else moves with it.

``python -m gradctrl.evaluate --config C --model_dir M --data_dir D --out_dir E`` samples held-out latents
(the evaluation's own seed stream, distinct from prepare_data's and manipulate's), and for every method,
target attribute and edit (+1 and -1 for a binary attribute, towards each class for a K-class one):

1. edits the latents (same number of steps and step length for every method, written into the same W+
   layers: the attribute's config defaults);
2. renders every step and scores the images with the config's image scorers (``--latent_only``: scores the
   edited w with the latent classifiers instead, without rendering: quick, but circular for GradCtrl,
   whose edits climb exactly those classifiers);
3. measures per step the signed target change, the mean absolute non-target change and the identity drift
   (see :mod:`gradctrl.curves`), and summarises them at target changes of 0.5, 1 and 2 standard deviations.

Methods: ``gradctrl_exclude`` (GradCtrl with the config's exclusion), ``gradctrl`` (without),
``interfacegan`` (SVM normal on the data directory's selected samples), ``interfacegan_cond`` (projected
orthogonal to the excluded attributes' normals), ``ganspace`` (the PCA component of w most correlated with
the score). The two exclusion methods are skipped for an attribute with no exclusion configured.

Writes ``E/curves.csv`` (every step), ``E/summary.csv`` and ``E/summary.md`` (the tables), ``E/curves.png``
(the curves) and ``E/evaluation.json`` (the settings and notes).
"""
import argparse
import csv
import dataclasses
import io
import json

import numpy as np

from . import curves
from stylegan2.errors import exit_on_input_error
from .errors import UserError
from .files import check_output_dir
from .methods import REGISTRY, EditContext, config_cases, edit_latents, get_method

MARKER_FILE = "evaluation.json"


def case_curves(case, scores, stds, drift=None):
    """Curves of one (case, method): {"target", "nontarget", "drift" (if images), "abs_<attr>"}: (S + 1,) each.

    scores: {attr: (N, S + 1) or (N, S + 1, K)} raw scores at every step (step 0 the original); stds:
    {attr: std over the held-out originals}; drift: (N, S + 1) per-latent pixel drift, or None.
    """
    result = {"target": curves.target_curve(scores[case.attribute], stds[case.attribute], case.direction,
                                            case.target_class),
              "nontarget": curves.nontarget_curve(scores, stds, case.attribute)}
    if drift is not None:
        result["drift"] = np.asarray(drift, np.float64).mean(axis=0)
    for attr in scores:
        result[f"abs_{attr}"] = curves.attribute_abs_change(scores[attr], stds[attr])
    return result


def summary_rows(results, levels=curves.LEVELS):
    """One row per (case, method): final target change, then non-target change and drift at each level.

    results: list of (case, method, curves dict). Values are floats or None (not reached / no images).
    """
    rows = []
    for case, method, c in results:
        at = curves.summarise(c["target"], {k: c[k] for k in ("nontarget", "drift") if k in c}, levels)
        row = {"attribute": case.attribute, "edit": case.label, "method": method,
               "target_end": float(c["target"][-1]), "nontarget_end": float(c["nontarget"][-1])}
        for level in levels:
            row[f"nontarget@{level:g}"] = at[level]["nontarget"]
            row[f"drift@{level:g}"] = at[level].get("drift")
        rows.append(row)
    return rows


def matched_means(rows, methods, levels=curves.LEVELS):
    """Per level and method, the mean non-target change and drift over the edits that EVERY method reached.

    Returns {level: {"edits": count, method: {"nontarget": float, "drift": float or None}}}: a comparison at
    matched target change, on the same edits for every method (empty when no edit was reached by all).
    """
    by_edit = {}
    for row in rows:
        by_edit.setdefault((row["attribute"], row["edit"]), {})[row["method"]] = row
    result = {}
    for level in levels:
        key = f"{level:g}"
        edits = [e for e in by_edit.values()
                 if all(m in e and e[m][f"nontarget@{key}"] is not None for m in methods)]
        entry = {"edits": len(edits)}
        for m in methods:
            values = [e[m][f"nontarget@{key}"] for e in edits]
            drifts = [e[m][f"drift@{key}"] for e in edits if e[m][f"drift@{key}"] is not None]
            entry[m] = {"nontarget": float(np.mean(values)) if values else None,
                        "drift": float(np.mean(drifts)) if drifts else None}
        result[level] = entry
    return result


def _fmt(value, digits=2):
    return "not reached" if value is None else f"{value:.{digits}f}"


def markdown_tables(rows, matched, methods, latent_only, levels=curves.LEVELS):
    """The summary as markdown: the matched comparison first, then every edit."""
    unit = "latent-classifier" if latent_only else "image-score"
    lines = [f"Changes in standard deviations of each {unit} over the held-out originals; drift in 0-255 "
             "pixel values." + (" Latent-only: no images, no drift; circular for GradCtrl." if latent_only else ""),
             "", "Mean over the edits every method reached, at matched target change:", ""]
    header = ["method"] + [f"non-target @{level:g}" for level in levels]
    if not latent_only:
        header += [f"drift @{level:g}" for level in levels]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for m in methods:
        cells = [REGISTRY[m].title] + [_fmt(matched[level][m]["nontarget"]) for level in levels]
        if not latent_only:
            cells += [_fmt(matched[level][m]["drift"], 1) for level in levels]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("| edits compared | " + " | ".join(str(matched[level]["edits"]) for level in levels)
                 + (" | " * len(levels) if not latent_only else "") + " |")
    lines += ["", "Every edit (target change at the end of the path, non-target change and drift where the "
              "target change first reaches each level):", ""]
    header = ["attribute", "edit", "method", "target end", "non-target end"] + \
        [f"non-target @{level:g}" for level in levels]
    if not latent_only:
        header += [f"drift @{level:g}" for level in levels]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [row["attribute"], row["edit"], REGISTRY[row["method"]].title, _fmt(row["target_end"]),
                 _fmt(row["nontarget_end"])] + [_fmt(row[f"nontarget@{level:g}"]) for level in levels]
        if not latent_only:
            cells += [_fmt(row[f"drift@{level:g}"], 1) for level in levels]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot_curves(results, methods, latent_only):
    """PNG bytes: per edit, non-target change (and drift) against target change, one line per method."""
    from matplotlib.figure import Figure

    edits = list(dict.fromkeys((case.attribute, case.label) for case, _, _ in results))
    rows = 1 if latent_only else 2
    figure = Figure(figsize=(3.2 * len(edits), 3.0 * rows), layout="constrained")
    axes = figure.subplots(rows, len(edits), squeeze=False)
    colours = {m: f"C{i}" for i, m in enumerate(REGISTRY)}
    for case, method, c in results:
        column = edits.index((case.attribute, case.label))
        for row, key in enumerate(["nontarget"] + ([] if latent_only else ["drift"])):
            axes[row][column].plot(c["target"], c[key], marker=".", color=colours[method], label=REGISTRY[method].title)
    for column, (attribute, label) in enumerate(edits):
        axes[0][column].set_title(f"{attribute} {label}")
        for row in range(rows):
            axis = axes[row][column]
            axis.set_xlabel("target change (std)")
            axis.set_ylabel("mean |non-target change| (std)" if row == 0 else "identity drift (0-255)")
            axis.grid(alpha=0.3)
            for level in curves.LEVELS:
                axis.axvline(level, color="0.8", lw=0.8, zorder=0)
    axes[0][0].legend(fontsize="small")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def curve_rows(results):
    """Every (case, method, step) with its curves' values, for curves.csv."""
    rows = []
    for case, method, c in results:
        for step in range(len(c["target"])):
            row = {"attribute": case.attribute, "edit": case.label, "method": method, "step": step,
                   "distance": step * case.step_size}
            row.update({key: float(value[step]) for key, value in c.items()})
            rows.append(row)
    return rows


def _csv_text(rows):
    fields = list(dict.fromkeys(key for row in rows for key in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in fields})
    return buffer.getvalue()


def check_out_dir(out_dir):
    """UserError unless ``out_dir`` is absent, empty, or an earlier evaluation (holding evaluation.json)."""
    return check_output_dir(out_dir, MARKER_FILE, "an evaluation directory")


def write_outputs(out_dir, files):
    """Write ``files`` ({name: str or bytes}) into directory ``out_dir`` atomically (temporary sibling, rename).

    An existing evaluation directory (holding evaluation.json) is replaced; any other non-empty path is refused.
    """
    from stylegan2.atomic import atomic_dir

    with atomic_dir(check_out_dir(out_dir)) as tmp:
        for name, content in files.items():
            (tmp / name).write_bytes(content if isinstance(content, bytes) else content.encode())


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m gradctrl.evaluate",
        description="Compare GradCtrl with InterFaceGAN and GANSpace on held-out latents: target change against "
                    "non-target change and identity drift, in standard deviations of each score.")
    parser.add_argument("--config", help="TOML config: generator, truncation, attributes with their image "
                                          "scorers and edit defaults (layers, exclusion, steps)")
    parser.add_argument("--generator", help="StyleGAN2 pickle (default: the config's generator.file)")
    parser.add_argument("--model_dir", required=True, help="GradCtrl classifier directory (ours or the authors')")
    parser.add_argument("--data_dir", help="data directory of prepare_data (selected samples and scores): "
                                           "needed by the InterFaceGAN and GANSpace baselines")
    parser.add_argument("--out_dir", required=True, help="output directory (replaced if it is an earlier evaluation)")
    parser.add_argument("--attributes", help="comma-separated target attributes (default: every classifier "
                                             "attribute that can be scored)")
    parser.add_argument("--methods", help=f"comma-separated, from {', '.join(REGISTRY)} (default: all)")
    parser.add_argument("--n_samples", type=int, default=64, help="held-out latents (default 64)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the held-out latents (evaluation stream)")
    parser.add_argument("--truncation", type=float, help="truncation psi (default: the config's, 0.4)")
    parser.add_argument("--steps", type=int, help="steps per edit (default: each attribute's config value, 9)")
    parser.add_argument("--step_size", type=float, help="L2 length of a step (default: the config's, 4/9)")
    parser.add_argument("--ganspace_components", type=int, default=20,
                        help="GANSpace picks among this many leading principal components (default 20)")
    parser.add_argument("--batch_size", type=int, default=16,
                        help="images rendered together, and latents per rendering round (default 16)")
    parser.add_argument("--latent_only", action="store_true",
                        help="score the edited w with the latent classifiers instead of rendering (quick look; "
                             "circular for GradCtrl)")
    return parser


def _positive(value, flag):
    if value is not None and value <= 0:
        raise UserError(f"{flag} must be positive, got {value}")


def _run(args):
    from .classifier import load_classifier
    from .config import check_against_generator, default_config, load_config
    from .generators import open_generator
    from .latents import STREAM_EVAL, sample_w

    methods = [m.strip() for m in args.methods.split(",") if m.strip()] if args.methods else list(REGISTRY)
    for name in methods or [""]:
        get_method(name, f"--methods {args.methods!r}")
    for flag, value in (("--n_samples", args.n_samples), ("--steps", args.steps), ("--step_size", args.step_size),
                        ("--batch_size", args.batch_size), ("--ganspace_components", args.ganspace_components)):
        _positive(value, flag)
    if args.n_samples < 2:
        raise UserError(f"--n_samples {args.n_samples}: at least 2 held-out latents are needed "
                        "for a standard deviation")
    check_out_dir(args.out_dir)
    baselines = [m for m in methods if REGISTRY[m].needs_data]
    if baselines and not args.data_dir:
        raise UserError(f"--methods includes {baselines[0]}, which needs --data_dir (prepare_data's selected samples)")

    config = load_config(args.config) if args.config else default_config()
    clf = load_classifier(args.model_dir)
    context = EditContext(clf, data_dir=args.data_dir, ganspace_components=args.ganspace_components)
    data = context.data() if args.data_dir else None
    G = open_generator(args.generator, config)
    check_against_generator(config, G.num_ws, G.w_dim)
    if G.w_dim != clf.w_dim:
        raise UserError(f"the generator's w has width {G.w_dim} but the classifier takes {clf.w_dim}")

    if args.latent_only:
        scored = list(clf.attributes)
        scorers = None
    else:
        from .scorers import make_scorer

        scored = [name for name, a in config.attributes.items() if a.scorer]
        if not scored:
            raise UserError("image scores need scorers: pass a --config whose attributes name a `scorer`, "
                            "or use --latent_only")
        scorers = {name: make_scorer(config.attribute(name).scorer, name) for name in scored}
    targets = ([a.strip() for a in args.attributes.split(",") if a.strip()] if args.attributes
               else [a for a in clf.attributes if a in scored])
    for name in targets:
        if name not in clf.num_classes:
            raise UserError(f"--attributes: '{name}' is not an attribute of the classifier "
                            f"({', '.join(clf.attributes)})")
        if name not in scored:
            raise UserError(f"--attributes: '{name}' has no scorer in the config: give "
                            f"[attributes.{name}] a `scorer` (or use --latent_only)")
        if data is not None and baselines and data.num_classes(name) != clf.num_classes[name]:
            raise UserError(f"attribute '{name}' has {data.num_classes(name)} score columns in --data_dir but "
                            f"{clf.num_classes[name]} classes in the classifier")
    if not targets:
        raise UserError("no target attribute: the classifier and the scorers share no attribute")
    if len(scored) < 2:
        raise UserError(f"only '{scored[0]}' is scored: non-target change needs at least two scored attributes")

    truncation = args.truncation if args.truncation is not None else config.generator.truncation
    w = sample_w(G, args.seed, np.arange(args.n_samples), truncation, STREAM_EVAL)
    cases = [case for name in targets
             for case in config_cases(config, name, clf.num_classes[name], G.num_ws, args.steps, args.step_size)]

    notes, jobs = [], []
    for case in cases:
        for method in methods:
            if REGISTRY[method].exclusion and not case.exclude:
                note = f"{REGISTRY[method].title} skipped for '{case.attribute}': the config sets no exclusion"
                if note not in notes:
                    notes.append(note)
                continue
            edit = edit_latents(method, context, w, case)
            if edit.zero_gradient_steps:
                notes.append(f"{REGISTRY[method].title} on '{case.attribute}' {case.label}: {edit.zero_gradient_steps} "
                             "steps had a zero masked gradient (the latent stayed put)")
            jobs.append((case, method, edit.traj))

    if args.latent_only:
        originals, measured = _latent_measurements(clf, w, jobs)
    else:
        originals, measured = _image_measurements(G, w, jobs, scorers, args.batch_size)
    stds = curves.score_stds(originals)
    results = [(case, method, case_curves(case, scores, stds, drift))
               for (case, method, _), (scores, drift) in zip(jobs, measured)]
    rows = summary_rows(results)
    present = [m for m in methods if any(r["method"] == m for r in rows)]
    matched = matched_means(rows, present)
    markdown = markdown_tables(rows, matched, present, args.latent_only)
    if notes:
        markdown += "\nNotes:\n\n" + "".join(f"- {n}\n" for n in notes)
    settings = {"config": config.path, "generator": str(args.generator or config.generator.file),
                "model_dir": str(args.model_dir), "data_dir": args.data_dir, "methods": present,
                "targets": targets, "scored": scored, "latent_only": args.latent_only,
                "n_samples": args.n_samples, "seed": args.seed, "truncation": truncation,
                "levels": list(curves.LEVELS), "ganspace_components": args.ganspace_components,
                "stds": {k: np.asarray(v).tolist() for k, v in stds.items()},
                "cases": [dataclasses.asdict(c) for c in cases], "notes": notes,
                "matched": {f"{level:g}": v for level, v in matched.items()}}
    write_outputs(args.out_dir, {
        "curves.csv": _csv_text(curve_rows(results)), "summary.csv": _csv_text(rows), "summary.md": markdown,
        "curves.png": plot_curves(results, present, args.latent_only),
        MARKER_FILE: json.dumps(settings, indent=1) + "\n"})
    print(markdown)
    print(f"wrote {args.out_dir}/summary.md, summary.csv, curves.csv, curves.png")


def _latent_measurements(clf, w, jobs):
    """Latent-classifier probabilities of the originals and of every step: no rendering, no drift."""
    originals = clf.predict(w)
    measured = []
    for _, _, traj in jobs:
        n, steps, w_dim = traj.shape
        predicted = clf.predict(traj.reshape(n * steps, w_dim))
        scores = {attr: np.concatenate([originals[attr][:, None],
                                        p.reshape((n, steps) + p.shape[1:])], axis=1)
                  for attr, p in predicted.items()}
        measured.append((scores, None))
    return originals, measured


def _image_measurements(G, w, jobs, scorers, batch_size):
    """Render the originals and every step of every job, in batches of latents; score and measure drift.

    Returns (original scores {attr: (N,) or (N, K)}, [(scores {attr: (N, S + 1[, K])}, drift (N, S + 1))]
    per job). Only one batch of images is held at a time.
    """
    from tqdm import tqdm

    from .render import render_originals, render_uint8, wplus

    def score(images):
        return {attr: scorer(images) for attr, scorer in scorers.items()}

    n = len(w)
    original_parts, job_parts = [], [[] for _ in jobs]
    starts = range(0, n, batch_size)
    with tqdm(total=len(starts) * (1 + len(jobs)), desc="rendering", unit="edit", disable=None) as bar:
        for start in starts:
            w_batch = w[start:start + batch_size]
            b = len(w_batch)
            originals = render_originals(G, w_batch, batch_size)
            original_scores = score(originals)
            original_parts.append(original_scores)
            bar.update()
            for parts, (case, _, traj) in zip(job_parts, jobs):
                ws = wplus(w_batch, traj[start:start + b], G.num_ws, case.layers)
                steps = ws.shape[1]
                images = render_uint8(G, ws.reshape((b * steps,) + ws.shape[2:]), batch_size)
                step_scores = score(images)
                images = np.concatenate([originals[:, None], images.reshape((b, steps) + images.shape[1:])], axis=1)
                scores = {attr: np.concatenate([original_scores[attr][:, None],
                                                s.reshape((b, steps) + s.shape[1:])], axis=1)
                          for attr, s in step_scores.items()}
                parts.append((scores, curves.pixel_drift(images)))
                bar.update()
    originals = {attr: np.concatenate([p[attr] for p in original_parts]) for attr in scorers}
    measured = [({attr: np.concatenate([p[0][attr] for p in parts]) for attr in scorers},
                 np.concatenate([p[1] for p in parts])) for parts in job_parts]
    return originals, measured


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    with exit_on_input_error(parser.prog):
        _run(args)


if __name__ == "__main__":
    main()
