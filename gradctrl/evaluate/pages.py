"""The results pages of the toolkit's commands, written by :func:`stylegan2.pages.write_page` (Jinja2, autoescaped,
templates in ``gradctrl/templates``): every page is ``index.html`` in the folder it describes, linking only
files in that folder (or below it), viewable offline and without JavaScript.

- :func:`write_edit_page`: manipulate.py's folder. Per attribute and edit (direction or target class), one row
  per latent: the original, the strip, an animated GIF of the path (``page/<strip>.gif``, written here) and,
  under the frames, the classifier's probabilities along the path (the ``<A>_edits.npz`` arrays). Edit runs of
  one attribute on the same latents (e.g. the demo's ``with_exclusion`` and ``without_exclusion`` folders,
  shown together by the report) stand side by side.
- :func:`write_evaluation_page`: evaluate.py's folder, read back from the files the command wrote: the
  markdown reports (``summary.md``, ``claims.md``: tables, verdict paragraphs, the commands and seeds) as HTML,
  every plot (``*.png``) and every CSV as a sortable table.
- :func:`write_report_page`: ``python -m gradctrl.report``: one page linking several runs' pages.
"""
import dataclasses
import json
import re
from pathlib import Path

import numpy as np
from PIL import Image

from stylegan2.atomic import write_bytes
from stylegan2.images import gif_bytes
from stylegan2.pages import PAGE_FILE, csv_table, relative_link, write_page

from ..edit.manipulation import SETTINGS_SUFFIX
from ..errors import UserError

PACKAGES = ("gradctrl",)  # whose templates come before stylegan2's
ANIMATION_DIR = "page"  # the edit page's own files (the GIFs), inside the edit folder
FRAME_PX = 64  # displayed size of one frame of a strip (images are scaled, pixelated when small)


# ----- edit folders (manipulate.py) -----

@dataclasses.dataclass
class EditRun:
    """One attribute's edit run in an edit folder: its settings JSON, start latents w0 (N, w_dim) and the
    probabilities {npz key: array} of ``<A>_edits.npz``."""
    folder: Path
    settings: dict
    w0: np.ndarray
    probs: dict

    @property
    def attribute(self):
        return self.settings["attribute"]

    def strip(self, case_index, latent):
        """The file name of latent ``latent``'s strip in case ``case_index`` (strips are listed case by case)."""
        return self.settings["strips"][case_index * self.settings["n_latents"] + latent]


def read_edit_runs(folder):
    """Every edit run in the edit folder ``folder`` -> [EditRun], by attribute name; runs whose settings or
    arrays are unreadable (not manipulate.py's) are left out."""
    runs = []
    for path in sorted(Path(folder).glob(f"*{SETTINGS_SUFFIX}")):
        try:
            settings = json.loads(path.read_text(encoding="utf-8"))
            with np.load(Path(folder) / settings["npz"], allow_pickle=False) as data:
                w0 = data["w0"]
                probs = {key: data[key] for key in data.files if key.startswith("probs_")}
            if len(settings["strips"]) != settings["n_latents"] * len(settings["cases"]):
                continue
        except (OSError, ValueError, KeyError, TypeError):
            continue
        runs.append(EditRun(Path(folder), settings, w0, probs))
    return runs


def animation_name(strip):
    """The GIF of a strip, relative to the edit folder: ``page/<strip stem>.gif``."""
    return f"{ANIMATION_DIR}/{Path(strip).stem}.gif"


def animation_is_current(folder, strip):
    """True when the GIF of ``strip`` in the edit folder ``folder`` exists and is at least as new as the strip
    (so it was made from this strip, not from an earlier run's file of the same name)."""
    folder = Path(folder)
    try:
        return (folder / animation_name(strip)).stat().st_mtime_ns >= (folder / strip).stat().st_mtime_ns
    except OSError:
        return False


def write_animations(run, rebuild):
    """Write the GIF of every strip of ``run``: every one when ``rebuild`` (its strips were just made), else
    only those whose GIF is missing or older than the strip; a current GIF is left as it is (not re-read, not
    rewritten). A strip (H, F*H, 3) is split into its F frames of H x H -> the number of GIFs written."""
    written = 0
    for strip in run.settings["strips"]:
        target = run.folder / animation_name(strip)
        if rebuild or not animation_is_current(run.folder, strip):
            written += 1
            with Image.open(run.folder / strip) as image:
                pixels = np.asarray(image.convert("RGB"))
            size = pixels.shape[0]
            frames = pixels.reshape(size, -1, size, 3).transpose(1, 0, 2, 3)
            write_bytes(target, gif_bytes(frames))
    return written


def remove_stale_animations(folder, runs):
    """Remove the GIFs under ``folder/page`` that no strip of ``runs`` has (left by an earlier run)."""
    wanted = {animation_name(strip) for run in runs for strip in run.settings["strips"]}
    for path in (Path(folder) / ANIMATION_DIR).glob("*.gif"):
        if f"{ANIMATION_DIR}/{path.name}" not in wanted:
            path.unlink()


def exclusion_label(settings):
    """'with exclusion of b (top 5), c (top 3)' or 'without exclusion', and the method."""
    exclude = settings.get("exclude") or {}
    text = ("with exclusion of " + ", ".join(f"{name} (top {k})" for name, k in exclude.items())) if exclude \
        else "without exclusion"
    return f"{text}; method {settings.get('method')}"


def _case_label(settings, index):
    """'+1' / '-1' for a binary attribute, 'to <class>' for class ``index`` of a K-class one."""
    if settings["num_classes"] == 1:
        return ("+1", "-1")[index]
    names = settings.get("class_names") or [f"class {c}" for c in range(settings["num_classes"])]
    return f"to {names[index]}"


def _value_rows(run, case_index, latent, names):
    """The probabilities along the path of latent ``latent`` in case ``case_index``: one row per attribute of
    ``names`` [{"name", "numbers": [str]}] (a K-class attribute: of the edit's target class when edited, else
    of the class the original has); attributes the run's arrays lack are left out."""
    settings = run.settings
    tag = settings["cases"][case_index]
    rows = []
    for name in names:
        key = f"probs_{tag}_{name}"
        if key not in run.probs:
            continue
        p = run.probs[key][latent]
        if p.ndim == 1:
            label, values = f"P({name})", p
        else:
            target = case_index if name == run.attribute else int(np.argmax(p[0]))
            class_names = settings.get("class_names") if name == run.attribute else None
            label = f"P({name} = {class_names[target] if class_names else f'class {target}'})"
            values = p[:, target]
        rows.append({"name": label, "numbers": [f"{v:.2f}" for v in values]})
    return rows


def _same_latents(runs):
    """True when every run edits the same latents with the same cases and steps (so rows can pair up)."""
    first = runs[0]
    return all(r.w0.shape == first.w0.shape and np.array_equal(r.w0, first.w0)
               and r.settings["cases"] == first.settings["cases"] and r.settings["steps"] == first.settings["steps"]
               for r in runs[1:])


def edit_sections(runs, page_dir):
    """The edit page's sections for ``runs`` [EditRun] seen from a page in ``page_dir``: per attribute, its runs
    side by side when they edit the same latents (e.g. with and without exclusion; with exclusion first), else
    one after another; per edit case a table of one row per latent -> [{"attribute", "case", "label",
    "variants": [{"label", "settings"}], "frames", "frame_px", "rows": [{"index", "original", "cells"}]}]."""
    groups = {}
    for run in runs:
        groups.setdefault(run.attribute, []).append(run)
    sections = []
    for attribute, group in groups.items():
        group.sort(key=lambda r: not r.settings.get("exclude"))
        for variants in ([group] if _same_latents(group) else [[run] for run in group]):
            names = [attribute] + list(dict.fromkeys(n for r in variants for n in (r.settings.get("exclude") or {})))
            frames = variants[0].settings["steps"] + 1
            link = lambda run, name: relative_link(run.folder / name, page_dir)  # noqa: E731
            for case_index, tag in enumerate(variants[0].settings["cases"]):
                rows = []
                for latent in range(variants[0].settings["n_latents"]):
                    cells = []
                    for run in variants:
                        strip = run.strip(case_index, latent)
                        gif = animation_name(strip)
                        cells.append({"strip": link(run, strip),
                                      "gif": link(run, gif) if (run.folder / gif).exists() else None,
                                      "values": _value_rows(run, case_index, latent, names)})
                    rows.append({"index": latent, "original": cells[0]["strip"], "cells": cells})
                sections.append({"attribute": attribute, "case": tag,
                                 "label": _case_label(variants[0].settings, case_index),
                                 "variants": [{"label": exclusion_label(r.settings), "settings": _shown_settings(r)}
                                              for r in variants],
                                 "frames": frames, "frame_px": FRAME_PX, "rows": rows})
    return sections


def _shown_settings(run):
    """The settings an edit row depends on, for the page's settings table."""
    keys = ("method", "attribute", "exclude", "layers", "steps", "step_size", "latents", "n_latents", "generator",
            "generator_sha256", "model_dir", "config", "zero_gradient_steps")
    return {key: run.settings.get(key) for key in keys if key in run.settings}


def write_edit_page(folder, rebuilt=None, name=None):
    """Write ``folder/index.html`` for the edit folder ``folder`` (every attribute it holds) and the GIFs it
    shows: those of attribute ``rebuilt`` (just edited) anew, the others' only where missing or older than
    their strip (:func:`write_animations`); GIFs no strip has any more are removed. ``name``: the folder name
    shown (default ``folder``'s; manipulate.py writes into a temporary folder renamed afterwards) -> the page's
    path."""
    folder = Path(folder)
    runs = read_edit_runs(folder)
    for run in runs:
        write_animations(run, rebuild=run.attribute == rebuilt)
    remove_stale_animations(folder, runs)
    context = {"title": f"Edits in {name or folder.name}", "sections": edit_sections(runs, folder)}
    return write_page(folder, "edits.html", context, PACKAGES)


# ----- evaluation folders (evaluate.py, with --claims the claims report) -----

EVALUATION_REPORTS = (("summary.md", "Method comparison"), ("claims.md", "The paper's claims"))
_INLINE = re.compile(r"(`[^`]+`|\*\*[^*]+\*\*)")


def inline_spans(text):
    """Markdown inline text -> [{"kind": "text" | "code" | "strong", "text"}] (code spans and bold only)."""
    spans = []
    for part in _INLINE.split(text):
        if part.startswith("`") and part.endswith("`") and len(part) > 1:
            spans.append({"kind": "code", "text": part[1:-1]})
        elif part.startswith("**") and part.endswith("**") and len(part) > 3:
            spans.append({"kind": "strong", "text": part[2:-2]})
        elif part:
            spans.append({"kind": "text", "text": part})
    return spans


def markdown_blocks(text):
    """The markdown of a report (headings, paragraphs, ``- `` lists, pipe tables) -> blocks for the template:
    {"kind": "heading", "level", "spans"} | {"kind": "paragraph", "spans"} | {"kind": "list", "items": [spans]}
    | {"kind": "table", "columns": [spans], "rows": [[spans]]}. Anything else is kept as a paragraph of text."""
    blocks, paragraph = [], []

    def flush():
        if paragraph:
            blocks.append({"kind": "paragraph", "spans": inline_spans(" ".join(paragraph))})
            paragraph.clear()

    def cells(line):
        return [inline_spans(cell.strip()) for cell in line.strip().strip("|").split("|")]

    lines = text.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index].rstrip()
        heading = re.match(r"(#{1,6})\s+(.*)", line)
        if heading:
            flush()
            blocks.append({"kind": "heading", "level": len(heading.group(1)), "spans": inline_spans(heading.group(2))})
        elif line.startswith("|"):
            flush()
            table = []
            while index < len(lines) and lines[index].startswith("|"):
                table.append(lines[index])
                index += 1
            index -= 1
            body = [row for row in table[1:] if not re.fullmatch(r"\|?(\s*:?-+:?\s*\|)+\s*:?-*:?\s*", row)]
            blocks.append({"kind": "table", "columns": cells(table[0]), "rows": [cells(row) for row in body]})
        elif line.startswith("- "):
            flush()
            items = []
            while index < len(lines) and lines[index].startswith("- "):
                items.append(inline_spans(lines[index][2:]))
                index += 1
            index -= 1
            blocks.append({"kind": "list", "items": items})
        elif not line.strip():
            flush()
        else:
            paragraph.append(line.strip())
        index += 1
    flush()
    return blocks


def _scalar_settings(settings):
    """The settings of evaluation.json that say how it was made (command, seeds, sizes, inputs)."""
    keys = ("command", "seed", "n_samples", "truncation", "n_boot", "top_k", "small_data_seeds", "small_data_latents",
            "methods", "targets", "scored", "latent_only", "levels", "config", "generator", "model_dir", "data_dir")
    return {key: settings[key] for key in keys if key in settings}


def evaluation_page_context(folder, name=None):
    """What the evaluation page shows, read from the files evaluate.py wrote into ``folder``: the settings of
    ``evaluation.json``, each markdown report of :data:`EVALUATION_REPORTS` present (as blocks), every plot
    (``*.png``) and every CSV (as a table)."""
    folder = Path(folder)
    settings_path = folder / "evaluation.json"
    settings = json.loads(settings_path.read_text(encoding="utf-8")) if settings_path.exists() else {}
    reports = [{"title": title, "file": file, "blocks": markdown_blocks((folder / file).read_text(encoding="utf-8"))}
               for file, title in EVALUATION_REPORTS if (folder / file).exists()]
    plots = sorted(p.name for p in folder.glob("*.png"))
    tables = [csv_table(path) for path in sorted(folder.glob("*.csv"))]
    return {"title": f"Evaluation in {name or folder.name}", "settings": _scalar_settings(settings),
            "notes": settings.get("notes") or [], "reports": reports, "plots": plots, "tables": tables}


def write_evaluation_page(folder, name=None):
    """Write ``folder/index.html`` for the evaluation folder ``folder`` (:func:`evaluation_page_context`);
    ``name``: the folder name shown (default ``folder``'s) -> the page's path."""
    return write_page(folder, "evaluation.html", evaluation_page_context(folder, name), PACKAGES)


# ----- the report linking several runs' pages (python -m gradctrl.report) -----

REPORT_GENERATOR = "gradctrl.report"  # the page's <meta name="generator">: a report may replace only a report


def run_kind(folder):
    """What a run folder holds -> (kind, [summary lines]) from the files its command wrote."""
    folder = Path(folder)
    if (folder / "evaluation.json").exists():
        settings = json.loads((folder / "evaluation.json").read_text(encoding="utf-8"))
        lines = [f"methods: {', '.join(settings.get('methods') or [])}",
                 f"targets: {', '.join(settings.get('targets') or [])}; seed {settings.get('seed')}, "
                 f"{settings.get('n_samples')} held-out latents"]
        if (folder / "claims.md").exists():
            verdicts = next((b for b in markdown_blocks((folder / "claims.md").read_text(encoding="utf-8"))
                             if b["kind"] == "table"), None)
            lines += ["".join(s["text"] for s in row[0]) + ": " + "".join(s["text"] for s in row[-1])
                      for row in (verdicts or {"rows": []})["rows"]]
            return "evaluation with the claims report", lines
        return "evaluation", lines
    runs = read_edit_runs(folder)
    if runs:
        return "edits", [f"{run.attribute}: {run.settings['n_latents']} latent(s), {exclusion_label(run.settings)}"
                         for run in runs]
    if (folder / "training_options.json").exists():
        log = (folder / "log.jsonl").read_text(encoding="utf-8").splitlines() if (folder / "log.jsonl").exists() \
            else []
        last = json.loads(log[-1]) if log else {}
        kid = f", KID {last['kid']:.4g}" if isinstance(last.get("kid"), (int, float)) else ""
        return "training run", [f"{last.get('kimg', 0):g} kimg{kid}"]
    return "page", []


def check_report_dirs(run_dirs, out_dir):
    """The run folders and the report folder as Paths, or UserError: a run folder without a page, the report
    folder among the runs, or a page in the report folder that is not a report's."""
    out_dir = Path(out_dir)
    folders = []
    for text in run_dirs:
        folder = Path(text)
        if not (folder / PAGE_FILE).is_file():
            raise UserError(f"'{text}' holds no results page ({PAGE_FILE}): give the output folder of manipulate.py, "
                            "evaluate.py or python -m stylegan2 train (rerun the command to write its page)")
        if folder.resolve() == out_dir.resolve():
            raise UserError(f"--out_dir '{out_dir}' is also a run folder: its page would be replaced; choose another --out_dir")
        folders.append(folder)
    page = out_dir / PAGE_FILE
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"--out_dir '{out_dir}' exists and is not a folder: choose another path")
    if page.exists() and f'<meta name="generator" content="{REPORT_GENERATOR}">' not in \
            page.read_text(encoding="utf-8", errors="replace"):
        raise UserError(f"--out_dir '{out_dir}' holds an {PAGE_FILE} that is not a report's: choose another --out_dir")
    return folders, out_dir


def report_context(folders, out_dir, title):
    """What the report shows: a row per run folder (a relative link to its page, its kind and summary) and,
    for edit folders inside ``out_dir`` (so every image stays inside it), the edits side by side."""
    out_dir = Path(out_dir)
    runs = []
    for folder in folders:
        kind, summary = run_kind(folder)
        runs.append({"name": folder.resolve().name, "href": relative_link(folder / PAGE_FILE, out_dir),
                     "kind": kind, "summary": summary})
    inside = [folder for folder in folders if out_dir.resolve() in folder.resolve().parents]
    edits = [run for folder in inside for run in read_edit_runs(folder)]
    attributes = [run.attribute for run in edits]
    paired = [run for run in edits if attributes.count(run.attribute) > 1]
    sections = [s for s in edit_sections(paired, out_dir) if len(s["variants"]) > 1]
    return {"title": title, "generator": REPORT_GENERATOR, "runs": runs, "sections": sections}


def write_report_page(run_dirs, out_dir, title="Results"):
    """Write ``out_dir/index.html`` linking the pages of ``run_dirs`` (see :func:`report_context`) -> its path;
    UserError for bad folders (:func:`check_report_dirs`)."""
    folders, out_dir = check_report_dirs(run_dirs, out_dir)
    return write_page(out_dir, "report.html", report_context(folders, out_dir, title), PACKAGES)
