"""Synthesis speed of the StyleGAN2 generator on this machine: fast path vs the straightforward per-layer path.

For random generators with config-f shapes (``stylegan2.random_generator``, fmap_base 16384, fmap_max 512:
512 channels up to 64 px, then 256 @ 128, 128 @ 256, 64 @ 512, 32 @ 1024; 8 mapping layers, w_dim 512) at
each resolution and batch size it prints seconds per image (median of ``--repeats`` runs after a warm-up),
achieved GFLOP/s of synthesis, the ratio to ``tf.matmul`` of two 2048 x 2048 float32 matrices, the speed-up
of the fast path over the straightforward path, the bfloat16 mode's speed (and the bfloat16 matmul's speed
against the float32 one: the yardstick of what bfloat16 can gain on this CPU) and its error against float32
(all measured in the same rounds: each round times both matmuls and every path once, in turn). Then, each
in a fresh child process: the first-call cost (the first call of a process, which compiles, and the first
call at a new batch size, against a normal call), and the peak memory (peak RSS, VmHWM) of float32 and of
bfloat16 after 1, half and all ``--memory_batches`` batches in a row. It also prints the CPU's AMX flags and
which oneDNN kernels a bfloat16 convolution and matmul take here (from ONEDNN_VERBOSE=1 in a child).

Errors are taken on the raw images and on the images clipped to [-1, 1] (what 8-bit renders keep): random
generators' raw images spread wider than trained ones' (std about 1.4 at 1024 px).

FLOP count (printed): 2 * kh * kw * C_in * C_out per output pixel of every convolution (3x3 layers and the
1x1 ToRGB layers), with the up-sampling convolution counted at its input resolution, as a transposed
convolution does (it computes kh * kw products per input pixel). Modulation, FIR filters, activations and
the mapping network are not counted. Config-f 1024: 148.5 GFLOP per image.

    python bench/generator.py --quick          # 256 px, batches 1 and 4 (about a minute on 2 cores)
    python bench/generator.py                  # 256 and 1024 px, batches 1, 4, 8 (several minutes)
    python bench/generator.py --resolutions 1024 --batches 1,4 --repeats 2 --no_reference --memory_batches 10 \
        --other_mode

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

from stylegan2.cpu import amx_flags  # noqa: E402  (the checkout first on the path; no TensorFlow imported)

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


def matmul_function(tf, dtype):
    """A call of tf.matmul of two 2048 x 2048 matrices of ``dtype`` (2 * 2048^3 FLOP)."""
    a = tf.cast(tf.random.normal([2048, 2048], seed=1), dtype)
    b = tf.cast(tf.random.normal([2048, 2048], seed=2), dtype)
    matmul = tf.function(lambda a, b: tf.matmul(a, b))
    return lambda: matmul(a, b).numpy()


def render_function(G, ws):
    return lambda: G.synthesis(ws).numpy()


def bench_resolution(tf, np, stylegan2, resolution, batches, repeats, reference, bf16, log, jit=False,
                     other_mode=False):
    """Time every path at ``resolution`` for each batch size in interleaved rounds; log and return the rows."""
    from stylegan2.fast_synthesis import default_per_sample
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
    per_sample = default_per_sample(resolution)
    # The default's other rendering mode: whole batches where the default is one sample at a time, or back.
    G_other = Generator(G.state, per_sample=not per_sample) if other_mode else None
    log(f"default rendering: {'one sample at a time' if per_sample else 'whole batches'}")
    rows = []
    matmuls = {"matmul": matmul_function(tf, tf.float32), "matmul_bf16": matmul_function(tf, tf.bfloat16)}
    for batch in batches:
        z = np.random.RandomState(batch).standard_normal((batch, G.z_dim)).astype(np.float32)
        ws = G.mapping(z, truncation_psi=0.7)
        functions = dict(matmuls, fast=render_function(G, ws))
        if reference:
            functions["reference"] = render_function(G_ref, ws)
        if bf16:
            functions["bfloat16"] = render_function(G_bf16, ws)
        if other_mode:
            functions["other"] = render_function(G_other, ws)
        if jit:
            start = time.perf_counter()
            G_jit.synthesis(ws).numpy()
            compile_seconds = time.perf_counter() - start
            functions["jit"] = render_function(G_jit, ws)
        seconds = interleaved(functions, repeats)
        fast = seconds["fast"] / batch
        rate = 2 * 2048 ** 3 / seconds["matmul"] / 1e9
        rate_bf16 = 2 * 2048 ** 3 / seconds["matmul_bf16"] / 1e9
        row = dict(resolution=resolution, batch=batch, s_per_image=fast, gflops=flops / fast / 1e9,
                   matmul_gflops=rate, matmul_bf16_gflops=rate_bf16, ratio=flops / fast / 1e9 / rate)
        text = (f"batch {batch}: float32 {fast:.3f} s/image, {row['gflops']:.1f} GFLOP/s = {row['ratio'] * 100:.0f} % "
                f"of matmul (float32 {rate:.1f} GFLOP/s, bfloat16 {rate_bf16:.1f} GFLOP/s = {rate_bf16 / rate:.2f}x)")
        if reference:
            ref = seconds["reference"] / batch
            row.update(reference_s_per_image=ref, speedup=ref / fast)
            text += f"; straightforward path {ref:.3f} s/image -> speed-up {ref / fast:.2f}x"
        if other_mode:
            other = seconds["other"] / batch
            row.update(other_mode_s_per_image=other)
            text += (f"; {'whole batches' if per_sample else 'one sample at a time'} {other:.3f} s/image "
                     "(after a warm-up call: its compiling not counted)")
        if bf16:
            low = seconds["bfloat16"] / batch
            images32 = np.asarray(G.synthesis(ws))
            images16 = np.asarray(G_bf16.synthesis(ws))
            error = np.abs(images16 - images32)
            clipped = np.abs(np.clip(images16, -1, 1) - np.clip(images32, -1, 1))
            row.update(bf16_s_per_image=low, bf16_speedup=fast / low, bf16_max_abs_error=float(error.max()),
                       bf16_mean_abs_error=float(error.mean()), bf16_clipped_max_abs_error=float(clipped.max()),
                       bf16_clipped_mean_abs_error=float(clipped.mean()), image_std=float(images32.std()))
            text += (f"\n  bfloat16 {low:.3f} s/image = {fast / low:.2f}x float32; error vs float32: raw images "
                     f"(std {images32.std():.2f}) mean {error.mean():.4f} max {error.max():.3f}, clipped to [-1, 1] "
                     f"mean {clipped.mean():.4f} max {clipped.max():.3f}")
        if jit:
            row.update(jit_s_per_image=seconds["jit"] / batch, jit_first_call_s=compile_seconds)
            text += (f"; whole synthesis XLA-compiled (jit_compile=True) {seconds['jit'] / batch:.3f} s/image after a "
                     f"{compile_seconds:.1f} s first call")
        log(text)
        rows.append(row)
    return rows


def first_call_child(resolution, batch, new_batch):
    """Child process body: per precision, a fresh Generator's call times in order: batch ``batch`` (the
    process's first call: compiles), ``batch`` again, ``new_batch`` (a batch size not seen before), ``new_batch``
    again. Prints JSON {precision: [seconds] * 4}."""
    import numpy as np

    import stylegan2
    from stylegan2.generator import Generator

    G = stylegan2.random_generator(resolution=resolution, seed=0, **CONFIG_F)
    ws = G.mapping(np.random.RandomState(0).standard_normal((max(batch, new_batch), G.z_dim)).astype(np.float32))
    result = {}
    for precision in ("float32", "bfloat16"):
        renderer = Generator(G.state, precision=precision)
        result[precision] = []
        for n in (batch, batch, new_batch, new_batch):
            start = time.perf_counter()
            renderer.synthesis(ws[:n]).numpy()
            result[precision].append(time.perf_counter() - start)
    print(json.dumps(result))


def memory_child(resolution, batch, count, precision):
    """Child process body: render ``count`` batches in a row in ``precision``; print the peak RSS (MiB) after
    batch 1, count / 2 and count (as JSON {batches: MiB})."""
    import numpy as np

    import stylegan2
    from stylegan2.generator import Generator

    G = stylegan2.random_generator(resolution=resolution, seed=0, **CONFIG_F)
    if precision != "float32":
        G = Generator(G.state, precision=precision)
    rng = np.random.RandomState(0)
    marks = sorted({1, max(count // 2, 1), count})
    peaks = {}
    for index in range(1, count + 1):
        ws = G.mapping(rng.standard_normal((batch, G.z_dim)).astype(np.float32))
        G.synthesis(ws).numpy()
        if index in marks:
            peaks[index] = peak_rss_mib()
    print(json.dumps(peaks))


def kernels_child():
    """Child process body (run with ONEDNN_VERBOSE=1): one bfloat16 convolution and one bfloat16 matmul, so that
    oneDNN logs the kernels it takes for them."""
    import tensorflow as tf

    x = tf.cast(tf.random.normal([1, 64, 64, 256]), tf.bfloat16)
    w = tf.cast(tf.random.normal([3, 3, 256, 256]), tf.bfloat16)
    tf.nn.conv2d(x, w, strides=1, padding="SAME").numpy()
    a = tf.cast(tf.random.normal([512, 512]), tf.bfloat16)
    tf.matmul(a, a).numpy()


def onednn_kernels():
    """{'convolution' | 'matmul': sorted oneDNN implementation names} that bfloat16 ops take here (from a child
    run with ONEDNN_VERBOSE=1), and the ISA line oneDNN reports."""
    out = subprocess.run([sys.executable, __file__, "--kernels_child"], check=True, capture_output=True, text=True,
                         env=dict(os.environ, ONEDNN_VERBOSE="1", TF_CPP_MIN_LOG_LEVEL="2"))
    kernels, isa = {}, ""
    for line in out.stdout.splitlines():
        fields = line.split(",")
        if line.startswith("onednn_verbose") and "exec" in fields and "bf16" in line:
            at = fields.index("exec")
            if fields[at + 2] in ("convolution", "matmul", "inner_product"):
                kernels.setdefault(fields[at + 2], set()).add(fields[at + 3])
        elif "info,cpu,isa:" in line:
            isa = line.split("isa:", 1)[1]
    return {name: sorted(found) for name, found in kernels.items()}, isa


def peak_rss_mib():
    """This process's peak resident memory (VmHWM, MiB). Unlike getrusage's ru_maxrss it is not inherited
    from the parent across fork and exec, so a child measures only itself."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_json(flag, value):
    """Run this script as a fresh child process with ``--flag value``; -> its last stdout line, parsed as JSON."""
    out = subprocess.run([sys.executable, __file__, flag, value], check=True, capture_output=True, text=True,
                         env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(prog="bench/generator.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="256 px only, batches 1 and 4, 3 repeats")
    parser.add_argument("--resolutions", default="256,1024", help="comma-separated resolutions (256,1024)")
    parser.add_argument("--batches", default="1,4,8", help="comma-separated batch sizes (1,4,8)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per figure after one warm-up (3)")
    parser.add_argument("--no_reference", action="store_true", help="skip the straightforward path")
    parser.add_argument("--no_bf16", action="store_true", help="skip the bfloat16 mode")
    parser.add_argument("--jit", action="store_true", help="also time the whole synthesis compiled by XLA")
    parser.add_argument("--other_mode", action="store_true", help="also time the default's other rendering mode "
                        "(whole batches where the default is one sample at a time, or back)")
    parser.add_argument("--memory_batches", type=int, default=50,
                        help="batches in a row for the memory check, per precision (50; 0: skip)")
    parser.add_argument("--memory_batch", type=int, default=4, help="batch size of the memory check (4)")
    parser.add_argument("--no_first_call", action="store_true", help="skip the first-call cost")
    parser.add_argument("--threads", help="INTRA,INTER: TensorFlow's intra-op and inter-op thread counts "
                        "(default: TensorFlow's choice, one per core for each)")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    parser.add_argument("--memory_child", help=argparse.SUPPRESS)
    parser.add_argument("--first_call_child", help=argparse.SUPPRESS)
    parser.add_argument("--kernels_child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_child:
        resolution, batch, count, precision = args.memory_child.split(",")
        memory_child(int(resolution), int(batch), int(count), precision)
        return
    if args.first_call_child:
        first_call_child(*(int(v) for v in args.first_call_child.split(",")))
        return
    if args.kernels_child:
        kernels_child()
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
    amx = amx_flags()
    results = {"rows": [], "memory": [], "first_call": [], "amx_flags": amx}
    if not args.no_bf16:
        kernels, isa = onednn_kernels()
        results.update(onednn_kernels=kernels, onednn_isa=isa)
        log(f"CPU AMX flags: {' '.join(amx) or 'none (no AMX units)'}; oneDNN ISA: {isa or '?'}; bfloat16 kernels: " +
            "; ".join(f"{name} {', '.join(names)}" for name, names in kernels.items()))
    for resolution in resolutions:
        results["rows"] += bench_resolution(tf, np, stylegan2, resolution, batches, args.repeats,
                                            not args.no_reference, not args.no_bf16, log, args.jit, args.other_mode)
    for resolution in resolutions:
        if not args.no_first_call:
            batch, new_batch = batches[0], max(batches[-1] // 2, 2)
            times = child_json("--first_call_child", f"{resolution},{batch},{new_batch}")
            for precision, (first, normal, first_new, normal_new) in times.items():
                log(f"first calls, {resolution} px, {precision} (fresh process): batch {batch} {first:.1f} s "
                    f"(compiles) then {normal:.1f} s; first call at batch {new_batch} {first_new:.1f} s vs {normal_new:.1f} s "
                    f"normal ({first_new - normal_new:+.1f} s)")
                results["first_call"].append(dict(resolution=resolution, precision=precision, batch=batch,
                                                  new_batch=new_batch, seconds=[first, normal, first_new, normal_new]))
        if args.memory_batches > 0:
            for precision in ("float32",) + (() if args.no_bf16 else ("bfloat16",)):
                peaks = {int(k): v for k, v in child_json(
                    "--memory_child", f"{resolution},{args.memory_batch},{args.memory_batches},{precision}").items()}
                log(f"memory, {resolution} px, batch {args.memory_batch}, {precision} (fresh process): peak RSS "
                    "after " + ", ".join(f"{n} batch(es) {mib:.0f} MiB" for n, mib in peaks.items()) + " in a row")
                results["memory"].append(dict(resolution=resolution, batch=args.memory_batch, precision=precision,
                                              peak_mib=peaks))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
