"""The ground-truth world: cartoon faces drawn from known factors with planted correlations, and the exact
scorer that reads every factor back from an image. It owns :mod:`~gradctrl.world.drawing` (the factors,
drawing faces, world data folders and preview grids), :mod:`~gradctrl.world.scorer` (the exact scorer,
training and the shipped one), :mod:`~gradctrl.world.quality` (a generator of the world measured against the
drawn faces) and the command line ``python -m gradctrl.world`` (:mod:`gradctrl.world.__main__`, which runs
:mod:`gradctrl.commands.world_tools`). It may import stylegan2 and gradctrl's top-level modules only, never
another sub-package (:mod:`gradctrl.data.scorers` imports it for the ``world:`` scorer spec). The names below
are re-exported from drawing and scorer, so ``from gradctrl import world; world.draw_faces(...)`` works;
quality is imported as ``gradctrl.world.quality``.

Commands::

    python -m gradctrl.world draw --n_samples 60000 --seed 0 --out_dir DIR [--resolution 32]
    python -m gradctrl.world grid --n_samples 64 --seed 0 --out grid.png [--sweep]
    python -m gradctrl.world train-scorer --out gradctrl/assets/world_scorer.keras [--data DIR]
    python -m gradctrl.world quality --generator G.pkl --data DIR --out_dir OUT
    python -m gradctrl.world snapshots --run RUN --data DIR --out_dir OUT
"""
from .drawing import (CONTROL_PAIRS, FACTORS, GREY_RGB, HAIR_COLOURS, HAIR_RGB, MIN_SMILE, OLD_AGE, PLANTED,
                      PLANTED_PAIRS, SKIN_LIGHT, check_resolution, draw_face, draw_faces, label_table,
                      measured_correlations, mouth_pose, read_world, sample_factors, tile, write_grid, write_world)
from .scorer import (SCORER_OUTPUTS, SCORER_PATH, build_scorer, predict_scores, run_train_scorer, score_labels,
                     scorer_metrics, train_scorer)

__all__ = ["CONTROL_PAIRS", "FACTORS", "GREY_RGB", "HAIR_COLOURS", "HAIR_RGB", "MIN_SMILE", "OLD_AGE", "PLANTED",
           "PLANTED_PAIRS", "SCORER_OUTPUTS", "SCORER_PATH", "SKIN_LIGHT", "build_scorer", "check_resolution",
           "draw_face", "draw_faces", "label_table", "measured_correlations", "mouth_pose", "predict_scores",
           "read_world", "run_train_scorer", "sample_factors", "score_labels", "scorer_metrics", "tile",
           "train_scorer", "write_grid", "write_world"]
