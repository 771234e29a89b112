"""The paper's claims, measured with exact labels on held-out latents (issue 11, 21; docs/claims.md).

:func:`measure_claims` reads an image-scored :class:`gradctrl.evaluate.evaluation.Comparison` of every method on every
edit and measures the five claims and the image drift -> :class:`Claims`; :func:`claim_verdicts` turns the
tables into verdicts by the module's thresholds, fixed before any claim was measured. Claim 1 is decided by
paired tests over latents (:func:`paired_comparisons`, Holm-corrected). The attribute pairs whose side
effects are tabled apart (planted, control) are passed in by the caller (the config's ``[claims]`` table).
The report writers are in :mod:`gradctrl.evaluate.claims_report`.
"""
import dataclasses

import numpy as np
from scipy import stats
from tqdm import tqdm

from ..classifier.training import train_classifier
from ..data.selection import split
from ..edit.editing import saliency
from ..edit.methods import EditContext, edit_latents
from ..errors import UserError
from ..options import check_int
from . import curves
from .evaluation import image_measurements

# Verdict thresholds, fixed before any claim was measured (docs/claims.md states them beside each claim).
COSINE_CURVED = 0.9          # claim 2: a path is curved when the mean cosine of its first and last step is below
SMALL_DATA_SIZE = 1000       # claim 3: "about a thousand selected samples per attribute"
SMALL_DATA_KEEP = 0.9        # claim 3 holds when that size keeps this share of the largest size's target change
SMALL_DATA_PARTLY = 0.75     # ... and holds partly at this share
CLASS_SHARE = 0.5            # claim 4: an edit towards a class reaches it when at least this share becomes it
RANK_CORRELATION = 0.5       # claim 5: holds when overlap and label association rank-correlate at least this
ALPHA = 0.05                 # claims 1 and 3: family-wise error rate (Holm over claim 1's tests; claim 3's intervals)
COVERAGE = 0.5               # claim 1: share of the planted edits that must reach the level for a verdict


@dataclasses.dataclass(frozen=True)
class Claims:
    """The claims' measurements, one list of row dicts per table (see :func:`measure_claims`), and
    ``verdicts`` {claim: (verdict, reason)}: claim 1 "holds", "not shown" or "contradicted" (paired tests,
    ``paired``: :func:`paired_comparisons`), the others "holds", "holds partly" or "does not hold"."""

    disentanglement: list
    levels: list
    nonlinearity: list
    small_data: list
    multi_directional: list
    shared_channels: list
    drift: list
    verdicts: dict
    notes: list
    paired: list = dataclasses.field(default_factory=list)


def with_point(weights):
    """Prepend the uniform row (the statistic on the latents themselves) to bootstrap weights (B, N) -> (B + 1, N)."""
    weights = np.asarray(weights, np.float64)
    n = weights.shape[1]
    return np.concatenate([np.full((1, n), 1.0 / n), weights])


def weighted_interval(values, weights):
    """Mean of per-latent ``values`` (N,) with its bootstrap interval -> (point, low, high).

    ``weights``: (B + 1, N) from :func:`with_point`; NaN values (a latent that did not move) are left out of
    every mean; (NaN, NaN, NaN) when all are NaN.
    """
    values = np.asarray(values, np.float64)
    known = np.isfinite(values)
    if not known.any():
        return float("nan"), float("nan"), float("nan")
    mass = weights[:, known].sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = weights[:, known] @ values[known] / mass
    return curves.interval(means[0], means[1:])


def latent_target_changes(case, scores, std):
    """Per-latent signed target change of a case: (N, S + 1) in std units (the class column for a K-class one)."""
    changes = curves.relative_changes(scores, std)
    if changes.ndim == 3:
        changes = changes[:, :, case.target_class]
    return case.direction * changes


def step_labels(attribute, scores, labels_of):
    """Exact labels at every step: scores (N, S + 1) or (N, S + 1, K) -> (N, S + 1) int, by ``labels_of(attr, (M,[K]))``."""
    scores = np.asarray(scores)
    n, steps = scores.shape[:2]
    return np.asarray(labels_of(attribute, scores.reshape((n * steps,) + scores.shape[2:]))).reshape(n, steps)


def matched_side_effects(case, scores, stds, labels_of, weights, drift=None, levels=curves.LEVELS):
    """Side effects of one (case, method) at matched target change, with bootstrap intervals over latents.

    scores: {attr: (N, S + 1[, K])} exact-scorer scores at every step; stds: {attr: std over the originals};
    labels_of(attr, scores) -> exact labels; weights: (B + 1, N) (:func:`with_point`); drift: (N, S + 1)
    pixel drift or None. For every level the resampled mean target curve is crossed (interpolating between
    steps) and read there: for every other attribute its mean |change| (std units, "change") and the share
    of latents whose exact label differs from the original's ("flip"); the drift per unit of target change
    ("drift_per_std", 0-255 per std). Returns (rows, reached): rows {"level", "other", "quantity", "value",
    "low", "high"} (value NaN: the level is not reached), reached {"target_end": (point, low, high)}.
    """
    target = latent_target_changes(case, scores[case.attribute], stds[case.attribute])
    target_means = weights @ target
    quantities = []
    for attr in scores:
        if attr == case.attribute:
            continue
        change = latent_abs_change(scores[attr], stds[attr])
        labels = step_labels(attr, scores[attr], labels_of)
        quantities += [(attr, "change", change), (attr, "flip", (labels != labels[:, :1]).astype(np.float64))]
    if drift is not None:
        quantities.append(("image", "drift", np.asarray(drift, np.float64)))
    rows = []
    for level in levels:
        positions = curves.crossings(target_means, level)
        for other, quantity, values in quantities:
            at = curves.values_at(weights @ values, positions)
            if quantity == "drift":
                at, quantity = at / level, "drift_per_std"
            point, low, high = curves.interval(at[0], at[1:])
            rows.append({"level": level, "other": other, "quantity": quantity, "value": point, "low": low,
                         "high": high})
    end = curves.interval(target_means[0, -1], target_means[1:, -1])
    return rows, {"target_end": end}


def step_cosines(w, traj):
    """Cosine between the first and the last step of every path: w (N, w_dim), traj (N, S, w_dim), S >= 2 -> (N,);
    NaN for a latent whose first or last step did not move."""
    w = np.asarray(w, np.float64)
    traj = np.asarray(traj, np.float64)
    if traj.shape[1] < 2:
        raise UserError("the cosine of the first and last step needs at least 2 steps")
    first, last = traj[:, 0] - w, traj[:, -1] - traj[:, -2]
    norms = np.linalg.norm(first, axis=1) * np.linalg.norm(last, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norms > 0, np.sum(first * last, axis=1) / norms, np.nan)


def straight_trajectory(w, traj):
    """The straight line through a path's first step, same number and length of steps: (N, S, w_dim) float32."""
    w = np.asarray(w, np.float32)
    first = np.asarray(traj, np.float32)[:, 0] - w
    steps = np.arange(1, traj.shape[1] + 1, dtype=np.float32)
    return w[:, None] + steps[None, :, None] * first[:, None]


def class_share(labels, target_class, weights):
    """Multi-directional success of an edit towards ``target_class``: labels (N, S + 1) exact labels per step.

    Among the latents not of that class at the start, the share whose label is that class at the end of the
    path -> (point, low, high, eligible count); NaN when no latent was eligible.
    """
    labels = np.asarray(labels)
    eligible = labels[:, 0] != target_class
    became = np.where(eligible, (labels[:, -1] == target_class).astype(np.float64), np.nan)
    return weighted_interval(became, weights) + (int(eligible.sum()),)


def topk_overlap(saliency_a, saliency_b, k):
    """Share of channels two attributes' top-k salient sets have in common, per latent: (N, w_dim) x2 -> (N,).

    The top-k set is ``np.argsort(saliency)[-k:]`` as in :mod:`gradctrl.edit.editing`; unrelated sets of a
    w_dim-channel latent overlap by k / w_dim on average.
    """
    check_int(k, "top-k")
    a = np.argsort(saliency_a, axis=1)[:, -k:]
    b = np.argsort(saliency_b, axis=1)[:, -k:]
    w_dim = np.asarray(saliency_a).shape[1]
    rows = np.arange(len(a))[:, None]
    in_a = np.zeros((len(a), w_dim), bool)
    in_b = np.zeros((len(a), w_dim), bool)
    in_a[rows, a] = True
    in_b[rows, b] = True
    return (in_a & in_b).sum(axis=1) / k


def cramers_v(a, b):
    """Association of two label arrays (n,) int in [0, 1] (Cramér's V; |phi| for two binary labels)."""
    a_values, a = np.unique(np.asarray(a), return_inverse=True)
    b_values, b = np.unique(np.asarray(b), return_inverse=True)
    if len(a_values) < 2 or len(b_values) < 2:
        return 0.0
    table = np.zeros((len(a_values), len(b_values)))
    np.add.at(table, (a, b), 1)
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / table.sum()
    chi2 = ((table - expected) ** 2 / expected).sum()
    return float(np.sqrt(chi2 / table.sum() / (min(table.shape) - 1)))


def rank_correlation(x, y):
    """Spearman's rank correlation of two equal-length sequences (average ranks for ties); NaN if constant."""
    def ranks(v):
        v = np.asarray(v, np.float64)
        order = np.argsort(v, kind="stable")
        r = np.empty(len(v))
        r[order] = np.arange(len(v))
        for value in np.unique(v):
            r[v == value] = r[v == value].mean()
        return r
    rx, ry = ranks(x), ranks(y)
    if rx.std() == 0 or ry.std() == 0:
        return float("nan")
    return float(np.corrcoef(rx, ry)[0, 1])


def subsample_selection(indices, labels, n, seed):
    """A class-balanced random subset of ``n`` of an attribute's selected samples -> int64 indices, ascending.

    indices (M,), labels (M,) of the selection (train and validation together); n / (number of classes)
    per class, the same subset for the same seed. UserError when a class has fewer samples than that.
    """
    indices, labels = np.asarray(indices, np.int64), np.asarray(labels, np.int64)
    classes = np.unique(labels)
    per_class = int(n) // len(classes)
    rng = np.random.default_rng([int(seed), SUBSAMPLE_STREAM, int(n)])
    chosen = []
    for c in classes:
        members = indices[labels == c]
        if len(members) < per_class:
            raise UserError(f"{n} selected samples need {per_class} of class {c}, but the selection has "
                            f"{len(members)}")
        chosen.append(rng.choice(members, per_class, replace=False))
    return np.sort(np.concatenate(chosen))


# Seed-sequence tag of the small-data subsets' random stream.
SUBSAMPLE_STREAM = 0x534D414C


def paired_difference(target_a, values_a, target_b, values_b, weights, level):
    """Paired difference of a per-latent quantity between two methods that edited the same latents, each read
    at its own crossing of a target level -> (point, low, high, p).

    target_a, values_a, target_b, values_b: (N, S + 1) per-latent target change and quantity along method a's
    and method b's paths from the same N latents; weights (B + 1, N) (:func:`with_point`). Every row averages
    both methods' curves over the same (resampled) latents, crosses each method's own mean target curve at
    ``level`` (interpolating between steps) and reads its own quantity there: the mean of the per-latent
    differences a - b at those crossings, so the interval includes where each method reaches the level.
    low, high: the 95 % percentile interval of the resamples; p: the two-sided bootstrap p-value of "no
    difference" (:func:`bootstrap_p`). NaN throughout when a method does not reach the level on the latents
    themselves; resamples on which one does not are left out.
    """
    at_a = curves.values_at(weights @ values_a, curves.crossings(weights @ target_a, level))
    at_b = curves.values_at(weights @ values_b, curves.crossings(weights @ target_b, level))
    difference = at_a - at_b
    point, low, high = curves.interval(difference[0], difference[1:])
    return point, low, high, bootstrap_p(difference[0], difference[1:])


def bootstrap_p(point, resampled):
    """Two-sided bootstrap p-value of a zero difference: twice the smaller share of the resamples (B,) on
    either side of 0 (each side counting 0), with one added to count and total so that it is never 0:
    2 (1 + min(#{d <= 0}, #{d >= 0})) / (B + 1), at most 1. Its smallest value is 2 / (B + 1), so the number
    of resamples bounds how small a Holm-corrected threshold it can pass. NaN when ``point`` is NaN or no
    resample is finite."""
    resampled = np.asarray(resampled, np.float64)
    finite = resampled[np.isfinite(resampled)]
    if not np.isfinite(point) or len(finite) == 0:
        return float("nan")
    side = min(np.sum(finite <= 0), np.sum(finite >= 0))
    return float(min(1.0, 2.0 * (1 + side) / (len(finite) + 1)))


def holm(pvalues, alpha=ALPHA):
    """Holm's step-down correction of a family of p-values (m,) -> (adjusted p-values (m,), rejected (m,) bool).

    Sorted ascending, the i-th smallest (i = 1..m) is multiplied by m - i + 1 and the running maximum taken
    (capped at 1); a hypothesis is rejected when its adjusted p-value is at most ``alpha``, which keeps the
    family-wise error rate at ``alpha``. NaN p-values (a comparison not measured) are not in the family: they
    stay NaN and are never rejected.
    """
    pvalues = np.asarray(pvalues, np.float64)
    adjusted = np.full(pvalues.shape, np.nan)
    known = np.flatnonzero(np.isfinite(pvalues))
    order = known[np.argsort(pvalues[known], kind="stable")]
    m = len(order)
    running = 0.0
    for i, index in enumerate(order):
        running = max(running, min(1.0, (m - i) * pvalues[index]))
        adjusted[index] = running
    return adjusted, np.isfinite(adjusted) & (adjusted <= alpha)


def latent_abs_change(scores, std):
    """Per-latent |change| of one attribute, (N, S + 1) in std units (averaged over a K-column score's columns)."""
    change = np.abs(curves.relative_changes(scores, std))
    return change.reshape(change.shape[0], change.shape[1], -1).mean(axis=2)


def paired_comparisons(comparison, pairs, weights, levels=curves.LEVELS, ours="gradctrl_exclude", alpha=ALPHA):
    """Claim 1's paired tests: GradCtrl with exclusion against every other method, per pair edit and level.

    comparison: the :class:`Comparison` (its per-latent ``scores`` and ``stds``); pairs: [(kind, target,
    partner)], read both ways round (the target edited, the partner measured); weights (B + 1, N)
    (:func:`with_point`). For every edit of a pair's attribute that ``ours`` made, every other method that made
    it and every level: the mean over latents of the partner's |change| (std units) of ``ours`` minus the
    other method's, each at its own crossing of the level (:func:`paired_difference`). Holm's correction
    (:func:`holm`) runs over the comparisons of one kind at one level (the family that makes up the claim
    there). Rows {"attribute", "edit", "other", "pair", "method" (the method compared with), "level",
    "difference", "low", "high", "half_width", "p", "p_holm", "decision"}: decision "smaller" or "larger"
    (significant after the correction) or "not significant", "not reached" when a method misses the level.
    """
    by_case = {}
    for (case, method, _), scores in zip(comparison.results, comparison.scores):
        by_case.setdefault((case.attribute, case.label), []).append((case, method, scores))
    rows = []
    for runs in by_case.values():
        mine = next((r for r in runs if r[1] == ours), None)
        if mine is None:
            continue
        case, _, our_scores = mine
        stds = comparison.stds
        for kind, a, b in pairs:
            partner = b if case.attribute == a else a if case.attribute == b else None
            if partner is None or partner not in our_scores:
                continue
            our_target = latent_target_changes(case, our_scores[case.attribute], stds[case.attribute])
            our_partner = latent_abs_change(our_scores[partner], stds[partner])
            for _, method, scores in runs:
                if method == ours:
                    continue
                target = latent_target_changes(case, scores[case.attribute], stds[case.attribute])
                change = latent_abs_change(scores[partner], stds[partner])
                for level in levels:
                    point, low, high, p = paired_difference(our_target, our_partner, target, change, weights, level)
                    rows.append({"attribute": case.attribute, "edit": case.label, "other": partner, "pair": kind,
                                 "method": method, "level": level, "difference": point, "low": low, "high": high,
                                 "half_width": (high - low) / 2, "p": p})
    for family in dict.fromkeys((r["pair"], r["level"]) for r in rows):
        members = [r for r in rows if (r["pair"], r["level"]) == family]
        adjusted, rejected = holm([r["p"] for r in members], alpha)
        for r, p_holm, reject in zip(members, adjusted, rejected):
            r["p_holm"] = float(p_holm)
            r["decision"] = ("not reached" if not np.isfinite(r["p"]) else
                             ("smaller" if r["difference"] < 0 else "larger") if reject else "not significant")
    return rows


def matched_value(target, values, weights, level):
    """A per-latent quantity at matched target change: target, values (N, S + 1) -> (point, low, high).

    Every bootstrap row of ``weights`` (B + 1, N) averages both curves over its latents, crosses its target
    curve at ``level`` (interpolating between steps) and reads the values curve there; NaN: not reached.
    """
    at = curves.values_at(weights @ values, curves.crossings(weights @ target, level))
    return curves.interval(at[0], at[1:])


def config_method(case):
    """The GradCtrl the config asks for: with exclusion when the case has one, else without."""
    return "gradctrl_exclude" if case.exclude else "gradctrl"


def nontarget_latent(case, scores, stds):
    """Per-latent mean |change| of every attribute but the target: (N, S + 1) in std units."""
    return np.mean([latent_abs_change(scores[attr], stds[attr]) for attr in scores if attr != case.attribute], axis=0)


def path_summary(case, scores, stds, weights, level=1.0):
    """Target change at the end of a path and non-target change at ``level`` -> {name: (point, low, high)}."""
    target = latent_target_changes(case, scores[case.attribute], stds[case.attribute])
    ends = weights @ target[:, -1]
    return {"target_end": curves.interval(ends[0], ends[1:]),
            f"nontarget@{level:g}": matched_value(target, nontarget_latent(case, scores, stds), weights, level)}


def _interval_row(prefix, triple):
    return {prefix: triple[0], f"{prefix}_low": triple[1], f"{prefix}_high": triple[2]}


def measure_claims(G, context, w, comparison, scorers, labels_of, small_data, top_k, n_boot=2000, seed=0,
                   batch_size=16, pairs=(), progress=True, blocks=None):
    """Measure the paper's five claims (and the image drift) on held-out latents -> :class:`Claims`.

    G, context, w (N, w_dim), scorers: as :func:`compare_methods`, whose image-scored ``comparison`` of every
    method on every case is read here; labels_of(attr, scores) -> exact int labels; small_data:
    {"sizes": [n selected per attribute], "seeds": [int], "n_latents": held-out latents edited per
    classifier, "train": keyword arguments of :func:`gradctrl.classifier.training.train_classifier` (seed excluded),
    "p_val": float}; top_k: channels of a salient set (claim 5); n_boot, seed: bootstrap resamples and their
    seed; pairs: [(kind, target, partner)] the pairs whose side effects are tabled apart (planted, control);
    progress: bars with rate and ETA on stderr for the straight-line renders and the small-data classifiers;
    blocks: None to render here, or a function rendering blocks of latents elsewhere
    (:func:`gradctrl.evaluate.evaluation.image_measurements`). The bootstrap, the saliency maps and the small-data
    classifiers' training run here.
    """
    weights = with_point(curves.bootstrap_weights(len(w), n_boot, seed))
    stds, notes = comparison.stds, [held_out_note(w, context.data().latents)]
    disentanglement, levels, drift, multi = [], [], [], []
    for (case, method, _), scores, pixel in zip(comparison.results, comparison.scores, comparison.drifts):
        key = {"attribute": case.attribute, "edit": case.label, "method": method}
        rows, reached = matched_side_effects(case, scores, stds, labels_of, weights, pixel)
        for row in rows:
            kind = next((k for k, a, b in pairs if (a, b) in ((case.attribute, row["other"]),
                                                              (row["other"], case.attribute))), "other")
            target = drift if row["quantity"] == "drift_per_std" else disentanglement
            target.append(dict(key, pair=kind if row["quantity"] != "drift_per_std" else "", **row))
        levels.append(dict(key, **_interval_row("target_end", reached["target_end"]),
                           **{f"reached@{level:g}": bool(reached["target_end"][0] >= level) for level in curves.LEVELS}))
        if case.target_class is not None:
            labels = step_labels(case.attribute, scores[case.attribute], labels_of)
            point, low, high, eligible = class_share(labels, case.target_class, weights)
            multi.append(dict(key, share=point, share_low=low, share_high=high, eligible=eligible,
                              start_share=float(np.mean(labels[:, 0] == case.target_class)),
                              config_gradctrl=method == config_method(case)))

    nonlinearity = _nonlinearity(G, w, comparison, scorers, weights, batch_size, progress, blocks)
    shared = _shared_channels(context, w, saliency, labels_of, top_k, weights)
    small = _small_data(G, context, w, comparison, scorers, small_data, batch_size, notes, progress, blocks)
    paired = paired_comparisons(comparison, pairs, weights)
    verdicts = claim_verdicts(paired, nonlinearity, small, multi, shared, small_data["sizes"])
    return Claims(disentanglement, levels, nonlinearity, small, multi, shared, drift, verdicts, notes, paired)


def held_out_note(w, latents):
    """Check that no held-out latent w (N, w_dim) is among the fitted-on ``latents`` (M, w_dim) -> a note
    saying so; UserError if one is (the claims are measured on held-out latents only)."""
    seen = {row.tobytes() for row in np.asarray(latents, np.float32)}
    shared = sum(row.tobytes() in seen for row in np.asarray(w, np.float32))
    if shared:
        raise UserError(f"{shared} of the {len(w)} evaluation latents are in the data directory the classifiers "
                        "were trained on: use another --seed")
    return (f"held out: none of the {len(w)} evaluation latents is among the data directory's {len(latents)} "
            "latents the classifiers and baselines were fitted on")


def exact_measurements(G, w, jobs, scorers, batch_size, progress, blocks=None):
    """:func:`gradctrl.evaluate.evaluation.image_measurements` for the claims, which need every attribute: a failed scorer
    is a UserError."""
    originals, measured, failed = image_measurements(G, w, jobs, scorers, batch_size, progress, blocks)
    if failed:
        attr, reason = next(iter(failed.items()))
        raise UserError(f"the claims need every attribute, and attribute '{attr}' failed: {reason}")
    return originals, measured


def _nonlinearity(G, w, comparison, scorers, weights, batch_size, progress, blocks):
    """Claim 2: per edit, the config's GradCtrl path against the straight line through its first step."""
    chosen = [(case, scores, traj) for (case, method, _), scores, traj
              in zip(comparison.results, comparison.scores, comparison.trajectories) if method == config_method(case)]
    jobs = [(case, "straight", straight_trajectory(w, traj)) for case, _, traj in chosen]
    _, straight = exact_measurements(G, w, jobs, scorers, batch_size, progress, blocks)
    rows = []
    for (case, scores, traj), (line_scores, _) in zip(chosen, straight):
        cosine = weighted_interval(step_cosines(w, traj), weights)
        curved, line = path_summary(case, scores, comparison.stds, weights), \
            path_summary(case, line_scores, comparison.stds, weights)
        row = {"attribute": case.attribute, "edit": case.label, "method": config_method(case),
               **_interval_row("cosine", cosine)}
        for name, summary in (("curved", curved), ("straight", line)):
            for quantity, triple in summary.items():
                row.update(_interval_row(f"{name}_{quantity}", triple))
        rows.append(row)
    return rows


def _shared_channels(context, w, saliency, labels_of, top_k, weights):
    """Claim 5: top-k salient-set overlap of every attribute pair at the held-out latents, against the pair's
    label association (Cramér's V of the exact labels of the data directory's samples)."""
    clf, data = context.classifier, context.data()
    attributes = [a for a in clf.attributes if a in data.scores]
    maps = {a: saliency(clf, w, a) for a in attributes}
    labels = {a: np.asarray(labels_of(a, data.scores[a])) for a in attributes}
    rows = []
    for i, a in enumerate(attributes):
        for b in attributes[i + 1:]:
            overlap = weighted_interval(topk_overlap(maps[a], maps[b], top_k), weights)
            rows.append({"pair": f"{a} / {b}", **_interval_row("overlap", overlap),
                         "chance": top_k / clf.w_dim, "association": cramers_v(labels[a], labels[b])})
    return rows


def _small_data(G, context, w, comparison, scorers, settings, batch_size, notes, progress, blocks):
    """Claim 3: classifiers trained on n selected samples per attribute (several seeds), each edited with the
    config's GradCtrl on the first ``n_latents`` held-out latents; exact-scored target and side effects."""
    data, clf = context.data(), context.classifier
    w_small = w[:settings["n_latents"]]
    single = with_point(np.zeros((0, len(w_small))))
    cases = [case for case, method, _ in comparison.results if method == config_method(case)]
    rows = []
    runs = [(size, seed) for size in settings["sizes"] for seed in settings["seeds"]]
    for size, seed in tqdm(runs, desc="small data", unit="classifier", disable=not progress,
                           dynamic_ncols=True):
        splits, skipped = {}, []
        for attr in clf.attributes:
            selected = np.concatenate([data.splits[attr]["train"], data.splits[attr]["val"]]).astype(np.int64)
            try:
                subset = subsample_selection(selected, data.labels[attr][selected], size, seed)
            except UserError:
                skipped.append(f"{attr} ({len(selected)} selected)")
                continue
            train, val = split(subset, settings["p_val"], seed, labels=data.labels[attr][subset])
            splits[attr] = {"train": train.tolist(), "val": val.tolist()}
        note = f"small data: {size} samples per attribute is more than the selection of " + ", ".join(skipped)
        if skipped and note not in notes:
            notes.append(note)
        if not splits:
            continue
        small_clf, metrics = train_classifier(data.latents, data.labels, splits,
                                              {a: clf.num_classes[a] for a in splits}, seed=seed,
                                              **settings["train"])
        jobs = []
        for case in cases:
            if case.attribute in splits:
                dropped = [a for a in case.exclude if a not in splits]
                note = (f"small data: at {size} samples the exclusion of {', '.join(dropped)} from "
                        f"{case.attribute}'s edits was dropped (no classifier branch at that size)")
                if dropped and note not in notes:
                    notes.append(note)
                case = dataclasses.replace(case, exclude={a: k for a, k in case.exclude.items() if a in splits})
                method = config_method(case)
                jobs.append((case, method, edit_latents(method, EditContext(small_clf), w_small, case).traj))
        _, measured = exact_measurements(G, w_small, jobs, scorers, batch_size, False, blocks)
        for (case, method, _), (scores, _) in zip(jobs, measured):
            summary = path_summary(case, scores, comparison.stds, single)
            rows.append({"size": size, "seed": seed, "attribute": case.attribute, "edit": case.label,
                         "method": method, "val_accuracy": metrics["best_val_accuracy"][case.attribute],
                         "target_end": summary["target_end"][0], "nontarget@1": summary["nontarget@1"][0]})
    return rows


def claim_verdicts(paired, nonlinearity, small, multi, shared, sizes, level=1.0):
    """Each claim's verdict from the tables (claim 1 from the paired tests of :func:`paired_comparisons`)
    -> {claim: (verdict, reason)}; the thresholds are the module's constants, stated in the reasons
    (docs/claims.md explains them)."""
    return {"disentanglement": _verdict_disentanglement(paired, level),
            "nonlinearity": _verdict_nonlinearity(nonlinearity),
            "small_data": _verdict_small_data(small, sizes),
            "multi_directional": _verdict_multi(multi),
            "shared_channels": _verdict_shared(shared)}


def median_half_width(paired, level=1.0, kind="planted"):
    """The median half-width (std) of the paired intervals of one pair kind at ``level`` (NaN: none measured):
    the precision claim 1 was decided with (issue 21 asks for at most 0.05 std)."""
    widths = [r["half_width"] for r in paired
              if r["pair"] == kind and r["level"] == level and np.isfinite(r["half_width"])]
    return float(np.median(widths)) if widths else float("nan")


def _verdict_disentanglement(paired, level):
    """Claim 1 from the paired tests (:func:`paired_comparisons`) on the planted partners at ``level`` std:
    holds when GradCtrl with exclusion moves the partner significantly less than every other method on every
    planted edit (Holm-corrected at ALPHA over those comparisons), contradicted when it moves it
    significantly more in at least one, not shown otherwise; not shown as well when fewer than COVERAGE of
    the planted edits (target and direction) have a comparison at the level (docs/claims.md, pre-registered
    2026-12-04)."""
    rows = [r for r in paired if r["pair"] == "planted" and r["level"] == level]
    measured = [r for r in rows if np.isfinite(r["p"])]
    edits = {(r["attribute"], r["edit"]) for r in rows}
    reached = {(r["attribute"], r["edit"]) for r in measured}
    smaller = sum(r["decision"] == "smaller" for r in measured)
    larger = sum(r["decision"] == "larger" for r in measured)
    lower = sum(r["difference"] < 0 for r in measured)
    width = median_half_width(paired, level)
    width = "none" if np.isnan(width) else f"{width:.3f}"
    reason = (f"on the planted partners at {level:g} std of target change, GradCtrl with exclusion moves the partner "
              f"significantly less than the other method in {smaller} of {len(measured)} paired comparisons and "
              f"significantly more in {larger} (per-latent paired differences, two-sided bootstrap tests, Holm-"
              f"corrected at {ALPHA:g} over the {len(measured)}); less in point estimate in {lower}; median half-width "
              f"of the 95 % intervals of the differences {width} std; {len(rows) - len(measured)} comparisons lacked "
              f"a method reaching the level ({len(reached)} of {len(edits)} planted edits reached). Holds: "
              "significantly less in every comparison; contradicted: significantly more in at least one; not "
              f"shown: otherwise, or fewer than {COVERAGE:.0%} of the planted edits reached")
    if not measured:
        return "not measured", reason
    if len(reached) < COVERAGE * len(edits):
        return "not shown", reason
    if larger:
        return "contradicted", reason
    if smaller == len(measured):
        return "holds", reason
    return "not shown", reason


def _verdict_nonlinearity(rows):
    """Claim 2: curved paths (mean cosine < COSINE_CURVED) that beat their straight line (higher target at the
    end, no larger side effect at 1 std)."""
    finite = [r["cosine"] for r in rows if np.isfinite(r["cosine"])]
    cosine = float(np.mean(finite)) if finite else float("nan")
    beats = sum(1 for r in rows if r["curved_target_end"] > r["straight_target_end"]
                and not r["curved_nontarget@1"] > r["straight_nontarget@1"])
    curved, better = cosine < COSINE_CURVED, 2 * beats > len(rows)
    reason = (f"mean cosine of the first and last step {cosine:.2f} (curved below {COSINE_CURVED}); the curved "
              f"path beats the straight line through its first step (higher target change at the end, no larger "
              f"non-target change at 1 std) in {beats} of {len(rows)} edits (holds: curved and beats in more "
              "than half; partly: one of the two)")
    if not rows:
        return "not measured", reason
    return ("holds" if curved and better else "holds partly" if curved or better else "does not hold"), reason


def fieller_interval(a, b, level=1 - ALPHA):
    """Fieller's interval for the ratio of the means of two independent samples a (n_a,) and b (n_b,), each
    at least 2 values, at confidence ``level``, with Student's t on min(n_a, n_b) - 1 degrees of freedom
    -> (low, high); (-inf, inf) when mean(b) is not significantly away from zero at that level (the ratio is
    then unbounded). docs/claims.md, claim 3's interval rule."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    t = stats.t.ppf(0.5 + level / 2, min(len(a), len(b)) - 1)
    mean_a, mean_b = a.mean(), b.mean()
    var_a, var_b = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    # r is inside when (mean_a - r mean_b)^2 <= t^2 (var_a + r^2 var_b): a quadratic q2 r^2 - 2 q1 r + q0 <= 0
    q2, q1, q0 = mean_b ** 2 - t ** 2 * var_b, mean_a * mean_b, mean_a ** 2 - t ** 2 * var_a
    if q2 <= 0:
        return -np.inf, np.inf
    root = np.sqrt(max(q1 ** 2 - q2 * q0, 0.0))
    return (q1 - root) / q2, (q1 + root) / q2


def seed_means(rows):
    """Claim 3's unit of replication: per (attribute, size), each classifier seed's target change at the end
    of the path averaged over the attribute's edits -> {(attribute, size): {seed: mean (std)}}, in the order
    the rows first name them."""
    grouped = {}
    for r in rows:
        grouped.setdefault((r["attribute"], r["size"]), {}).setdefault(r["seed"], []).append(r["target_end"])
    return {key: {seed: float(np.mean(ends)) for seed, ends in by_seed.items()} for key, by_seed in grouped.items()}


def small_data_shares(rows):
    """Claim 3's shares: per attribute, the seeds' values (:func:`seed_means`) at SMALL_DATA_SIZE against the
    largest size measured -> {attribute: (share, values at SMALL_DATA_SIZE (n_seeds,), values at the largest
    size (n_seeds,), largest size)}; attributes without a larger size are left out."""
    means = seed_means(rows)
    shares = {}
    for attr in dict.fromkeys(a for a, _ in means):
        sizes = [size for a, size in means if a == attr]
        largest = max(sizes)
        if SMALL_DATA_SIZE in sizes and largest > SMALL_DATA_SIZE:
            small, large = (np.array(list(means[attr, size].values())) for size in (SMALL_DATA_SIZE, largest))
            shares[attr] = (small.mean() / large.mean(), small, large, largest)
    return shares


def _verdict_small_data(rows, sizes):
    """Claim 3 by the interval rule pre-registered in docs/claims.md: Fieller's 95 % interval of each
    attribute's share (SMALL_DATA_SIZE against the largest size, over classifier seeds) at or above
    SMALL_DATA_KEEP for every attribute: holds; at or above SMALL_DATA_PARTLY: holds partly; one attribute's
    Bonferroni interval (1 - ALPHA / m) wholly below SMALL_DATA_PARTLY: does not hold; else not shown."""
    if SMALL_DATA_SIZE not in sizes:
        return "not measured", f"the sizes measured do not include {SMALL_DATA_SIZE}"
    shares = small_data_shares(rows)
    if not shares:
        return "not measured", f"no attribute has a selection larger than {SMALL_DATA_SIZE} to compare with"
    if min(min(len(small), len(large)) for _, small, large, _ in shares.values()) < 2:
        return "not measured", "claim 3's interval needs at least 2 seeds per size (--small_data_seeds)"
    m = len(shares)
    intervals = {a: fieller_interval(small, large) for a, (_, small, large, _) in shares.items()}
    corrected = {a: fieller_interval(small, large, 1 - ALPHA / m) for a, (_, small, large, _) in shares.items()}
    reason = (f"target change at the end of the path with {SMALL_DATA_SIZE} selected samples as a share of the "
              "largest size measured, with Fieller's 95 % interval over classifier seeds: "
              + ", ".join(f"{a} {share:.2f} [{intervals[a][0]:.2f}, {intervals[a][1]:.2f}] "
                          f"({len(small)} and {len(large)} seeds, {largest} samples)"
                          for a, (share, small, large, largest) in shares.items())
              + f" (holds: every interval at or above {SMALL_DATA_KEEP}; partly: every one at or above "
              f"{SMALL_DATA_PARTLY}; does not hold: one interval at {1 - ALPHA / m:.1%} wholly below "
              f"{SMALL_DATA_PARTLY}; not shown: otherwise)")
    lows = [low for low, _ in intervals.values()]
    if min(lows) >= SMALL_DATA_KEEP:
        return "holds", reason
    if min(lows) >= SMALL_DATA_PARTLY:
        return "holds partly", reason
    if any(high < SMALL_DATA_PARTLY for _, high in corrected.values()):
        return "does not hold", reason
    return "not shown", reason


def _verdict_multi(rows):
    """Claim 4: GradCtrl's edit towards every class turns at least CLASS_SHARE of the other latents into it."""
    ours = [r for r in rows if r["config_gradctrl"]]
    if not ours:
        return "not measured", "no K-class attribute was edited"
    reached = [r for r in ours if r["share"] >= CLASS_SHARE]
    reason = (f"GradCtrl's edits towards a class turn at least {CLASS_SHARE:.0%} of the latents not of that class "
              f"into it for {len(reached)} of {len(ours)} classes: "
              + ", ".join(f"{r['edit']} {r['share']:.2f}" for r in ours)
              + " (holds: every class; partly: at least one)")
    return ("holds" if len(reached) == len(ours) else "holds partly" if reached else "does not hold"), reason


def _verdict_shared(rows):
    """Claim 5: top-k overlap rank-correlates with label association (Spearman >= RANK_CORRELATION)."""
    if len(rows) < 3:
        return "not measured", "fewer than 3 attribute pairs"
    rho = rank_correlation([r["overlap"] for r in rows], [r["association"] for r in rows])
    reason = (f"Spearman rank correlation of the top-k overlap and the label association over {len(rows)} pairs: "
              f"{rho:.2f} (holds: >= {RANK_CORRELATION}; partly: > 0)")
    return ("holds" if rho >= RANK_CORRELATION else "holds partly" if rho > 0 else "does not hold"), reason
