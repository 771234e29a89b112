"""Training speed of ``stylegan2.training`` on this machine: seconds per kimg at 32 and 64 px, float32 vs
bfloat16 convolutions, with the matmul yardsticks measured in the same rounds.

For each preset (``stylegan2.training.PRESETS``: 32 px and 64 px, batch 32) and precision it builds a
Trainer on random images, runs ``--warmup`` iterations (tracing), then times rounds of ``r1_interval``
(16) iterations, so each round holds one lazy R1 step as a real run does. Each round also times a
2048 x 2048 matmul in float32 and in bfloat16, in turn with the trainers, so that load from other
processes hits every figure alike; the medians over ``--rounds`` are printed (s/kimg = seconds per 1000
real images shown, D and G steps and R1 and EMA included).

    python bench/train.py --quick      # 32 px only, 2 rounds (a few minutes on 2 cores)
    python bench/train.py              # 32 and 64 px, 3 rounds
"""
import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def matmul_seconds(tf, dtype):
    """A function timing one 2048 x 2048 matmul in ``dtype`` (2 * 2048^3 FLOP)."""
    a = tf.cast(tf.random.normal([2048, 2048], seed=1), dtype)
    b = tf.cast(tf.random.normal([2048, 2048], seed=2), dtype)
    matmul = tf.function(lambda a, b: tf.matmul(a, b))
    matmul(a, b).numpy()

    def run():
        start = time.perf_counter()
        matmul(a, b).numpy()
        return time.perf_counter() - start
    return run


def trainer_seconds(np, resolution, precision, warmup):
    """A function timing one round of r1_interval iterations of a fresh Trainer; -> (function, batch, interval)."""
    from stylegan2.training import PRESETS, Trainer, TrainingOptions

    images = np.random.RandomState(0).randint(0, 256, (256, resolution, resolution, 3)).astype(np.uint8)
    trainer = Trainer(images, TrainingOptions(**PRESETS[str(resolution)], precision=precision))
    for _ in range(warmup):
        trainer.train_iteration()
    interval = trainer.options.r1_interval

    def run():
        start = time.perf_counter()
        for _ in range(interval):
            trainer.train_iteration()
        return time.perf_counter() - start
    return run, trainer.options.batch_size, interval


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="32 px only, 2 rounds")
    parser.add_argument("--rounds", type=int, default=None, help="timed rounds (default 3; --quick 2)")
    parser.add_argument("--warmup", type=int, default=17, help="untimed iterations first (tracing; default 17)")
    args = parser.parse_args()
    import numpy as np
    import tensorflow as tf

    rounds = args.rounds or (2 if args.quick else 3)
    resolutions = (32,) if args.quick else (32, 64)
    functions = {"matmul float32": matmul_seconds(tf, tf.float32), "matmul bfloat16": matmul_seconds(tf, tf.bfloat16)}
    sizes = {}
    for resolution in resolutions:
        for precision in ("float32", "bfloat16"):
            name = f"{resolution} px {precision}"
            functions[name], batch, interval = trainer_seconds(np, resolution, precision, args.warmup)
            sizes[name] = batch * interval
    times = {name: [] for name in functions}
    for _ in range(rounds):
        for name, function in functions.items():
            times[name].append(function())
    median = {name: statistics.median(values) for name, values in times.items()}
    flop = 2 * 2048 ** 3
    print(f"TensorFlow {tf.__version__}, {rounds} rounds, medians")
    for dtype in ("float32", "bfloat16"):
        print(f"matmul 2048^2 {dtype}: {flop / median[f'matmul {dtype}'] / 1e9:.1f} GFLOP/s")
    print("| px | precision | s/kimg | bfloat16 speed-up |")
    print("| --- | --- | --- | --- |")
    for resolution in resolutions:
        f32 = median[f"{resolution} px float32"] / sizes[f"{resolution} px float32"] * 1000
        bf16 = median[f"{resolution} px bfloat16"] / sizes[f"{resolution} px bfloat16"] * 1000
        print(f"| {resolution} | float32 | {f32:.1f} | |")
        print(f"| {resolution} | bfloat16 | {bf16:.1f} | {f32 / bf16:.2f}x |")


if __name__ == "__main__":
    main()
