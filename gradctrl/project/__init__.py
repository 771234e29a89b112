"""Projection (``project.py``): fitting latents in W or W+ to real images with NVIDIA's projector recipe
(:mod:`~gradctrl.project.projection`) and reading the target images (:mod:`~gradctrl.project.targets`). It may
import stylegan2, gradctrl's top-level modules and :mod:`gradctrl.data` (seeded latents), nothing else."""
