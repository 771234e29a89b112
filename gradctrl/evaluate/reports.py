"""The evaluation's reports: markdown tables, CSV tables, the curves plot and the evaluation directory.

``write_evaluation`` writes, atomically, ``summary.md`` (the tables), ``summary.csv`` (one row per edit and
method), ``curves.csv`` (every step), ``curves.png`` (the curves) and ``evaluation.json`` (the settings and
notes; it marks the folder as an evaluation directory, which a later run may replace); with the claims
measured (``evaluate.py --claims``), :func:`gradctrl.evaluate.claims_report.claims_files` adds ``claims.md``, one CSV
per claim table and the claims' plots to the same directory; the folder's results page ``index.html`` is made
from those files (:func:`gradctrl.evaluate.pages.write_evaluation_page`).
"""
import csv
import io

from stylegan2.atomic import atomic_dir

from ..edit.methods import REGISTRY
from ..files import check_output_dir, json_bytes
from . import curves
from .evaluation import curve_rows
from .pages import write_evaluation_page

MARKER_FILE = "evaluation.json"


def _fmt(value, digits=2):
    return "not reached" if value is None else f"{value:.{digits}f}"


def _reached(entry, key, digits):
    """A matched-table cell of ``entry[key]``: 'mean (reached/edits)', or 'not reached (0/edits)'."""
    return f"{_fmt(entry[key], digits)} ({entry['reached']}/{entry['edits']})"


def markdown_tables(rows, matched, methods, latent_only, levels=curves.LEVELS):
    """The summary as markdown: each method at matched target change first, then every edit.

    ``matched``: :func:`gradctrl.evaluate.evaluation.matched_means`; each of its cells shows the method's mean over the
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
    # heavy (matplotlib): imported on use, so commands start and refuse bad input without it
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
    return png_bytes(figure)


def png_bytes(figure):
    """A matplotlib Figure as PNG bytes at 100 dpi (the one PNG form of every plot in the reports)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def panel_grid(count, panel_width, panel_height):
    """A figure of ``count`` panels, at most 4 a row, each ``panel_width`` x ``panel_height`` inches -> (Figure,
    the first ``count`` axes in row order); the grid's unused axes are hidden."""
    # heavy (matplotlib): imported on use, so commands start and refuse bad input without it
    from matplotlib.figure import Figure

    columns = min(4, count)
    rows = -(-count // columns)
    figure = Figure(figsize=(panel_width * columns, panel_height * rows), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for axis in axes[count:]:
        axis.set_visible(False)
    return figure, axes[:count]


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
