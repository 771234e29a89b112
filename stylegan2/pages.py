"""Self-contained HTML results pages: the one page writer of the toolkit, and the training run's page.

A page is ``index.html`` in the folder it describes: every image, animation and plot is a file in that folder
(or below it) reached by a relative link, the style sheet is inline, nothing is fetched from the network, and
the page reads fully without JavaScript (one small inline script sorts tables by a click on a column head;
sections fold with ``<details>``). Pages are Jinja2 templates with autoescaping on, loaded from the package
data of ``stylegan2/templates`` and of the packages a caller names (``gradctrl`` adds its own), so every
string from a user, a config or a file name reaches the page as text, never as markup.

:func:`write_page` renders and writes a page atomically (:mod:`stylegan2.atomic`); :func:`csv_table`,
:func:`line_plot` and :func:`relative_link` build what the templates show. :func:`write_training_page`
writes the page of a ``python -m stylegan2 train`` run folder (the fakes grids over kimg, the KID curve, the
log), rewritten at every snapshot.
"""
import csv
import json
import math
import os
from pathlib import Path

import jinja2
from PIL import Image

from .atomic import write_bytes

PAGE_FILE = "index.html"


def environment(packages=()):
    """A Jinja2 environment with autoescaping on, loading templates from ``<package>/templates`` of each of
    ``packages`` first, then of stylegan2 (whose ``base.html`` and ``macros.html`` every page builds on)."""
    loaders = [jinja2.PackageLoader(package, "templates") for package in (*packages, "stylegan2")]
    return jinja2.Environment(loader=jinja2.ChoiceLoader(loaders), autoescape=True,
                              undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def render_page(template, context, packages=()):
    """The HTML text of ``template`` (a template name) rendered with ``context`` (a dict)."""
    return environment(packages).get_template(template).render(**context)


def write_page(folder, template, context, packages=(), name=PAGE_FILE):
    """Render ``template`` with ``context`` and write it atomically as ``folder/name`` -> its path.

    ``packages``: the packages whose ``templates`` folders are searched before stylegan2's. Every link the
    context holds must be relative to ``folder`` (:func:`relative_link`)."""
    path = Path(folder) / name
    write_bytes(path, render_page(template, context, packages).encode("utf-8"))
    return path


def relative_link(target, page_dir):
    """The relative URL path (``/``-separated, not yet percent-encoded: the templates' ``urlencode`` does it)
    from a page in ``page_dir`` to the file or folder ``target``."""
    return Path(os.path.relpath(Path(target).absolute(), Path(page_dir).absolute())).as_posix()


def csv_table(path, caption=None):
    """A CSV file read generically -> {"caption", "columns": [str], "rows": [[str]]}, every cell as written
    (the first line is the header; a short row is padded with empty cells)."""
    with open(path, newline="", encoding="utf-8") as file:
        lines = list(csv.reader(file))
    columns = lines[0] if lines else []
    rows = [row + [""] * (len(columns) - len(row)) for row in lines[1:]]
    return {"caption": caption or Path(path).name, "columns": columns, "rows": rows}


def line_plot(series, x_label, y_label, width=480, height=240):
    """An SVG line plot of ``series`` [(name, [(x, y)])] for the ``line_plot`` macro -> a dict of numbers and
    labels in the SVG's pixel units: "width", "height", "lines" [{"name", "points": "x,y x,y ..."}], "x_ticks"
    and "y_ticks" [{"at", "label"}], the axis labels and the plot box; None when no point is finite. Each line
    also lists its points as "markers" [(x, y)], so a single point shows."""
    finite = [(x, y) for _, points in series for x, y in points if math.isfinite(x) and math.isfinite(y)]
    if not finite:
        return None
    left, right, top, bottom = 56, width - 24, 12, height - 36
    x0, x1 = min(x for x, _ in finite), max(x for x, _ in finite)
    y0, y1 = min(y for _, y in finite), max(y for _, y in finite)
    x1, y1 = (x1 if x1 > x0 else x0 + 1), (y1 if y1 > y0 else y0 + 1)

    def px(x):
        return left + (x - x0) / (x1 - x0) * (right - left)

    def py(y):
        return bottom - (y - y0) / (y1 - y0) * (bottom - top)

    lines = []
    for name, points in series:
        shown = [(f"{px(x):.1f}", f"{py(y):.1f}") for x, y in points if math.isfinite(x) and math.isfinite(y)]
        lines.append({"name": name, "points": " ".join(f"{x},{y}" for x, y in shown), "markers": shown})
    ticks = lambda lo, hi, at: [{"at": f"{at(lo + (hi - lo) * i / 4):.1f}", "label": f"{lo + (hi - lo) * i / 4:.4g}"}
                                for i in range(5)]  # noqa: E731
    return {"width": width, "height": height, "left": left, "right": right, "top": top, "bottom": bottom,
            "lines": lines, "x_ticks": ticks(x0, x1, px), "y_ticks": ticks(y0, y1, py),
            "x_label": x_label, "y_label": y_label}


# ----- the training run's page -----

# The log's columns plotted on the training page when present (KID first: the run's quality measure).
TRAINING_CURVES = (("kid", "KID"), ("loss_G", "generator loss"), ("loss_D", "discriminator loss"))


def read_log(path):
    """The records of a training log (JSON lines) -> [dict]; a last line a kill cut short is left out."""
    records = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            break
    return records


def training_page_context(run_dir, log_file="log.jsonl", options_file="training_options.json"):
    """What the training page shows for the run folder ``run_dir``: the options, one fakes grid per snapshot
    (``fakes<kimg>.png``, in kimg order), a curve per logged quantity of :data:`TRAINING_CURVES` (an inline SVG
    drawn from the log; other PNGs in the folder, such as a KID curve plotted by scripts/training_curve.py, are
    shown too) and the log as a table."""
    run_dir = Path(run_dir)
    log = read_log(run_dir / log_file) if (run_dir / log_file).exists() else []
    options = json.loads((run_dir / options_file).read_text()) if (run_dir / options_file).exists() else {}
    grids = [{"kimg": int(p.stem[len("fakes"):]), "src": p.name, "width": _png_width(p)}
             for p in sorted(run_dir.glob("fakes*.png")) if p.stem[len("fakes"):].isdigit()]
    plots = []
    for key, title in TRAINING_CURVES:
        points = [(float(r["kimg"]), float(r[key])) for r in log if isinstance(r.get(key), (int, float))]
        series = [(title, points)]
        if key == "kid":
            series.append(("real vs real", [(float(r["kimg"]), float(r["kid_real_baseline"])) for r in log
                                            if isinstance(r.get("kid_real_baseline"), (int, float))]))
        plot = line_plot(series, "kimg", title) if points else None
        if plot is not None:
            plots.append({"title": title, "plot": plot})
    images = sorted(p.name for p in run_dir.glob("*.png") if not p.name.startswith("fakes"))
    columns = list(dict.fromkeys(key for record in log for key in record))
    table = {"caption": log_file, "columns": columns,
             "rows": [[_cell(record.get(key)) for key in columns] for record in log]}
    return {"title": f"Training run {run_dir.name}", "options": options, "grids": grids, "plots": plots,
            "images": images, "log": table}


def _png_width(path):
    """The width in pixels of a PNG (read from its header)."""
    with Image.open(path) as image:
        return image.width


def _cell(value):
    """A log value as table text: floats to 4 significant digits, missing as empty."""
    if value is None:
        return ""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def write_training_page(run_dir):
    """Write ``index.html`` of the training run folder ``run_dir`` (see :func:`training_page_context`)."""
    return write_page(run_dir, "training.html", training_page_context(run_dir))

