"""The claims' and the tuner's inner loop on the world: render edited latents, score every image by every
attribute. Per image, in the same run and in turn: the loop as it ran before (up-sampling in polyphase form
everywhere, each attribute's scorer its own copy of the world scorer run once per attribute, 16 latents per
batch), and each change alone and together (up-sampling ``auto``: polyphase where XLA fuses a layer,
transposed elsewhere; scorers sharing one model pass (:func:`gradctrl.data.scorers.make_scorers`); 64 latents per
batch), beside a float32 matmul of two 2048 x 2048 matrices as the machine's yardstick.

    python bench/measure_loop.py                       # the shipped world generator, 576 images per variant
    python bench/measure_loop.py --network PKL --images 1152 --rounds 3

The machine is shared: figures vary with its load; the ratios in one run are what to read.
"""
import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import tensorflow as tf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import stylegan2  # noqa: E402
from stylegan2.fast_synthesis import FastSynthesis  # noqa: E402
from gradctrl.data.scorers import make_scorer, make_scorers  # noqa: E402
from gradctrl.world import SCORER_OUTPUTS  # noqa: E402

STEPS = 9  # images per latent and edit (the config's steps)


def synthesis_function(G, upsampling):
    """ws (N, num_ws, w_dim) -> uint8 images through the fast path with ``upsampling``, const noise."""
    fn = tf.function(FastSynthesis(G.synthesis_network, modconv="input", upsampling=upsampling).__call__,
                     autograph=False)
    noise = G.synthesis_network.const_noise
    return lambda ws: stylegan2.to_uint8(fn(tf.constant(ws), noise))


def run_loop(render, scorers, ws, latents_per_batch):
    """As the claims' measurement loop does: images of ``ws`` (M, num_ws, w_dim) rendered latents_per_batch at a
    time, each latents_per_batch x STEPS of them (one batch of latents' edit) scored together."""
    step = latents_per_batch * STEPS
    for start in range(0, len(ws), step):
        chunk = ws[start:start + step]
        images = np.concatenate([render(chunk[i:i + latents_per_batch])
                                 for i in range(0, len(chunk), latents_per_batch)])
        for scorer in scorers.values():
            scorer(images)


def matmul_seconds(size=2048):
    """Seconds of one float32 size x size matmul (after a warm-up)."""
    a = tf.random.normal([size, size])
    tf.matmul(a, a).numpy()
    start = time.perf_counter()
    tf.matmul(a, a).numpy()
    return time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--network", default="gradctrl/assets/world32.pkl", help="a world generator pickle")
    parser.add_argument("--images", type=int, default=576, help="images per variant and round (default 576)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; medians are printed (default 3)")
    args = parser.parse_args(argv)

    G = stylegan2.load_generator(args.network)
    rng = np.random.default_rng(0)
    ws = rng.standard_normal((args.images, G.num_ws, G.w_dim)).astype(np.float32) * 0.7
    specs = {attr: f"world:{attr}" for attr in SCORER_OUTPUTS}
    separate = {attr: make_scorer(spec, attr) for attr, spec in specs.items()}
    shared = make_scorers(specs)
    renders = {mode: synthesis_function(G, mode) for mode in ("polyphase", "auto")}
    variants = {
        "before: polyphase, one scorer pass per attribute, 16 latents": ("polyphase", separate, 16),
        "up-sampling auto": ("auto", separate, 16),
        "shared scorer pass": ("polyphase", shared, 16),
        "64 latents per batch": ("polyphase", separate, 64),
        "after: all three": ("auto", shared, 64),
    }
    for mode, scorers, batch in variants.values():  # warm-up: every graph traced at its batch sizes
        run_loop(renders[mode], scorers, ws[:2 * batch * STEPS], batch)
    times = {name: [] for name in variants}
    yardstick = []
    for _ in range(args.rounds):
        yardstick.append(matmul_seconds())
        for name, (mode, scorers, batch) in variants.items():
            start = time.perf_counter()
            run_loop(renders[mode], scorers, ws, batch)
            times[name].append((time.perf_counter() - start) / args.images)
    matmul = statistics.median(yardstick)
    print(f"{G}, {args.images} images per variant, median of {args.rounds} rounds; "
          f"float32 matmul 2048^3: {2 * 2048 ** 3 / matmul / 1e9:.1f} GFLOP/s")
    print("| variant | ms per image | speed-up over before | images in one matmul's time |")
    print("|---|---|---|---|")
    before = statistics.median(times[next(iter(variants))])
    for name, values in times.items():
        seconds = statistics.median(values)
        print(f"| {name} | {seconds * 1e3:.2f} | {before / seconds:.2f}x | {matmul / seconds:.2f} |")


if __name__ == "__main__":
    main()
