"""prepare_data's throughput against pure rendering of the same samples at the same batch size.

    python bench/prepare_data_speed.py [--resolution 32] [--fmap_base 2048] [--fmap_max 128] [--w_dim 128]
                                       [--n 4096] [--batch_size 64] [--part_size 1024]

Builds a random generator, then times (1) rendering + uint8 conversion alone, batch after batch, and
(2) the whole stage (mapping, rendering, the three built-in scorers, part files written on the
background thread) on the same number of samples. Prints both rates and their ratio.
"""
import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--resolution", type=int, default=32)
    parser.add_argument("--fmap_base", type=int, default=2048)
    parser.add_argument("--fmap_max", type=int, default=128)
    parser.add_argument("--w_dim", type=int, default=128)
    parser.add_argument("--n", type=int, default=4096)
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--part_size", type=int, default=1024)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    import stylegan2
    import tensorflow as tf

    from gradctrl.data import sampling
    from gradctrl.data.scorers import make_scorers
    from gradctrl.render import render_originals

    G = stylegan2.random_generator(resolution=args.resolution, architecture="skip", fmap_base=args.fmap_base,
                                   fmap_max=args.fmap_max, z_dim=args.w_dim, w_dim=args.w_dim, mapping_layers=8,
                                   seed=0)
    specs = {"brightness": "builtin:brightness", "warmth": "builtin:warmth", "color": "builtin:color3"}
    plan = sampling.SamplingPlan(generator_sha256="bench", n_samples=args.n, seed=0, truncation=0.7, scorers=specs,
                                 part_size=args.part_size, p_perclass=0.05, p_val=0.3)
    scorers = make_scorers(specs)
    w = sampling.mapped_latents(G, plan, 0, args.n)
    render_originals(G, w[:args.batch_size], args.batch_size)  # trace once
    start = time.perf_counter()
    for lo in range(0, args.n, args.batch_size):
        render_originals(G, w[lo:lo + args.batch_size], args.batch_size)
    render_rate = args.n / (time.perf_counter() - start)
    with tempfile.TemporaryDirectory() as work:
        start = time.perf_counter()
        sampling.run_parts(G, plan, scorers, Path(work) / "parts", args.batch_size, progress=False)
        stage_rate = args.n / (time.perf_counter() - start)
    device = ", ".join(d.name for d in tf.config.list_logical_devices("GPU")) or "CPU"
    print(f"{device}: {args.resolution} px, w_dim {args.w_dim}, batch {args.batch_size}, {args.n} samples")
    print(f"rendering alone: {render_rate:9.1f} samples/s")
    print(f"whole stage:     {stage_rate:9.1f} samples/s  ({100 * stage_rate / render_rate:.0f} % of rendering alone)")


if __name__ == "__main__":
    main()
