"""The edit stage (``manipulate.py``): GradCtrl's gradient editing with channel exclusion
(:mod:`~gradctrl.edit.editing`), the linear baselines (:mod:`~gradctrl.edit.baselines`), the one registry of
edit methods and edit cases every command uses (:mod:`~gradctrl.edit.methods`), and the edit run that renders
strips and saves trajectories (:mod:`~gradctrl.edit.manipulation`). It may import stylegan2, gradctrl's
top-level modules and :mod:`gradctrl.data`; it takes a latent classifier as an argument and never imports
:mod:`gradctrl.classifier` or the evaluation stage."""
