"""Measuring and showing edits (``evaluate.py``, ``tune.py``, ``figures.py``): the method comparison
(:mod:`~gradctrl.evaluate.evaluation`) and its curves (:mod:`~gradctrl.evaluate.curves`), the paper's claims
(:mod:`~gradctrl.evaluate.claims`, :mod:`~gradctrl.evaluate.claims_report`), the exclusion tuner
(:mod:`~gradctrl.evaluate.tuning`), the reports and results pages (:mod:`~gradctrl.evaluate.reports`,
:mod:`~gradctrl.evaluate.pages`) and paper-style figures (:mod:`~gradctrl.evaluate.paper_figures`). It is the
last stage: it may import stylegan2, gradctrl's top-level modules, :mod:`gradctrl.data`,
:mod:`gradctrl.classifier` and :mod:`gradctrl.edit`, and nothing but the commands imports it."""
