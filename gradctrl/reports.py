"""The evaluation's reports: markdown tables, CSV tables, the curves plot and the evaluation directory.

``write_evaluation`` writes, atomically, ``summary.md`` (the tables), ``summary.csv`` (one row per edit and
method), ``curves.csv`` (every step), ``curves.png`` (the curves) and ``evaluation.json`` (the settings and
notes; it marks the folder as an evaluation directory, which a later run may replace); with the claims
measured (``evaluate.py --claims``), :func:`claims_files` adds ``claims.md``, one CSV per claim table and
the claims' plots to the same directory; the folder's results page ``index.html`` is made from those files
(:func:`gradctrl.pages.write_evaluation_page`).
"""
import csv
import io

import numpy as np

from stylegan2.atomic import atomic_dir

from . import curves
from .evaluation import curve_rows
from .files import check_output_dir, json_bytes
from .methods import REGISTRY
from .pages import write_evaluation_page

MARKER_FILE = "evaluation.json"


def _fmt(value, digits=2):
    return "not reached" if value is None else f"{value:.{digits}f}"


def _reached(entry, key, digits):
    """A matched-table cell of ``entry[key]``: 'mean (reached/edits)', or 'not reached (0/edits)'."""
    return f"{_fmt(entry[key], digits)} ({entry['reached']}/{entry['edits']})"


def markdown_tables(rows, matched, methods, latent_only, levels=curves.LEVELS):
    """The summary as markdown: each method at matched target change first, then every edit.

    ``matched``: :func:`gradctrl.evaluation.matched_means`; each of its cells shows the method's mean over the
    edits it reached at that level and how many those are (reached/made), so a method that falls short marks
    only its own cells. Latent-only summaries say they have no drift and show no drift columns.
    """
    if latent_only:
        intro = ("Changes in standard deviations of each latent-classifier probability over the held-out "
                 "originals (latent-only: nothing is rendered; circular for GradCtrl).")
    else:
        intro = ("Changes in standard deviations of each image score over the held-out originals; drift in 0-255 "
                 "pixel values.")
    lines = [intro, "", "Per method, the mean over the edits it reached, at matched target change (in brackets: "
             "edits reached / edits made; see the notes for more --steps):", ""]
    header = ["method"] + [f"non-target @{level:g}" for level in levels]
    if not latent_only:
        header += [f"drift @{level:g}" for level in levels]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for m in methods:
        cells = [REGISTRY[m].title] + [_reached(matched[level][m], "nontarget", 2) for level in levels]
        if not latent_only:
            cells += [_reached(matched[level][m], "drift", 1) for level in levels]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("| reached by every method | " + " | ".join(f"{matched[level]['common']}/{matched[level]['edits']}"
                                                           for level in levels)
                 + (" | " * len(levels) if not latent_only else "") + " |")
    lines += ["", "Every edit (target change at the end of the path, non-target change"
              + ("" if latent_only else " and drift") + " where the target change first reaches each level):", ""]
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


def csv_text(rows):
    """CSV text of dict rows: the union of their keys as columns (in first-seen order), None as empty."""
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


def markdown_report(comparison, latent_only):
    """The summary as markdown: the tables, then the notes (skipped methods, zero-gradient steps)."""
    markdown = markdown_tables(comparison.rows, comparison.matched, comparison.methods, latent_only)
    if comparison.notes:
        markdown += "\nNotes:\n\n" + "".join(f"- {n}\n" for n in comparison.notes)
    return markdown


def write_evaluation(out_dir, comparison, settings, latent_only, extra=None):
    """Write the evaluation directory ``out_dir`` (see the module docstring) -> the markdown summary.

    ``extra``: more files {name: str or bytes} written into the same directory (the claims report).
    ``settings``: the JSON-serialisable settings recorded in evaluation.json (with the comparison's stds,
    notes and matched means added). An existing evaluation directory is replaced; any other non-empty path
    is refused.
    """
    out_dir = check_out_dir(out_dir)
    markdown = markdown_report(comparison, latent_only)
    settings = dict(settings, stds={k: v.tolist() if hasattr(v, "tolist") else v for k, v in comparison.stds.items()},
                    notes=comparison.notes,
                    matched={f"{level:g}": v for level, v in comparison.matched.items()})
    files = {"curves.csv": csv_text(curve_rows(comparison.results)), "summary.csv": csv_text(comparison.rows),
             "summary.md": markdown, "curves.png": plot_curves(comparison.results, comparison.methods, latent_only),
             MARKER_FILE: json_bytes(settings), **(extra or {})}
    with atomic_dir(out_dir) as folder:
        for name, content in files.items():
            (folder / name).write_bytes(content if isinstance(content, bytes) else content.encode())
        write_evaluation_page(folder, name=out_dir.name)
    return markdown


# --- the claims report (evaluate.py --claims; docs/claims.md) -----------------------------------------

CLAIM_TITLES = {"disentanglement": "1. Exclusion disentangles better than the baselines",
                "nonlinearity": "2. The gradient field is nonlinear: following it beats a straight line",
                "small_data": "3. About a thousand selected samples per attribute suffice",
                "multi_directional": "4. Multi-directional control of a K-class attribute",
                "shared_channels": "5. Correlated attributes share salient channels"}


def _ci(row, key, digits=2):
    """'value [low, high]' of an interval triple stored as key, key_low, key_high (or value/low/high)."""
    value, low, high = (row[key], row[f"{key}_low"], row[f"{key}_high"]) if f"{key}_low" in row else \
        (row["value"], row["low"], row["high"])
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
             "gradctrl.evaluation.claim_verdicts with the thresholds stated in them (docs/claims.md). The whole folder "
             "is regenerated from a clean checkout by `bash scripts/claims.sh`, which builds the data and "
             "classifier with configs/world.toml and runs the command under each table.", "",
             "| claim | verdict |", "|---|---|"]
    lines += [f"| {CLAIM_TITLES[k]} | {v[0]} |" for k, v in claims.verdicts.items()]

    def section(key):
        verdict, reason = claims.verdicts[key]
        return ["", f"## {CLAIM_TITLES[key]}", "", f"**{verdict}**: {reason}.", ""]

    lines += section("disentanglement")
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


def small_data_summary(rows):
    """Per attribute and size: mean ± sd over seeds of the target change at the end (averaged over the
    attribute's edits), the mean non-target change at 1 std and the validation accuracy -> table rows."""
    table = []
    for attr in dict.fromkeys(r["attribute"] for r in rows):
        for size in dict.fromkeys(r["size"] for r in rows if r["attribute"] == attr):
            mine = [r for r in rows if (r["attribute"], r["size"]) == (attr, size)]
            seeds = sorted({r["seed"] for r in mine})
            ends = [np.mean([r["target_end"] for r in mine if r["seed"] == s]) for s in seeds]
            side = [r["nontarget@1"] for r in mine if np.isfinite(r["nontarget@1"])]
            table.append([attr, size, len(seeds), f"{np.mean(ends):.2f} ± {np.std(ends):.2f}",
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
    from matplotlib.figure import Figure

    def png(figure):
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=100)
        return buffer.getvalue()

    planted = [r for r in claims.disentanglement if r["pair"] in ("planted", "control") and r["quantity"] == "change"]
    panels = list(dict.fromkeys((r["attribute"], r["edit"], r["other"]) for r in planted)) or [("", "", "")]
    columns = min(4, len(panels))
    rows = -(-len(panels) // columns)
    figure = Figure(figsize=(3.0 * columns, 2.8 * rows), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for axis in axes[len(panels):]:
        axis.set_visible(False)
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
    files = {"disentanglement.png": png(figure)}

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
    files["small_data.png"] = png(figure)

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
    files["shared_channels.png"] = png(figure)
    return files


def claims_files(claims, settings):
    """Every file of the claims report -> {name: str or bytes}: claims.md, one CSV per table, the plots."""
    files = {"claims.md": claims_markdown(claims, settings)}
    for name in ("disentanglement", "levels", "nonlinearity", "small_data", "multi_directional", "shared_channels",
                 "drift"):
        files[f"{name}.csv"] = csv_text(getattr(claims, name))
    files.update(plot_claims(claims))
    return files
