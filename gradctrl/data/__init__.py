"""The data stage (``prepare_data.py``): seeded latents (:mod:`~gradctrl.data.latents`), the image scorers that
label rendered samples (:mod:`~gradctrl.data.scorers`), sampling, rendering and scoring in resumable parts
(:mod:`~gradctrl.data.sampling`), the per-attribute selection and split (:mod:`~gradctrl.data.selection`) and
the data directory they write (:mod:`~gradctrl.data.datadir`). It may import stylegan2, gradctrl's top-level
modules and :mod:`gradctrl.world` (the ``world:`` scorer spec), nothing downstream of it."""
