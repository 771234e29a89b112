"""Synthesis speed of the StyleGAN2 generator on this machine: fast path vs the straightforward per-layer path.

For random generators with config-f shapes (``stylegan2.random_generator``, fmap_base 16384, fmap_max 512:
512 channels up to 64 px, then 256 @ 128, 128 @ 256, 64 @ 512, 32 @ 1024; 8 mapping layers, w_dim 512) at
each resolution and batch size it prints seconds per image (median of ``--repeats`` runs after a warm-up),
achieved GFLOP/s of synthesis, the ratio to ``tf.matmul`` of two 2048 x 2048 float32 matrices, the speed-up
of the fast path over the straightforward path, the bfloat16 mode's speed and error against float32 (all
measured in the same rounds: each round times the matmul and every path once, in turn), and the peak
memory (peak RSS, VmHWM, of a fresh child process) after 1, 10, half and all ``--memory_batches`` batches.

FLOP count (printed): 2 * kh * kw * C_in * C_out per output pixel of every convolution (3x3 layers and the
1x1 ToRGB layers), with the up-sampling convolution counted at its input resolution, as a transposed
convolution does (it computes kh * kw products per input pixel). Modulation, FIR filters, activations and
the mapping network are not counted. Config-f 1024: 148.5 GFLOP per image.

    python bench/generator.py --quick          # 256 px, batches 1 and 4 (about a minute on 2 cores)
    python bench/generator.py                  # 256 and 1024 px, batches 1, 4, 8 (several minutes)

The machine is shared: figures vary with its load; repeat a run to see the spread.
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CONFIG_F = dict(architecture="skip", fmap_base=16384, fmap_max=512, z_dim=512, w_dim=512, mapping_layers=8)


def synthesis_flops(resolution, fmap_base=16384, fmap_max=512, img_channels=3):
    """Multiply-add FLOPs (2 per product) of one synthesis of a skip generator: (total, list of (layer, GFLOP))."""
    import numpy as np

    def nf(stage):
        return int(np.clip(int(fmap_base / 2.0 ** stage), 1, fmap_max))

    rows = [("4x4/Conv", 2 * 9 * nf(1) ** 2 * 16), ("4x4/ToRGB", 2 * nf(1) * img_channels * 16)]
    for res in range(3, int(np.log2(resolution)) + 1):
        r = 2 ** res
        rows.append((f"{r}x{r}/Conv0_up", 2 * 9 * nf(res - 2) * nf(res - 1) * (r // 2) ** 2))
        rows.append((f"{r}x{r}/Conv1", 2 * 9 * nf(res - 1) ** 2 * r * r))
        rows.append((f"{r}x{r}/ToRGB", 2 * nf(res - 1) * img_channels * r * r))
    return sum(f for _, f in rows), rows


def interleaved(functions, repeats):
    """{name: median seconds} of ``repeats`` rounds calling every function once per round, in turn, after one
    warm-up call each: load changes on a shared machine then hit every figure alike."""
    for function in functions.values():
        function()
    times = {name: [] for name in functions}
    for _ in range(repeats):
        for name, function in functions.items():
            start = time.perf_counter()
            function()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def matmul_function(tf):
    """A call of tf.matmul of two 2048 x 2048 float32 matrices (2 * 2048^3 FLOP)."""
    a = tf.random.normal([2048, 2048], seed=1)
    b = tf.random.normal([2048, 2048], seed=2)
    matmul = tf.function(lambda a, b: tf.matmul(a, b))
    return lambda: matmul(a, b).numpy()


def render_function(G, ws):
    return lambda: G.synthesis(ws).numpy()


def bench_resolution(tf, np, stylegan2, resolution, batches, repeats, reference, bf16, log, jit=False):
    from stylegan2.generator import Generator

    build = time.perf_counter()
    G = stylegan2.random_generator(resolution=resolution, seed=0, **CONFIG_F)
    log(f"\n== {resolution} px config-f-like skip generator (built in {time.perf_counter() - build:.1f} s) ==")
    flops, _ = synthesis_flops(resolution)
    log(f"synthesis: {flops / 1e9:.2f} GFLOP per image (convolutions incl. ToRGB; up-sampling conv at its input "
        "resolution)")
    G_ref = Generator(G.state, fast=False) if reference else None
    G_bf16 = Generator(G.state, precision="bfloat16") if bf16 else None
    G_jit = Generator(G.state, jit_compile=True) if jit else None
    rows = []
    matmul = matmul_function(tf)
    for batch in batches:
        z = np.random.RandomState(batch).standard_normal((batch, G.z_dim)).astype(np.float32)
        ws = G.mapping(z, truncation_psi=0.7)
        functions = {"matmul": matmul, "fast": render_function(G, ws)}
        if reference:
            functions["reference"] = render_function(G_ref, ws)
        if bf16:
            functions["bfloat16"] = render_function(G_bf16, ws)
        if jit:
            start = time.perf_counter()
            G_jit.synthesis(ws).numpy()
            compile_seconds = time.perf_counter() - start
            functions["jit"] = render_function(G_jit, ws)
        seconds = interleaved(functions, repeats)
        fast = seconds["fast"] / batch
        rate = 2 * 2048 ** 3 / seconds["matmul"] / 1e9
        row = dict(resolution=resolution, batch=batch, s_per_image=fast, gflops=flops / fast / 1e9,
                   matmul_gflops=rate, ratio=flops / fast / 1e9 / rate)
        text = (f"batch {batch}: {fast:.3f} s/image, {row['gflops']:.1f} GFLOP/s = {row['ratio'] * 100:.0f} % of "
                f"matmul ({rate:.1f} GFLOP/s)")
        if reference:
            ref = seconds["reference"] / batch
            row.update(reference_s_per_image=ref, speedup=ref / fast)
            text += f"; straightforward path {ref:.3f} s/image -> speed-up {ref / fast:.2f}x"
        if bf16:
            low = seconds["bfloat16"] / batch
            images32 = np.asarray(G.synthesis(ws))
            error = np.abs(np.asarray(G_bf16.synthesis(ws)) - images32)
            row.update(bf16_s_per_image=low, bf16_max_abs_error=float(error.max()),
                       bf16_mean_abs_error=float(error.mean()))
            text += (f"; bfloat16 {low:.3f} s/image, error vs float32 max {error.max():.3g} mean {error.mean():.3g} "
                     "(images in [-1, 1])")
        if jit:
            row.update(jit_s_per_image=seconds["jit"] / batch, jit_first_call_s=compile_seconds)
            text += (f"; whole synthesis XLA-compiled (jit_compile=True) {seconds['jit'] / batch:.3f} s/image after a "
                     f"{compile_seconds:.1f} s first call")
        log(text)
        rows.append(row)
    return rows


def memory_child(resolution, batch, count):
    """Child process body: render ``count`` batches in a row; print the peak RSS (MiB) after batch 1, 10,
    count / 2 and count (as JSON {batches: MiB})."""
    import numpy as np

    import stylegan2

    G = stylegan2.random_generator(resolution=resolution, seed=0, **CONFIG_F)
    rng = np.random.RandomState(0)
    marks = sorted({1, min(10, count), max(count // 2, 1), count})
    peaks = {}
    for index in range(1, count + 1):
        ws = G.mapping(rng.standard_normal((batch, G.z_dim)).astype(np.float32))
        G.synthesis(ws).numpy()
        if index in marks:
            peaks[index] = peak_rss_mib()
    print(json.dumps(peaks))


def peak_rss_mib():
    """This process's peak resident memory (VmHWM, MiB). Unlike getrusage's ru_maxrss it is not inherited
    from the parent across fork and exec, so a child measures only itself."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def memory_peaks(resolution, batch, count):
    """{batches rendered: peak RSS MiB} from a fresh child process (see :func:`memory_child`)."""
    out = subprocess.run([sys.executable, __file__, "--memory_child", f"{resolution},{batch},{count}"],
                         check=True, capture_output=True, text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    return {int(k): v for k, v in json.loads(out.stdout.strip().splitlines()[-1]).items()}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="bench/generator.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="256 px only, batches 1 and 4, 3 repeats")
    parser.add_argument("--resolutions", default="256,1024", help="comma-separated resolutions (256,1024)")
    parser.add_argument("--batches", default="1,4,8", help="comma-separated batch sizes (1,4,8)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per figure after one warm-up (3)")
    parser.add_argument("--no_reference", action="store_true", help="skip the straightforward path")
    parser.add_argument("--no_bf16", action="store_true", help="skip the bfloat16 mode")
    parser.add_argument("--jit", action="store_true", help="also time the whole synthesis compiled by XLA")
    parser.add_argument("--memory_batches", type=int, default=50, help="batches in a row for the memory check (50; 0: skip)")
    parser.add_argument("--memory_batch", type=int, default=4, help="batch size of the memory check (4)")
    parser.add_argument("--threads", help="INTRA,INTER: TensorFlow's intra-op and inter-op thread counts "
                        "(default: TensorFlow's choice, one per core for each)")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    parser.add_argument("--memory_child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_child:
        memory_child(*(int(v) for v in args.memory_child.split(",")))
        return
    resolutions = [256] if args.quick else [int(v) for v in args.resolutions.split(",")]
    batches = [1, 4] if args.quick else [int(v) for v in args.batches.split(",")]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import numpy as np
    import tensorflow as tf

    import stylegan2

    if args.threads:
        intra, inter = (int(v) for v in args.threads.split(","))
        tf.config.threading.set_intra_op_parallelism_threads(intra)
        tf.config.threading.set_inter_op_parallelism_threads(inter)
    log = lambda text: print(text, flush=True)  # noqa: E731
    log(f"TensorFlow {tf.__version__}, {os.cpu_count()} CPU(s), intra-op threads "
        f"{tf.config.threading.get_intra_op_parallelism_threads() or 'default'}, inter-op "
        f"{tf.config.threading.get_inter_op_parallelism_threads() or 'default'}")
    results = {"rows": [], "memory": []}
    for resolution in resolutions:
        results["rows"] += bench_resolution(tf, np, stylegan2, resolution, batches, args.repeats,
                                            not args.no_reference, not args.no_bf16, log, args.jit)
    if args.memory_batches > 0:
        for resolution in resolutions:
            peaks = memory_peaks(resolution, args.memory_batch, args.memory_batches)
            log(f"memory, {resolution} px, batch {args.memory_batch}: peak RSS after " +
                ", ".join(f"{n} batch(es) {mib:.0f} MiB" for n, mib in peaks.items()) + " in a row")
            results["memory"].append(dict(resolution=resolution, batch=args.memory_batch, peak_mib=peaks))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
