"""The claims report (``evaluate.py --claims``; docs/claims.md): claims.md, one CSV per table and the plots.

:func:`claims_files` turns a :class:`gradctrl.evaluate.claims.Claims` into the files ``write_evaluation``
(:mod:`gradctrl.evaluate.reports`) writes beside the method comparison.
"""

import numpy as np

from ..edit.methods import REGISTRY
from .claims import seed_means
from .reports import csv_text, panel_grid, png_bytes

CLAIM_TITLES = {"disentanglement": "1. Exclusion disentangles better than the baselines",
                "nonlinearity": "2. The gradient field is nonlinear: following it beats a straight line",
                "small_data": "3. About a thousand selected samples per attribute suffice",
                "multi_directional": "4. Multi-directional control of a K-class attribute",
                "shared_channels": "5. Correlated attributes share salient channels"}


def _ci(row, key, digits=2):
    """'value [low, high]' of an interval triple stored as key, key_low, key_high (or key, low, high)."""
    value, low, high = (row[key], row[f"{key}_low"], row[f"{key}_high"]) if f"{key}_low" in row else \
        (row[key], row["low"], row["high"])
    if value is None or not np.isfinite(value):
        return "not reached"
    if not np.isfinite(low):
        return f"{value:.{digits}f}"
    return f"{value:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def _table(header, rows):
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + \
        ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]


def claims_markdown(claims, settings):
    """The claims report as markdown: per claim its verdict (with the numbers and thresholds), its table and
    the command and seeds that made it; then the image drift and the notes."""
    made = (f"Made by: `{settings['command']}` (held-out latents: seed {settings['seed']}, evaluation stream; "
            f"{settings['n_samples']} latents; bootstrap: {settings['n_boot']} resamples, seed {settings['seed']})")
    title = lambda m: REGISTRY[m].title if m in REGISTRY else m  # noqa: E731
    lines = ["# The paper's claims on the world, with exact labels", "",
             "Every number is measured with the world's exact scorer on held-out latents (never the classifiers' "
             "training latents). Changes are in standard deviations of each exact score over the held-out "
             "originals; flips are shares of latents whose exact label changed; brackets are 95 % bootstrap "
             "intervals over latents. The verdict paragraphs are written from the numbers by "
             "gradctrl.evaluate.claims.claim_verdicts with the thresholds stated in them (docs/claims.md). The whole folder "
             "is regenerated from a clean checkout by `bash scripts/claims.sh`, which builds the data and "
             "classifier with configs/world.toml and runs the command under each table.", "",
             "| claim | verdict |", "|---|---|"]
    lines += [f"| {CLAIM_TITLES[k]} | {v[0]} |" for k, v in claims.verdicts.items()]

    def section(key):
        verdict, reason = claims.verdicts[key]
        return ["", f"## {CLAIM_TITLES[key]}", "", f"**{verdict}**: {reason}.", ""]

    lines += section("disentanglement")
    lines += paired_table(claims.paired, made)
    for kind in ("planted", "control"):
        rows = [r for r in claims.disentanglement if r["pair"] == kind and r["level"] == 1.0]
        keys = list(dict.fromkeys((r["attribute"], r["edit"], r["other"]) for r in rows))
        body = []
        for attr, edit, other in keys:
            for m in dict.fromkeys(r["method"] for r in rows if (r["attribute"], r["edit"], r["other"]) == (attr, edit, other)):
                cells = {r["quantity"]: r for r in rows
                         if (r["attribute"], r["edit"], r["other"], r["method"]) == (attr, edit, other, m)}
                body.append([f"{attr} {edit}", other, title(m), _ci(cells["change"], "value"),
                             _ci(cells["flip"], "value")])
        lines += [f"{kind.capitalize()} pairs, side effect on the partner at 1 std of target change:", ""]
        lines += _table(["edit", "partner", "method", "partner change (std)", "partner label flips"], body)
        lines += ["", made, ""]
    lines += ["Levels reached (target change at the end of each method's path; a level a method does not reach "
              "leaves only its cells empty):", ""]
    lines += _table(["edit", "method", "target change at end"] + [f"reaches {level:g}" for level in (0.5, 1, 2)],
                    [[f"{r['attribute']} {r['edit']}", title(r["method"]), _ci(r, "target_end")]
                     + ["yes" if r[f"reached@{level:g}"] else "no" for level in (0.5, 1, 2)] for r in claims.levels])
    lines += ["", made, "", "Every attribute at 0.5, 1 and 2 std: disentanglement.csv; plot: disentanglement.png.", ""]

    lines += section("nonlinearity")
    lines += _table(["edit", "method", "cosine first/last step", "target end: curved", "target end: straight",
                     "non-target @1: curved", "non-target @1: straight"],
                    [[f"{r['attribute']} {r['edit']}", title(r["method"]), _ci(r, "cosine"),
                      _ci(r, "curved_target_end"), _ci(r, "straight_target_end"), _ci(r, "curved_nontarget@1"),
                      _ci(r, "straight_nontarget@1")] for r in claims.nonlinearity])
    lines += ["", made, ""]

    lines += section("small_data")
    lines += _table(["attribute", "selected samples", "seeds", "target end (mean ± sd over seeds)",
                     "non-target @1", "validation accuracy"], small_data_summary(claims.small_data))
    lines += ["", made + f"; small-data seeds {settings['small_data_seeds']}, first "
              f"{settings['small_data_latents']} held-out latents", "", "Plot: small_data.png.", ""]

    lines += section("multi_directional")
    lines += _table(["edit", "method", "share that becomes the class", "latents not of it at start",
                     "share of the class at start"],
                    [[f"{r['attribute']} {r['edit']}", title(r["method"]), _ci(r, "share"), r["eligible"],
                      f"{r['start_share']:.2f}"] for r in claims.multi_directional])
    lines += ["", made, ""]

    lines += section("shared_channels")
    lines += _table(["pair", f"top-{settings['top_k']} overlap", "chance", "label association (Cramér's V)"],
                    [[r["pair"], _ci(r, "overlap"), f"{r['chance']:.2f}", f"{r['association']:.2f}"]
                     for r in claims.shared_channels])
    lines += ["", made + "; label association over the data directory's samples", "", "Plot: shared_channels.png.", ""]

    lines += ["## Image drift per unit of target change", "",
              "Mean absolute pixel change (0-255) of the whole image per std of target change, at 1 std, averaged "
              "over the edits each method reaches 1 std on (identity preservation; no claim of the paper is "
              "tested by it alone):", ""]
    lines += _table(["method", "drift per std", "edits"], drift_summary(claims.drift))
    lines += ["", made, "", "Per edit: drift.csv."]
    if claims.notes:
        lines += ["", "Notes:", ""] + [f"- {n}" for n in claims.notes]
    return "\n".join(lines) + "\n"


def paired_table(paired, made, level=1.0):
    """Claim 1's paired tests at ``level`` as markdown lines, one table per pair kind (planted, control)."""
    title = lambda m: REGISTRY[m].title if m in REGISTRY else m  # noqa: E731
    lines = []
    for kind in dict.fromkeys(r["pair"] for r in paired):
        rows = [r for r in paired if r["pair"] == kind and r["level"] == level]
        lines += [f"{kind.capitalize()} pairs, paired tests at {level:g} std of target change: the partner's |change| "
                  "under GradCtrl (exclusion) minus under the other method, per latent, each method read at its own "
                  "crossing of the level (negative: exclusion moves the partner less); 95 % bootstrap interval of "
                  f"the mean difference, its half-width, the two-sided bootstrap p and Holm's correction over the "
                  f"{kind} comparisons:", ""]
        lines += _table(["edit", "partner", "compared with", "difference (std)", "half-width", "p", "Holm p",
                         "decision"],
                        [[f"{r['attribute']} {r['edit']}", r["other"], title(r["method"]), _ci(r, "difference", 3),
                          _fmt_p(r["half_width"], 3), _fmt_p(r["p"], 4), _fmt_p(r["p_holm"], 4), r["decision"]]
                         for r in rows])
        lines += ["", made, ""]
    return lines


def _fmt_p(value, digits):
    return f"{value:.{digits}f}" if value is not None and np.isfinite(value) else "-"


def small_data_summary(rows):
    """Per attribute and size: mean ± sd over seeds of the target change at the end (each seed's value from
    :func:`gradctrl.evaluate.claims.seed_means`, the unit claim 3's verdict uses), the mean non-target change
    at 1 std and the validation accuracy -> table rows."""
    means = seed_means(rows)
    table = []
    for attr in dict.fromkeys(a for a, _ in means):
        for size in [size for a, size in means if a == attr]:
            mine = [r for r in rows if (r["attribute"], r["size"]) == (attr, size)]
            ends = list(means[attr, size].values())
            side = [r["nontarget@1"] for r in mine if np.isfinite(r["nontarget@1"])]
            table.append([attr, size, len(ends), f"{np.mean(ends):.2f} ± {np.std(ends):.2f}",
                          f"{np.mean(side):.2f}" if side else "not reached",
                          f"{np.mean([r['val_accuracy'] for r in mine]):.2f}"])
    return table


def drift_summary(rows, level=1.0):
    """Per method: the mean drift per std at ``level`` over the edits it reaches, and how many -> table rows."""
    table = []
    for m in dict.fromkeys(r["method"] for r in rows):
        values = [r["value"] for r in rows if r["method"] == m and r["level"] == level and np.isfinite(r["value"])]
        table.append([REGISTRY[m].title, f"{np.mean(values):.1f}" if values else "not reached", len(values)])
    return table


def plot_claims(claims):
    """PNG bytes of the claims' plots -> {"disentanglement.png", "small_data.png", "shared_channels.png"}."""
    # heavy (matplotlib): imported on use, so commands start and refuse bad input without it
    from matplotlib.figure import Figure

    planted = [r for r in claims.disentanglement if r["pair"] in ("planted", "control") and r["quantity"] == "change"]
    panels = list(dict.fromkeys((r["attribute"], r["edit"], r["other"]) for r in planted)) or [("", "", "")]
    figure, axes = panel_grid(len(panels), 3.0, 2.8)
    for axis, (attr, edit, other) in zip(axes, panels):
        for i, m in enumerate(REGISTRY):
            mine = [r for r in planted if (r["attribute"], r["edit"], r["other"], r["method"]) == (attr, edit, other, m)]
            if mine:
                x = [r["level"] for r in mine]
                axis.errorbar(x, [r["value"] for r in mine],
                              yerr=[[r["value"] - r["low"] for r in mine], [r["high"] - r["value"] for r in mine]],
                              marker="o", capsize=2, color=f"C{i}", label=REGISTRY[m].title)
        axis.set_title(f"{attr} {edit}: {other}", fontsize="small")
        axis.set_xlabel("target change (std)")
        axis.set_ylabel("partner |change| (std)")
        axis.grid(alpha=0.3)
    axes[0].legend(fontsize="x-small")
    files = {"disentanglement.png": png_bytes(figure)}

    figure = Figure(figsize=(5, 3.5), layout="constrained")
    axis = figure.subplots()
    for attr in dict.fromkeys(r["attribute"] for r in claims.small_data):
        sizes = sorted({r["size"] for r in claims.small_data if r["attribute"] == attr})
        axis.plot(sizes, [np.mean([r["target_end"] for r in claims.small_data
                                   if (r["attribute"], r["size"]) == (attr, s)]) for s in sizes], marker="o", label=attr)
    axis.set_xscale("log")
    axis.set_xlabel("selected samples per attribute")
    axis.set_ylabel("target change at the end (std)")
    axis.grid(alpha=0.3)
    axis.legend(fontsize="x-small")
    files["small_data.png"] = png_bytes(figure)

    figure = Figure(figsize=(5, 3.5), layout="constrained")
    axis = figure.subplots()
    for r in claims.shared_channels:
        axis.scatter(r["association"], r["overlap"], color="C0")
        axis.annotate(r["pair"], (r["association"], r["overlap"]), fontsize="xx-small")
    if claims.shared_channels:
        axis.axhline(claims.shared_channels[0]["chance"], color="0.6", lw=0.8, label="chance")
        axis.legend(fontsize="x-small")
    axis.set_xlabel("label association (Cramér's V)")
    axis.set_ylabel("top-k salient channel overlap")
    axis.grid(alpha=0.3)
    files["shared_channels.png"] = png_bytes(figure)
    return files


def claims_files(claims, settings):
    """Every file of the claims report -> {name: str or bytes}: claims.md, one CSV per table, the plots."""
    files = {"claims.md": claims_markdown(claims, settings)}
    for name in ("disentanglement", "paired", "levels", "nonlinearity", "small_data", "multi_directional",
                 "shared_channels", "drift"):
        files[f"{name}.csv"] = csv_text(getattr(claims, name))
    files.update(plot_claims(claims))
    return files


def _largest_gap(quality):
    """The quality.json's largest gap as a table cell: its name and the generated and drawn values."""
    name = quality.get("largest_gap")
    found = [r for key in ("marginals", "correlations", "pairs") for r in quality.get(key, []) if r["name"] == name]
    if not name or not found:
        return "-"
    escaped = name.replace("|", "\\|")
    return f"{escaped} ({found[0]['generated']:.2f} vs {found[0]['drawn']:.2f})"


def verdicts_side_by_side(columns):
    """The claims' verdicts of several reports side by side (fixed and tuned settings, several generators) as
    markdown. columns: [(label, evaluation.json of a ``--claims`` run as a dict, quality.json of its generator
    (``python -m gradctrl.world quality``) as a dict or None)]."""
    def row(name, cells):
        return "| " + " | ".join([name] + [str(c) for c in cells]) + " |"

    def number(value, digits):
        return "-" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"

    lines = [row("", [label for label, _, _ in columns]), "|---|" + "---|" * len(columns),
             row("generator", [f"`{e.get('generator')}`" for _, e, _ in columns]),
             row("config", [f"`{e.get('config')}`" for _, e, _ in columns]),
             row("held-out latents (seed)", [f"{e.get('n_samples')} ({e.get('seed')})" for _, e, _ in columns])]
    if any(q for _, _, q in columns):
        lines += [row("KID (quality.json)", [number(q.get("kid"), 1) if q else "-" for _, _, q in columns]),
                  row("KID of drawn against drawn", [number(q.get("kid_real_baseline"), 1) if q else "-"
                                                     for _, _, q in columns]),
                  row("mean gap to the drawn world", [number(q.get("mean_gap"), 3) if q else "-"
                                                      for _, _, q in columns]),
                  row("largest gap (generated vs drawn)", [_largest_gap(q) if q else "-" for _, _, q in columns])]
    for key, title in CLAIM_TITLES.items():
        lines.append(row(title, [e.get("verdicts", {}).get(key, ["-"])[0] for _, e, _ in columns]))
    lines.append(row("claim 1: median half-width of the paired 95 % intervals (std)",
                     [number(e.get("claim1_median_half_width"), 3) for _, e, _ in columns]))
    return "\n".join(lines) + "\n"
