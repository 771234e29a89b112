"""Time spent outside rendering in the edit stage (``manipulate``) and the data stage (``prepare_data``).

Both stages run as their CLIs run them (``gradctrl.edit.manipulation.run_edits`` with the gradctrl method,
``gradctrl.data.sampling.run_parts`` with built-in scorers, files written to a temporary folder) on a random
generator with config-f shapes at ``--resolution`` (default 256 px: rendering dominates as with the real
FFHQ generator; the 1024 px one only makes rendering heavier). Every ``G.synthesis`` call is timed, so the
figures are:

- edit overhead = (stage time - synthesis time) / synthesis time (target <= 2 %);
- data preparation throughput (samples/s) / pure rendering throughput (the same batches through
  ``G.synthesis`` and ``to_uint8`` in a loop) (target >= 0.9), and the stage's share of time outside
  synthesis.

The generator is built, its synthesis compiled and the classifier's gradient traced before timing (one-off
costs at any scale).

    python bench/pipeline.py --quick     # 128 px config-f-like, fewer samples (under a minute on 2 cores)
    python bench/pipeline.py             # 256 px (a few minutes)
"""
import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


class TimedGenerator:
    """A Generator whose ``synthesis`` calls are timed (``seconds``, ``images``); everything else passes through."""

    def __init__(self, generator):
        self._generator = generator
        self.seconds = 0.0
        self.images = 0

    def synthesis(self, ws, *args, **kwargs):
        start = time.perf_counter()
        images = self._generator.synthesis(ws, *args, **kwargs)
        self.seconds += time.perf_counter() - start
        self.images += images.shape[0]
        return images

    def __getattr__(self, name):
        return getattr(self._generator, name)


def bench_edits(G, np, n_latents, steps, batch_size, out_dir, log):
    """run_edits on ``n_latents`` latents of a binary attribute (2 edit cases) -> (stage s, synthesis s, images)."""
    from gradctrl.classifier.model import LatentClassifier
    from gradctrl.edit.editing import edit_trajectory
    from gradctrl.edit.manipulation import run_edits
    from gradctrl.edit.methods import EditContext, edit_cases

    clf = LatentClassifier(G.w_dim, ["light", "hue"], {"light": 1, "hue": 3}, seed=1)
    w = np.asarray(G.mapping(np.random.RandomState(0).standard_normal((n_latents, G.z_dim)).astype(np.float32),
                             truncation_psi=0.7))[:, 0]
    timed = TimedGenerator(G)
    context = EditContext(clf, timed)
    edit_trajectory(clf, w, "light", 1, None, {"hue": 100}, steps, 4 / 9)  # trace the gradient function once
    start = time.perf_counter()
    cases = edit_cases("light", 1, exclude={"hue": 100}, steps=steps, layers=(0, G.num_ws))
    run_edits(context, "gradctrl_exclude", w, cases, out_dir, batch_size=batch_size, log=lambda message: None)
    total = time.perf_counter() - start
    log(f"manipulate: {n_latents} latents x 2 cases x ({steps} steps + original), batch {batch_size}: "
        f"{timed.images} images in {total:.2f} s, synthesis {timed.seconds:.2f} s -> edit overhead "
        f"{(total - timed.seconds) / timed.seconds * 100:.2f} % of rendering time")
    return total, timed.seconds


def bench_data(G, np, n_samples, batch_size, parts_dir, log):
    """run_parts vs the same renders in a loop -> (stage throughput / rendering throughput)."""
    import stylegan2
    from gradctrl.data import sampling
    from gradctrl.data.scorers import make_scorers

    specs = {"light": "builtin:brightness", "hue": "builtin:color3"}
    plan = sampling.SamplingPlan(generator_sha256="0" * 64, n_samples=n_samples, seed=0, truncation=0.7,
                                 scorers=specs, part_size=max(batch_size, n_samples // 2), p_perclass=0.1, p_val=0.3)
    scorers = make_scorers(specs)
    w = sampling.mapped_latents(G, plan, 0, n_samples)
    ws = np.repeat(w[:, None], G.num_ws, axis=1)
    start = time.perf_counter()
    for lo in range(0, n_samples, batch_size):
        stylegan2.to_uint8(G.synthesis(ws[lo:lo + batch_size], noise_mode="const"))
    pure = time.perf_counter() - start
    timed = TimedGenerator(G)
    start = time.perf_counter()
    sampling.run_parts(timed, plan, scorers, parts_dir, batch_size, progress=False)
    stage = time.perf_counter() - start
    ratio = pure / stage
    log(f"prepare_data: {n_samples} samples, batch {batch_size}: stage {n_samples / stage:.2f} samples/s "
        f"({stage:.2f} s, synthesis {timed.seconds:.2f} s: {(stage - timed.seconds) / stage * 100:.1f} % of the time "
        f"outside rendering); pure rendering {n_samples / pure:.2f} images/s ({pure:.2f} s) -> "
        f"{ratio:.3f} x rendering throughput")
    return ratio


def main(argv=None):
    parser = argparse.ArgumentParser(prog="bench/pipeline.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="128 px, 4 latents, 32 samples")
    parser.add_argument("--resolution", type=int, default=256, help="config-f-like generator size (256)")
    parser.add_argument("--latents", type=int, default=8, help="latents edited (8)")
    parser.add_argument("--steps", type=int, default=9, help="edit steps (9)")
    parser.add_argument("--samples", type=int, default=96, help="samples prepared (96)")
    parser.add_argument("--batch_size", type=int, default=8, help="batch size of both stages (8)")
    args = parser.parse_args(argv)
    if args.quick:
        args.resolution, args.latents, args.samples = 128, 4, 32
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import numpy as np

    import stylegan2
    from bench.generator import CONFIG_F

    log = lambda text: print(text, flush=True)  # noqa: E731
    G = stylegan2.random_generator(resolution=args.resolution, seed=0, **CONFIG_F)
    log(f"generator: {args.resolution} px config-f-like skip ({G.num_ws} W+ layers, w_dim {G.w_dim}), fast path")
    for n in sorted({1, args.batch_size, args.samples % args.batch_size} - {0}):  # compile every batch size used
        G.synthesis(np.zeros((n, G.num_ws, G.w_dim), np.float32))
    with tempfile.TemporaryDirectory() as tmp:
        bench_edits(G, np, args.latents, args.steps, args.batch_size, Path(tmp) / "edits", log)
        bench_data(G, np, args.samples, args.batch_size, Path(tmp) / "parts", log)


if __name__ == "__main__":
    main()
