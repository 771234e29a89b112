"""GradCtrl: gradient-based multi-directional controls on a StyleGAN2 latent space.

Layout, by pipeline stage (each sub-package's docstring says what it owns and may import):

- :mod:`gradctrl.world`: the ground-truth world of drawn faces, its exact scorer and its quality measure;
- :mod:`gradctrl.data`: latents, image scorers, sampling, selection and the data directory (prepare_data.py);
- :mod:`gradctrl.formats`: the files others write: the authors' released files and the config file;
- :mod:`gradctrl.classifier`: the latent classifiers and their training (train.py);
- :mod:`gradctrl.edit`: gradient editing, the baselines, the registry of edit methods, edit runs (manipulate.py);
- :mod:`gradctrl.evaluate`: the method comparison, curves, claims, tuning, reports, pages and figures
  (evaluate.py, tune.py, figures.py);
- :mod:`gradctrl.project`: projecting real images into W or W+ (project.py);
- :mod:`gradctrl.commands`: the command lines behind every CLI.

Small modules every stage uses stay at the top level: ``errors`` (the bad-input error), ``files`` (the output
layer), ``options`` (flag and number checks), ``generators`` (opening the generator), ``render`` (latents to
images and strips) and ``ray_tasks`` (a command's shards as Ray tasks); they import no sub-package. ``report``
is the command ``python -m gradctrl.report``. ``methods``, ``baselines``, ``datadir`` and ``scorers`` are the
old paths of moved modules that the docs showed imported, kept for one release (:mod:`gradctrl.old_paths`).

Imports go one way, from later stages to earlier ones and to the top-level modules:
world <- data <- formats <- classifier; data <- edit; data <- project; data, classifier, edit <- evaluate;
everything <- commands. The world and the data stage never import the edit or evaluation stages, and no two
sub-packages import each other. The names below are the library's entry points for editing in Python.
"""
from .classifier.model import LatentClassifier, load_classifier, save_classifier
from .edit.editing import edit_trajectory, trace_edit
from .errors import UserError

__all__ = ["LatentClassifier", "UserError", "edit_trajectory", "load_classifier", "save_classifier", "trace_edit"]
