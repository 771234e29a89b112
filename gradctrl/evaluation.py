"""Comparing edit methods on held-out latents: how much the target attribute moves, and what else moves with it.

For every edit case and every registered edit method (:mod:`gradctrl.methods`) named, :func:`compare_methods`

1. edits the latents (the case's steps, step length and W+ layers, the same for every method);
2. renders every step and scores the images with the image scorers (without scorers: scores the edited w
   with the latent classifiers instead, without rendering: quick, but circular for GradCtrl, whose edits
   climb exactly those classifiers);
3. measures per step the signed target change, the mean absolute non-target change and the identity drift
   (see :mod:`gradctrl.curves`), and summarises them at target changes of 0.5, 1 and 2 standard deviations.

A method registered with ``exclusion`` is skipped (with a note) for a case without exclusion. The report
writers (markdown, CSV, plots, the evaluation directory) are in :mod:`gradctrl.reports`; the command line
in ``evaluate.py``.
"""
import dataclasses

import numpy as np

from . import curves
from .methods import REGISTRY, edit_latents


@dataclasses.dataclass(frozen=True)
class Comparison:
    """What :func:`compare_methods` measured.

    ``results``: [(case, method, curves {name: (S + 1,)})]; ``rows``: :func:`summary_rows`; ``methods``: the
    methods that ran at least once, in order; ``matched``: :func:`matched_means`; ``stds``: {attr: float or
    (K,)} score spread over the originals; ``notes``: skipped methods and zero-gradient steps.
    """

    results: list
    rows: list
    methods: list
    matched: dict
    stds: dict
    notes: list


def compare_methods(G, context, w, cases, methods, scorers=None, batch_size=16):
    """Edit w (N, w_dim) with every method for every case and measure the curves -> :class:`Comparison`.

    G: the generator; context: the :class:`gradctrl.methods.EditContext`; cases: [EditCase]; methods:
    registered names; scorers: {attr: Scorer} (image scores), or None to score the edited w with the
    context's latent classifier (no rendering, no drift); batch_size: images rendered together.
    """
    clf = context.classifier
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

    if scorers is None:
        originals, measured = _latent_measurements(clf, w, jobs)
    else:
        originals, measured = _image_measurements(G, w, jobs, scorers, batch_size)
    stds = curves.score_stds(originals)
    results = [(case, method, case_curves(case, scores, stds, drift))
               for (case, method, _), (scores, drift) in zip(jobs, measured)]
    rows = summary_rows(results)
    present = [m for m in methods if any(r["method"] == m for r in rows)]
    matched = matched_means(rows, present)
    return Comparison(results, rows, present, matched, stds, notes)


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
