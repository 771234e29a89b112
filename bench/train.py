"""Training speed of ``stylegan2.training`` on this machine: seconds per kimg at 32 and 64 px, float32 vs
bfloat16 convolutions, today's training path vs the polyphase up-sampling it replaced, with the matmul
yardsticks measured in the same rounds; ``--profile`` adds where the time goes.

For each preset (``stylegan2.training.PRESETS``: 32 px and 64 px, batch 32) and variant it builds a Trainer on
random images, runs ``--warmup`` iterations (tracing), then times rounds of ``r1_interval`` (16) iterations,
so each round holds one lazy R1 step as a real run does. Each round also times a 2048 x 2048 matmul in
float32 and in bfloat16, in turn with the trainers, so that load from other processes hits every figure
alike; the medians over ``--rounds`` are printed (s/kimg = seconds per 1000 real images shown, D and G steps
and R1 and EMA included). The variants: float32 and bfloat16 on the training path (transposed up-sampling,
FIR passes as matmuls), and float32 on the reference path (the inference path's polyphase up-sampling,
what training ran before).

``--profile`` times each phase alone (D main, lazy R1, G main, EMA) on the float32 training path, counts
the FLOPs of a kimg from the shapes of the convolutions and matmuls in the compiled steps (forward and
backward, 2 per multiply-add), and prints the achieved GFLOP/s against the float32 matmul rate and the share
of time that is not arithmetic at that rate. With ``xprof`` installed (``pip install xprof``) it also traces
16 iterations and prints the time per op kind.

    python bench/train.py --quick             # 32 px only, 2 rounds (a few minutes on 2 cores)
    python bench/train.py --profile           # 32 and 64 px, 3 rounds, and the profile
"""
import argparse
import collections
import glob
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stylegan2.cpu import amx_flags, cpu_flags  # noqa: E402  (the checkout first on the path)

# Shapes whose arithmetic is counted: op type -> function(op) -> FLOPs (2 per multiply-add).
def _conv_flops(op):
    """Conv2D, Conv2DBackpropInput/Filter (and conv2d_transpose, which is Conv2DBackpropInput): 2 x the
    products of the forward convolution, from its filter and its output (or output gradient) shapes."""
    if op.type == "Conv2D":
        kh, kw, i, _ = op.inputs[1].shape
        n, h, w, o = op.outputs[0].shape
    elif op.type == "Conv2DBackpropInput":
        kh, kw, i, o = op.inputs[1].shape
        n, h, w, _ = op.inputs[2].shape
    else:  # Conv2DBackpropFilter: inputs (input, filter_sizes, out_backprop)
        kh, kw, i, o = op.outputs[0].shape
        n, h, w, _ = op.inputs[2].shape
    return 2 * n * h * w * o * kh * kw * i


def _matmul_flops(op):
    """MatMul / BatchMatMulV2: 2 x batch x M x N x K from the output and the contracted dimension."""
    a = op.inputs[0].shape
    k = a[-2] if op.get_attr("adj_x" if op.type.startswith("Batch") else "transpose_a") else a[-1]
    return 2 * int(np.prod(op.outputs[0].shape)) * k


FLOP_COUNTERS = {"Conv2D": _conv_flops, "Conv2DBackpropInput": _conv_flops, "Conv2DBackpropFilter": _conv_flops,
                 "MatMul": _matmul_flops, "BatchMatMulV2": _matmul_flops}


def graph_flops(concrete_function):
    """FLOPs of one call of a concrete tf.function, counted over its convolutions and matmuls (static shapes;
    ops in nested functions included) -> (total, {op type: FLOPs})."""
    by_type = collections.Counter()
    graphs = [concrete_function.graph]
    while graphs:
        graph = graphs.pop()
        graphs.extend(f.graph for f in getattr(graph, "_functions", {}).values() if hasattr(f, "graph"))
        for op in graph.get_operations():
            counter = FLOP_COUNTERS.get(op.type)
            if counter is not None and all(d is not None for t in list(op.inputs) + list(op.outputs)
                                           for d in (t.shape if t.shape.rank is not None else [None])):
                by_type[op.type] += counter(op)
    return sum(by_type.values()), by_type


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


def build_trainer(resolution, precision, upsampling, warmup):
    """A Trainer of the preset at ``resolution`` on random images, its synthesis using ``upsampling``, after
    ``warmup`` iterations."""
    from stylegan2.fast_synthesis import FastSynthesis
    from stylegan2.training import PRESETS, Trainer, TrainingOptions

    images = np.random.RandomState(0).randint(0, 256, (256, resolution, resolution, 3)).astype(np.uint8)
    trainer = Trainer(images, TrainingOptions(**PRESETS[str(resolution)], precision=precision))
    if upsampling != "transposed":
        trainer._synthesis = FastSynthesis(trainer.G.synthesis_network, modconv="input", precision=precision,
                                           xla=False, bfloat16_from=4, upsampling=upsampling)
    for _ in range(warmup):
        trainer.train_iteration()
    return trainer


def round_seconds(trainer):
    """A function timing one round of r1_interval iterations of ``trainer``; -> (function, images per round)."""
    interval = trainer.options.r1_interval

    def run():
        start = time.perf_counter()
        for _ in range(interval):
            trainer.train_iteration()
        return time.perf_counter() - start
    return run, trainer.options.batch_size * interval


def phase_profile(tf, trainer, matmul_rate, repeats):
    """Each phase of an iteration timed alone (median of ``repeats``) with its counted FLOPs -> rows of
    (phase, ms per iteration, GFLOP per iteration, GFLOP/s, share of the float32 matmul rate)."""
    o = trainer.options
    reals = tf.constant(trainer.reals(0))
    it = tf.constant(1, tf.int64)
    beta = tf.constant(0.99)
    phases = [("D main", trainer.d_step, (reals, it), 1.0),
              ("lazy R1", trainer.d_reg_step, (reals,), 1.0 / o.r1_interval),
              ("G main", trainer.g_step, (it,), 1.0),
              ("EMA", trainer.ema_step, (beta,), 1.0)]
    rows = []
    for name, step, args, per_iteration in phases:
        flops = graph_flops(step.get_concrete_function(*args))[0]
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            tf.nest.map_structure(lambda t: t.numpy() if hasattr(t, "numpy") else t, step(*args))
            times.append(time.perf_counter() - start)
        seconds = statistics.median(times)
        rate = flops / seconds / 1e9 if seconds > 0 else 0.0
        rows.append((name, seconds * per_iteration * 1e3, flops * per_iteration / 1e9, rate, rate / matmul_rate))
    return rows


def op_kind_profile(tf, trainer):
    """Time per op kind over 16 traced iterations (xprof's framework op stats), or None without xprof ->
    list of (op kind, ms per iteration, share), largest first."""
    try:
        from xprof.convert import raw_to_tool_data
    except ImportError:
        return None
    with tempfile.TemporaryDirectory() as logdir:
        tf.profiler.experimental.start(logdir)
        for _ in range(16):
            trainer.train_iteration()
        tf.profiler.experimental.stop()
        data, _ = raw_to_tool_data.xspace_to_tool_data(glob.glob(f"{logdir}/plugins/profile/*/*.xplane.pb"),
                                                        "framework_op_stats^", {})
    table = json.loads(data)[0]
    columns = [c["id"] for c in table["cols"]]
    totals = collections.Counter()
    for row in table["rows"]:
        values = dict(zip(columns, [cell.get("v") if cell else None for cell in row["c"]]))
        totals[values["type"]] += values["total_self_time"]
    whole = sum(totals.values())
    return [(kind, us / 16 / 1e3, us / whole) for kind, us in totals.most_common(12)]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="32 px only, 2 rounds")
    parser.add_argument("--rounds", type=int, default=None, help="timed rounds (default 3; --quick 2)")
    parser.add_argument("--warmup", type=int, default=17, help="untimed iterations first (tracing; default 17)")
    parser.add_argument("--profile", action="store_true", help="per-phase times, FLOPs and op kinds as well")
    args = parser.parse_args()
    import tensorflow as tf

    rounds = args.rounds or (2 if args.quick else 3)
    resolutions = (32,) if args.quick else (32, 64)
    variants = [("float32", "transposed"), ("bfloat16", "transposed"), ("float32", "polyphase")]
    functions = {"matmul float32": matmul_seconds(tf, tf.float32), "matmul bfloat16": matmul_seconds(tf, tf.bfloat16)}
    sizes, trainers = {}, {}
    for resolution in resolutions:
        for precision, upsampling in variants:
            name = (resolution, precision, upsampling)
            trainers[name] = build_trainer(resolution, precision, upsampling, args.warmup)
            functions[name], sizes[name] = round_seconds(trainers[name])
    times = {name: [] for name in functions}
    for _ in range(rounds):
        for name, function in functions.items():
            times[name].append(function())
    median = {name: statistics.median(values) for name, values in times.items()}
    flop = 2 * 2048 ** 3
    rate = {dtype: flop / median[f"matmul {dtype}"] / 1e9 for dtype in ("float32", "bfloat16")}
    flags = cpu_flags()
    print(f"TensorFlow {tf.__version__}, {rounds} rounds, medians; CPU AMX flags: {' '.join(amx_flags()) or 'none'}"
          f"; avx512_bf16: {'yes' if 'avx512_bf16' in flags else 'no'}")
    for dtype in ("float32", "bfloat16"):
        print(f"matmul 2048^2 {dtype}: {rate[dtype]:.1f} GFLOP/s")
    print("| px | precision | up-sampling | s/kimg | vs float32 training path |")
    print("| --- | --- | --- | --- | --- |")
    for resolution in resolutions:
        base = median[(resolution, "float32", "transposed")] / sizes[(resolution, "float32", "transposed")] * 1000
        for precision, upsampling in variants:
            name = (resolution, precision, upsampling)
            seconds = median[name] / sizes[name] * 1000
            print(f"| {resolution} | {precision} | {upsampling} | {seconds:.1f} | {base / seconds:.2f}x speed |")
    if not args.profile:
        return
    for resolution in resolutions:
        trainer = trainers[(resolution, "float32", "transposed")]
        rows = phase_profile(tf, trainer, rate["float32"], repeats=5)
        total_ms = sum(row[1] for row in rows)
        total_gflop = sum(row[2] for row in rows)
        kimg_scale = 1000 / trainer.options.batch_size
        print(f"\n{resolution} px float32, one iteration (batch {trainer.options.batch_size}), phases timed alone:")
        print("| phase | ms / iteration | GFLOP / iteration | GFLOP/s | of matmul rate |")
        print("| --- | --- | --- | --- | --- |")
        for name, ms, gflop, achieved, share in rows:
            print(f"| {name} | {ms:.1f} | {gflop:.2f} | {achieved:.1f} | {share:.0%} |")
        arithmetic_ms = total_gflop / rate["float32"] * 1e3
        print(f"| all | {total_ms:.1f} | {total_gflop:.2f} | {total_gflop / total_ms * 1e3:.1f} | "
              f"{total_gflop / total_ms * 1e3 / rate['float32']:.0%} |")
        print(f"a kimg: {total_gflop * kimg_scale / 1e3:.2f} TFLOP, {total_ms * kimg_scale / 1e3:.1f} s; not "
              f"arithmetic at the matmul rate: {1 - arithmetic_ms / total_ms:.0%} of the time")
        kinds = op_kind_profile(tf, trainer)
        if kinds is None:
            print("(op kinds: pip install xprof to trace them)")
            continue
        print("| op kind | ms / iteration (summed over threads) | share |")
        print("| --- | --- | --- |")
        for kind, ms, share in kinds:
            print(f"| {kind} | {ms:.1f} | {share:.1%} |")


if __name__ == "__main__":
    main()
