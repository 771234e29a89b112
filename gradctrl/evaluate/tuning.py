"""The exclusion tuner (tune.py; issue 21, docs/claims.md "Tuned settings"): per edit and method, the W+ layer
range and the exclusion top-k chosen on validation latents by the rule fixed before the first search.

Search space: every contiguous W+ range [lo, hi) for every method (:func:`layer_ranges`); for GradCtrl with
exclusion also the top-k of every attribute the config excludes, over ``top_ks`` (:func:`exclusion_grid`).
A setting edits the validation latents, every step is scored (``measure``: rendered and scored by the exact
scorer in tune.py), and is read at 1 std of mean target change (:func:`setting_row`). Picking rule
(:func:`pick`): among the settings that reach 1 std, the smallest partner change there; ties (within
``TIE``) go to fewer layers, then the smaller total k, then the lower first layer. The edit trajectory in w
does not depend on the layer range, so it is computed once per (edit, method, exclusion) and only rendered
per range.
"""
import dataclasses
import itertools
import json
import re

import numpy as np
from tqdm import tqdm

from ..edit.methods import REGISTRY, edit_latents
from . import curves
from .claims import latent_abs_change, latent_target_changes
from .reports import panel_grid, png_bytes

TOP_KS = (0, 8, 16, 32, 64)          # the pre-registered top-k values (of w_dim 128)
COARSE_TOP_KS = (0, 16, 64)          # the demo-sized default's subset
LEVEL = 1.0                          # the target change (std) the partner change is read at
TIE = 1e-9                           # partner changes this close (std) are ties
STEP_CANDIDATES = (9, 18, 27, 36, 45)  # the claims' path lengths (docs/claims.md, pre-registered 2026-12-04)
STEP_SHARE = 0.9                     # ... the shortest reaching this share of what the longest reaches


def layer_ranges(num_ws, coarse=False):
    """Every contiguous W+ range [lo, hi), 0 <= lo < hi <= num_ws -> [(lo, hi)], by lo then hi; ``coarse``:
    only those whose ends are even layers or num_ws (the demo-sized subset)."""
    bounds = [b for b in range(num_ws + 1) if not coarse or b % 2 == 0 or b == num_ws]
    return [(lo, hi) for lo in bounds for hi in bounds if lo < hi]


def exclusion_grid(excluded, top_ks):
    """Every combination of a top-k in ``top_ks`` per excluded attribute -> [{attribute: k}] ([{}] for none)."""
    return [dict(zip(excluded, ks)) for ks in itertools.product(top_ks, repeat=len(excluded))]


def masks_channels(method):
    """Whether ``method`` masks top-k channels (GradCtrl with exclusion), so its top-k is searched."""
    return REGISTRY[method].exclusion and REGISTRY[method].gradient


def method_settings(case, method, ranges, top_ks):
    """The (layers, exclude) settings ``method`` is searched over for ``case``: every range; for a method that
    masks channels, every top-k combination of the case's excluded attributes (others keep the case's)."""
    grid = exclusion_grid(list(case.exclude), top_ks) if masks_channels(method) else [dict(case.exclude)]
    return [(layers, exclude) for exclude in grid for layers in ranges]


def partner_curves(case, scores, stds, partners):
    """Per-latent target change and partner |change| of one setting -> ((N, S + 1), (N, S + 1)) in std units.

    ``partners``: the attributes the picking rule reads (the target's planted partners, averaged), or empty
    for a target without one: then every other scored attribute (the non-target change).
    """
    target = latent_target_changes(case, scores[case.attribute], stds[case.attribute])
    others = [a for a in (partners or scores) if a != case.attribute]
    partner = np.mean([latent_abs_change(scores[a], stds[a]) for a in others], axis=0)
    return target, partner


def setting_row(case, method, layers, exclude, target, partner, level=LEVEL):
    """One setting's numbers -> {"attribute", "edit", "tag", "method", "lo", "hi", "k" (total top-k),
    "exclude", "target_end", "reached", "partner"} (partner: mean partner |change| at ``level`` std of mean
    target change, NaN when not reached)."""
    target_curve, partner_curve = target.mean(axis=0), partner.mean(axis=0)
    at = curves.value_at(partner_curve, curves.crossing(target_curve, level))
    return {"attribute": case.attribute, "edit": case.label, "tag": case.tag, "method": method, "lo": layers[0],
            "hi": layers[1], "k": int(sum(exclude.values())) if masks_channels(method) else 0,
            "exclude": dict(exclude) if masks_channels(method) else {}, "target_end": float(target_curve[-1]),
            "reached": at is not None, "partner": float("nan") if at is None else at}


def pick(rows):
    """The picking rule over one edit and method's setting rows -> the chosen row, or None when none reaches.

    Smallest partner change among the rows that reached; ties within TIE: fewer layers, then the smaller
    total k, then the lower first layer.
    """
    reached = [r for r in rows if r["reached"]]
    if not reached:
        return None
    best = min(r["partner"] for r in reached)
    tied = [r for r in reached if r["partner"] <= best + TIE]
    return min(tied, key=lambda r: (r["hi"] - r["lo"], r["k"], r["lo"]))


def edit_pairs(cases, methods):
    """The (case, method) pairs the tuner measures -> [(EditCase, str)]: every method on every case, except a
    method with exclusion on a case that excludes nothing (the evaluation skips it too)."""
    return [(case, method) for case in cases for method in methods
            if not (REGISTRY[method].exclusion and not case.exclude)]


def steps_to_reach(target_curve, level=LEVEL):
    """The steps a path needs to reach ``level`` std of mean target change -> int, or None if it never does.

    target_curve (S + 1,): the mean target change after 0..S steps; a crossing between steps s - 1 and s
    needs s steps. The first s steps of a longer path are the s-step path (every method steps from where it
    stands, with the same step length), so one long path answers every shorter length.
    """
    position = curves.crossing(target_curve, level)
    return None if position is None else int(np.ceil(position))


def choose_steps(reach, candidates=STEP_CANDIDATES, share=STEP_SHARE):
    """The pre-registered path-length rule -> (steps, {candidate: count}).

    reach: per (edit, method), the steps needed to reach 1 std (:func:`steps_to_reach`; None: not within the
    longest candidate). count: the pairs a candidate's path reaches; steps: the smallest candidate whose
    count is at least ``share`` of the longest candidate's (so the shortest when nothing reaches at all).
    """
    counts = {c: sum(r is not None and r <= c for r in reach) for c in sorted(candidates)}
    longest = counts[max(candidates)]
    return min(c for c in counts if counts[c] >= share * longest), counts


def path_reach(context, w_val, cases, methods, measure, steps, progress=True):
    """Each (edit, method)'s steps to reach 1 std on the validation latents with the config's settings and a
    path of ``steps`` -> [{"attribute", "tag", "edit", "method", "steps_to_reach" (None: not reached),
    "target_end"}]. Arguments as :func:`tune`; methods skipped for a case as there."""
    edits = [(dataclasses.replace(case, steps=steps), method) for case, method in edit_pairs(cases, methods)]
    jobs = [(case, method, edit_latents(method, context, w_val, case).traj)
            for case, method in tqdm(edits, desc="path lengths", unit="edit", disable=not progress,
                                     dynamic_ncols=True)]
    originals, measured = measure(w_val, jobs)
    stds = curves.score_stds(originals)
    rows = []
    for (case, method), scores in zip(edits, measured):
        target = latent_target_changes(case, scores[case.attribute], stds[case.attribute]).mean(axis=0)
        rows.append({"attribute": case.attribute, "tag": case.tag, "edit": case.label, "method": method,
                     "steps_to_reach": steps_to_reach(target), "target_end": float(target[-1])})
    return rows


@dataclasses.dataclass(frozen=True)
class Tuning:
    """What :func:`tune` found: ``rows`` (every setting, :func:`setting_row`), ``chosen`` {(attribute, tag,
    method): row}, ``frontier`` [(case, method, k, target curve (S + 1,), partner curve (S + 1,))]: per
    edit, method and total k, the mean curves of its best layer range; ``notes``: edits a method could not
    tune."""

    rows: list
    chosen: dict
    frontier: list
    notes: list


def tune(context, w_val, cases, methods, measure, partners_of, ranges, top_ks, progress=True):
    """Search every setting of every case and method on the validation latents -> :class:`Tuning`.

    context: the :class:`gradctrl.edit.methods.EditContext`; w_val (N, w_dim): validation latents (their own
    stream, never the test latents); cases: [EditCase] with the config's settings; methods: registered
    names; measure(w, jobs [(case, method, traj (N, S, w_dim))]) -> (original scores {attr: (N[, K])},
    [scores {attr: (N, S + 1[, K])}] per job) renders each job in its case's layers and scores it;
    partners_of(attribute) -> [partner attributes] (empty: judged by the non-target change); ranges:
    [(lo, hi)]; top_ks: the top-k values per excluded attribute. A method skipped by the evaluation for a
    case (exclusion without one) is skipped here.
    """
    jobs, keys = [], []
    edits = edit_pairs(cases, methods)
    for case, method in tqdm(edits, desc="tuning edits", unit="edit", disable=not progress, dynamic_ncols=True):
        by_exclusion = {}
        for layers, exclude in method_settings(case, method, ranges, top_ks):
            key = tuple(sorted(exclude.items()))
            if key not in by_exclusion:
                by_exclusion[key] = edit_latents(method, context, w_val,
                                                 dataclasses.replace(case, exclude=exclude)).traj
            jobs.append((dataclasses.replace(case, layers=layers, exclude=exclude), method, by_exclusion[key]))
            keys.append((case, method, layers, exclude))
    originals, measured = measure(w_val, jobs)
    stds = curves.score_stds(originals)
    rows, curves_of = [], []
    for (case, method, layers, exclude), scores in zip(keys, measured):
        target, partner = partner_curves(case, scores, stds, partners_of(case.attribute))
        rows.append(setting_row(case, method, layers, exclude, target, partner))
        curves_of.append((target.mean(axis=0), partner.mean(axis=0)))
    chosen, frontier, notes = {}, [], []
    for case, method in edits:
        mine = [(r, c) for r, c in zip(rows, curves_of) if (r["attribute"], r["tag"], r["method"])
                == (case.attribute, case.tag, method)]
        best = pick([r for r, _ in mine])
        if best is None:
            notes.append(f"{REGISTRY[method].title} on '{case.attribute}' {case.label}: no setting reaches "
                         f"{LEVEL:g} std of target change; it keeps the config's setting")
        else:
            chosen[(case.attribute, case.tag, method)] = best
        for k in dict.fromkeys(r["k"] for r, _ in mine):
            at_k = [(r, c) for r, c in mine if r["k"] == k]
            row = pick([r for r, _ in at_k])
            if row is not None:
                frontier.append((case, method, k) + next(c for r, c in at_k if r is row))
    return Tuning(rows, chosen, frontier, notes)


def tuned_tables(tuning):
    """The chosen settings as TOML text: one ``[attributes.NAME.tuned.TAG]`` table per edit, a line per method."""
    lines = []
    for attribute, tag in dict.fromkeys((a, t) for a, t, _ in tuning.chosen):
        lines += ["", f"[attributes.{_key(attribute)}.tuned.{_key(tag)}]"]
        for (a, t, method), row in tuning.chosen.items():
            if (a, t) != (attribute, tag):
                continue
            setting = f"layers = [{row['lo']}, {row['hi']}]"
            if row["exclude"]:
                setting += ", exclude = { " + ", ".join(f"{_key(k)} = {v}" for k, v in row["exclude"].items()) + " }"
            partner = f"partner change {row['partner']:.3f} std at {LEVEL:g} std of target change"
            lines.append(f"{method} = {{ {setting} }}   # {partner}")
    return "\n".join(lines) + "\n"


def _key(name):
    """A TOML key for ``name``: bare when it may be (letters, digits, _ and -), else a quoted string."""
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else json.dumps(name)


def plot_frontier(tuning, partners_of):
    """PNG bytes: per edit, mean partner |change| against mean target change along the path, one line per
    top-k of GradCtrl with exclusion (each at its best layer range) and one per other method (dashed)."""
    edits = list(dict.fromkeys((case.attribute, case.label) for case, *_ in tuning.frontier)) or [("", "")]
    figure, axes = panel_grid(len(edits), 3.2, 2.9)
    for axis, (attribute, label) in zip(axes, edits):
        colour = 0
        for case, method, k, target, partner in tuning.frontier:
            if (case.attribute, case.label) != (attribute, label):
                continue
            exclusion = masks_channels(method)
            name = f"k = {k}" if exclusion else REGISTRY[method].title
            axis.plot(target, partner, marker="." if exclusion else None, ls="-" if exclusion else "--",
                      color=f"C{colour}", label=name)
            colour += 1
        axis.axvline(LEVEL, color="0.8", lw=0.8, zorder=0)
        partners = partners_of(attribute)
        axis.set_title(f"{attribute} {label}", fontsize="small")
        axis.set_xlabel("target change (std)")
        axis.set_ylabel(f"{' + '.join(partners) if partners else 'non-target'} |change| (std)", fontsize="small")
        axis.grid(alpha=0.3)
        if colour:
            axis.legend(fontsize="xx-small")
    return png_bytes(figure)
