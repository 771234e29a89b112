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

from stylegan2.atomic import write_bytes
from stylegan2.images import gif_bytes
from stylegan2.pages import PAGE_FILE, csv_table, relative_link, write_page

from .errors import UserError
from .manipulation import SETTINGS_SUFFIX

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


def write_animations(run, rebuild):
    """Write the GIF of every strip of ``run`` whose GIF is missing, or every one when ``rebuild`` (its strips
    were just made). A strip (H, F*H, 3) is split into its F frames of H x H."""
    from PIL import Image

    for strip in run.settings["strips"]:
        target = run.folder / animation_name(strip)
        if rebuild or not target.exists():
            with Image.open(run.folder / strip) as image:
                pixels = np.asarray(image.convert("RGB"))
            size = pixels.shape[0]
            frames = pixels.reshape(size, -1, size, 3).transpose(1, 0, 2, 3)
            write_bytes(target, gif_bytes(frames))


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
    shows: those of attribute ``rebuilt`` (just edited) anew, the others' only where missing; GIFs no strip has
    any more are removed. ``name``: the folder name shown (default ``folder``'s; manipulate.py writes into a
    temporary folder renamed afterwards) -> the page's path."""
    folder = Path(folder)
    runs = read_edit_runs(folder)
    for run in runs:
        write_animations(run, rebuild=run.attribute == rebuilt)
    remove_stale_animations(folder, runs)
    context = {"title": f"Edits in {name or folder.name}", "sections": edit_sections(runs, folder)}
    return write_page(folder, "edits.html", context, PACKAGES)
