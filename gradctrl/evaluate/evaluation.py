"""Comparing edit methods on held-out latents: how much the target attribute moves, and what else moves with it.

For every edit case and every registered edit method (:mod:`gradctrl.edit.methods`) named, :func:`compare_methods`

1. edits the latents (the case's steps, step length and W+ layers, the same for every method);
2. renders every step and scores the images with the image scorers (without scorers: scores the edited w
   with the latent classifiers instead, without rendering: quick, but circular for GradCtrl, whose edits
   climb exactly those classifiers);
3. measures per step the signed target change, the mean absolute non-target change and the identity drift
   (see :mod:`gradctrl.evaluate.curves`), and summarises them at target changes of 0.5, 1 and 2 standard deviations.

A method registered with ``exclusion`` is skipped (with a note) for a case without exclusion. The report
writers (markdown, CSV, plots, the evaluation directory) are in :mod:`gradctrl.evaluate.reports`; the command line
in ``evaluate.py``; the paper's claims, measured from a comparison, in :mod:`gradctrl.evaluate.claims`.
"""
import dataclasses

import numpy as np
from tqdm import tqdm

from ..edit.methods import REGISTRY, edit_latents, method_case, stall_note
from ..errors import UserError
from ..render import render_originals, render_uint8, wplus
from . import curves


@dataclasses.dataclass(frozen=True)
class Comparison:
    """What :func:`compare_methods` measured.

    ``results``: [(case, method, curves {name: (S + 1,)})]; ``rows``: :func:`summary_rows`; ``methods``: the
    methods that ran at least once, in order; ``matched``: :func:`matched_means`; ``stds``: {attr: float or
    (K,)} score spread over the originals; ``notes``: skipped methods and zero-gradient steps. Per latent,
    aligned with ``results``: ``scores`` [{attr: (N, S + 1) or (N, S + 1, K)}], ``drifts`` [(N, S + 1) or
    None] and ``trajectories`` [(N, S, w_dim)] (the claims' measurements, :func:`gradctrl.evaluate.claims.measure_claims`,
    use them).
    """

    results: list
    rows: list
    methods: list
    matched: dict
    stds: dict
    notes: list
    scores: list = dataclasses.field(default_factory=list)
    drifts: list = dataclasses.field(default_factory=list)
    trajectories: list = dataclasses.field(default_factory=list)


def compare_methods(G, context, w, cases, methods, scorers=None, batch_size=16, progress=True, tuned=None,
                    blocks=None):
    """Edit w (N, w_dim) with every method for every case and measure the curves -> :class:`Comparison`.

    G: the generator; context: the :class:`gradctrl.edit.methods.EditContext`; cases: [EditCase]; methods:
    registered names; scorers: {attr: Scorer} (image scores), or None to score the edited w with the
    context's latent classifier (no rendering, no drift); batch_size: images rendered together; progress:
    bars with rate and ETA on stderr for the edits and the rendering; tuned: the config's tuned settings
    (:func:`gradctrl.edit.methods.config_tuned`): a method runs an edit with the layers and exclusion tuned for
    it (:func:`gradctrl.edit.methods.method_case`) where there are some; blocks: None to render here, or a function
    rendering elsewhere (see :func:`image_measurements`).

    One attribute's problem never stops the others: an edit a method cannot make (e.g. InterFaceGAN on an
    attribute with an empty class), a scorer that fails, or a score that is constant over the originals
    leaves that edit or attribute out with a note giving the reason; only fewer than two measurable
    attributes is an error.
    """
    clf = context.classifier
    notes, jobs = [], []
    pairs = [(case, method) for case in cases for method in methods]
    for case, method in tqdm(pairs, desc="editing", unit="edit", disable=not progress, dynamic_ncols=True):
        case = method_case(case, method, tuned)
        title = REGISTRY[method].title
        if REGISTRY[method].exclusion and not case.exclude:
            note = f"{title} skipped for '{case.attribute}': the config sets no exclusion"
            if note not in notes:
                notes.append(note)
            continue
        try:
            edit = edit_latents(method, context, w, case)
        except UserError as e:
            notes.append(f"{title} on '{case.attribute}' {case.label} left out: {e}")
            continue
        note = stall_note(method, case, edit.zero_gradient_steps, edit.traj.shape[0] * edit.traj.shape[1])
        if note:
            notes.append(f"{title} on '{case.attribute}' {case.label}: {note}")
        jobs.append((case, method, edit.traj))

    if scorers is None:
        originals, measured, failed = _latent_measurements(clf, w, jobs)
    else:
        originals, measured, failed = image_measurements(G, w, jobs, scorers, batch_size, progress, blocks)
    stds = {}
    for attr in originals:
        try:
            stds.update(curves.score_stds({attr: originals[attr]}))
        except UserError as e:
            failed.setdefault(attr, str(e))
    for attr, reason in failed.items():
        notes.append(f"attribute '{attr}' left out of every comparison (as target and as non-target): {reason}")
    if len(stds) < 2:
        raise UserError("fewer than two attributes can be measured, so there is no non-target change to "
                        f"compare: {'; '.join(notes[-len(failed):]) if failed else 'score at least two attributes'}")
    kept = [(job, {attr: s for attr, s in scores.items() if attr in stds}, drift)
            for job, (scores, drift) in zip(jobs, measured) if job[0].attribute in stds]
    results = [(case, method, case_curves(case, scores, stds, drift)) for (case, method, _), scores, drift in kept]
    rows = summary_rows(results)
    present = [m for m in methods if any(r["method"] == m for r in rows)]
    matched = matched_means(rows, present)
    notes += steps_notes(matched, present, [case for (case, _, _), _, _ in kept])
    return Comparison(results, rows, present, matched, stds, notes, [scores for _, scores, _ in kept],
                      [drift for _, _, drift in kept], [traj for (_, _, traj), _, _ in kept])


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
    """Per level and method, the mean non-target change and drift over the edits THAT method reached.

    Returns {level: {"edits": edits measured, "common": edits every method reached, method: {"nontarget":
    float or None, "drift": float or None, "reached": edits this method reached, "edits": edits this method
    made}}}: a method that falls short of a level on some edits still shows its other edits, and the
    counts say on how many each mean stands (None: the method reached the level on no edit).
    """
    by_edit = {}
    for row in rows:
        by_edit.setdefault((row["attribute"], row["edit"]), {})[row["method"]] = row
    result = {}
    for level in levels:
        key = f"{level:g}"
        entry = {"edits": len(by_edit),
                 "common": sum(all(m in e and e[m][f"nontarget@{key}"] is not None for m in methods)
                               for e in by_edit.values())}
        for m in methods:
            made = [e[m] for e in by_edit.values() if m in e]
            reached = [row for row in made if row[f"nontarget@{key}"] is not None]
            drifts = [row[f"drift@{key}"] for row in reached if row[f"drift@{key}"] is not None]
            entry[m] = {"nontarget": float(np.mean([row[f"nontarget@{key}"] for row in reached])) if reached else None,
                        "drift": float(np.mean(drifts)) if drifts else None,
                        "reached": len(reached), "edits": len(made)}
        result[level] = entry
    return result


def steps_notes(matched, methods, cases):
    """Notes for the levels a method did not reach on every edit it made, suggesting more ``--steps``
    (twice the most steps of ``cases``, [EditCase]) -> [str]."""
    notes = []
    steps = max((case.steps for case in cases), default=0)
    for level, entry in matched.items():
        short = [f"{REGISTRY[m].title} ({entry[m]['reached']} of {entry[m]['edits']})" for m in methods
                 if entry[m]["reached"] < entry[m]["edits"]]
        if short:
            notes.append(f"a target change of {level:g} std is not reached within {steps} steps by every edit of "
                         f"{', '.join(short)}: rerun with more steps (e.g. --steps {2 * steps}) to compare there")
    return notes


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
    """Latent-classifier probabilities of the originals and of every step: no rendering, no drift.

    Returns (original scores {attr: (N,) or (N, K)}, [(scores {attr: (N, S + 1[, K])}, None)] per job, {}:
    no attribute fails here)."""
    originals = clf.predict(w)
    measured = []
    for _, _, traj in jobs:
        n, steps, w_dim = traj.shape
        predicted = clf.predict(traj.reshape(n * steps, w_dim))
        scores = {attr: np.concatenate([originals[attr][:, None],
                                        p.reshape((n, steps) + p.shape[1:])], axis=1)
                  for attr, p in predicted.items()}
        measured.append((scores, None))
    return originals, measured, {}


def latent_blocks(n, batch_size, count):
    """Contiguous blocks of latents 0..n-1 that split no batch of ``batch_size`` -> [(start, stop)], in order:
    ``count`` of them, or one per batch where there are fewer batches; the batches shared as evenly as they go."""
    batches = -(-n // batch_size)
    count = min(count, batches)
    edges = [min(batch_size * (k * batches // count), n) for k in range(count + 1)]
    return list(zip(edges[:-1], edges[1:]))


def image_measurements(G, w, jobs, scorers, batch_size, progress=True, blocks=None):
    """Render the originals and every step of every job, in batches of latents; score and measure drift.

    Returns (original scores {attr: (N,) or (N, K)}, [(scores {attr: (N, S + 1[, K])}, drift (N, S + 1))]
    per job, {attr: reason} for the attributes whose scorer failed, which are left out of both). Only one
    batch of images is held at a time; ``progress``: a bar with rate and ETA on stderr.

    blocks: None to render here; or a function ``(w, jobs) -> [image measurements]`` that measures contiguous
    blocks of the latents elsewhere (each this function on w[a:b] and the jobs' trajectories [a:b], blocks
    split at multiples of ``batch_size``: :func:`latent_blocks`; evaluate.py --ray runs them as Ray tasks),
    joined here in latent order. Every latent's images and scores come from the same batches either way, so
    the result is the same.
    """
    if blocks is not None:
        return join_measurements(blocks(w, jobs), list(scorers))
    failed = {}

    def score(images):
        scores = {}
        for attr, scorer in scorers.items():
            if attr not in failed:
                try:
                    scores[attr] = scorer(images)
                except UserError as e:
                    failed[attr] = str(e)
        return scores

    n = len(w)
    original_parts, job_parts = [], [[] for _ in jobs]
    starts = range(0, n, batch_size)
    with tqdm(total=len(starts) * (1 + len(jobs)), desc="rendering", unit="batch", disable=not progress,
              dynamic_ncols=True) as bar:
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
                          for attr, s in step_scores.items() if attr in original_scores}
                parts.append((scores, curves.pixel_drift(images)))
                bar.update()
    measured_attrs = [attr for attr in scorers if attr not in failed]
    originals = {attr: np.concatenate([p[attr] for p in original_parts]) for attr in measured_attrs}
    measured = [({attr: np.concatenate([p[0][attr] for p in parts]) for attr in measured_attrs},
                 np.concatenate([p[1] for p in parts])) for parts in job_parts]
    return originals, measured, failed


def join_measurements(parts, attributes):
    """Join the :func:`image_measurements` of contiguous blocks of latents, in latent order -> the
    measurements of all of them; ``attributes``: the scorers' names in order. An attribute whose scorer failed
    in any block is left out, with the reason of the first block it failed in."""
    failed = {}
    for _, _, block_failed in parts:
        for attr, reason in block_failed.items():
            failed.setdefault(attr, reason)
    measured_attrs = [attr for attr in attributes if attr not in failed]
    originals = {attr: np.concatenate([p[0][attr] for p in parts]) for attr in measured_attrs}
    measured = [({attr: np.concatenate([p[1][j][0][attr] for p in parts]) for attr in measured_attrs},
                 np.concatenate([p[1][j][1] for p in parts])) for j in range(len(parts[0][1]))]
    return originals, measured, failed
