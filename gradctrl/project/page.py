"""The results page of a ``project.py`` folder (``index.html``, issue 23): the reconstructions, a row per
image (source name, pixel error, image distance at the first and last step), the image distance over the
steps and, with pivotal tuning, its loss over the tuning steps, the settings and links to the files."""
import numpy as np

from stylegan2.pages import line_plot, write_page


def projection_page_context(settings, distance, tune_loss, resolution, files):
    """The template context of a projection page.

    settings: the folder's project.json as a dict; distance (N, steps): the image distance of every image at
    every step; tune_loss (T, 2) or None: pivotal tuning's fit and locality terms per step; resolution: the
    images' side in px; files: the names of the folder's files to link.
    """
    distance = np.asarray(distance, np.float64)
    errors = settings["pixel_mean_abs_error"]
    before = settings.get("pixel_mean_abs_error_before_tuning") or errors
    rows = [[name, f"{e:.4f}", f"{b:.4f}", f"{d[0]:.4f}", f"{d[-1]:.4f}"]
            for name, e, b, d in zip(settings["names"], errors, before, distance)]
    steps = np.arange(1, distance.shape[1] + 1)
    distance_plot = line_plot([("mean over images", list(zip(steps.tolist(), distance.mean(axis=0).tolist())))]
                              + ([(f"{settings['names'][0]}", list(zip(steps.tolist(), distance[0].tolist())))]
                                 if len(distance) > 1 else []), "step", "image distance")
    tune_plot = None
    if tune_loss is not None and len(tune_loss):
        tune_loss = np.asarray(tune_loss, np.float64)
        tune_steps = np.arange(1, len(tune_loss) + 1).tolist()
        tune_plot = line_plot([("fit", list(zip(tune_steps, tune_loss[:, 0].tolist()))),
                               ("locality", list(zip(tune_steps, tune_loss[:, 1].tolist())))],
                              "tuning step", "loss")
    shown = {key: value for key, value in settings.items()
             if key not in ("names", "pixel_mean_abs_error", "pixel_mean_abs_error_before_tuning", "arrays")}
    return {"title": f"Projection into {settings['space']}: {len(rows)} image(s)",
            "table": {"caption": "per image: mean absolute pixel error (a fraction of 255), before pivotal tuning, "
                                 "and the image distance at the first and the last step",
                      "columns": ["source", "pixel error", "before tuning", "distance at step 1",
                                  f"distance at step {distance.shape[1]}"], "rows": rows},
            "reconstructions": "reconstructions.png", "scale_width": 3 * resolution * max(1, 128 // resolution),
            "distance_plot": distance_plot, "tune_plot": tune_plot, "settings": shown, "files": files,
            "generator": "gradctrl project.py"}


def write_projection_page(folder, settings, distance, tune_loss, resolution, files):
    """Write ``folder/index.html`` for a projection (arguments as :func:`projection_page_context`) -> its path."""
    return write_page(folder, "projection.html",
                      projection_page_context(settings, distance, tune_loss, resolution, files),
                      packages=("gradctrl",))
