"""The latent classifiers GradCtrl edits with (``train.py``): the per-attribute network on w, its files and the
authors' released ones (:mod:`~gradctrl.classifier.model`), and its training on a data directory's selected
samples (:mod:`~gradctrl.classifier.training`). It may import stylegan2, gradctrl's top-level modules,
:mod:`gradctrl.formats` and :mod:`gradctrl.data`, never the edit or evaluation stages."""
