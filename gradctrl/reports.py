"""The evaluation's reports: markdown tables, CSV tables, the curves plot and the evaluation directory.

``write_evaluation`` writes, atomically, ``summary.md`` (the tables), ``summary.csv`` (one row per edit and
method), ``curves.csv`` (every step), ``curves.png`` (the curves) and ``evaluation.json`` (the settings and
notes; it marks the folder as an evaluation directory, which a later run may replace).
"""
import csv
import io

from stylegan2.atomic import atomic_dir

from . import curves
from .evaluation import curve_rows
from .files import check_output_dir, json_bytes
from .methods import REGISTRY

MARKER_FILE = "evaluation.json"


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


def write_outputs(out_dir, files):
    """Write ``files`` ({name: str or bytes}) into directory ``out_dir`` atomically (temporary sibling, rename).

    An existing evaluation directory (holding evaluation.json) is replaced; any other non-empty path is refused.
    """
    from stylegan2.atomic import atomic_dir

    with atomic_dir(check_out_dir(out_dir)) as tmp:
        for name, content in files.items():
            (tmp / name).write_bytes(content if isinstance(content, bytes) else content.encode())


def markdown_report(comparison, latent_only):
    """The summary as markdown: the tables, then the notes (skipped methods, zero-gradient steps)."""
    markdown = markdown_tables(comparison.rows, comparison.matched, comparison.methods, latent_only)
    if comparison.notes:
        markdown += "\nNotes:\n\n" + "".join(f"- {n}\n" for n in comparison.notes)
    return markdown


def write_evaluation(out_dir, comparison, settings, latent_only):
    """Write the evaluation directory ``out_dir`` (see the module docstring) -> the markdown summary.

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
             MARKER_FILE: json_bytes(settings)}
    with atomic_dir(out_dir) as folder:
        for name, content in files.items():
            (folder / name).write_bytes(content if isinstance(content, bytes) else content.encode())
    return markdown


def check_out_dir(out_dir):
    """UserError unless ``out_dir`` is absent, empty, or an earlier evaluation (holding evaluation.json)."""
    return check_output_dir(out_dir, MARKER_FILE, "an evaluation directory")
