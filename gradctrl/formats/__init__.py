"""The files gradctrl reads that others write or edit: the GradCtrl authors' released classifiers, pickled
arrays and data layout (:mod:`~gradctrl.formats.authors`, read without PyTorch or stored code), and the TOML
config file of a generator, its attributes and every stage's defaults (:mod:`~gradctrl.formats.config`). It
may import stylegan2, gradctrl's top-level modules and :mod:`gradctrl.data` (the data directory's format and
latent files), nothing downstream of it."""
