"""Peak memory of prepare_data for N and 10 N samples at the same batch size.

    python bench/prepare_data_memory.py [--n 5000] [--factor 10] [--batch_size 64] [--part_size 1024]

Each run is a fresh process (the demo generator of configs/demo.toml, its three built-in scorers) that
reports its own peak resident memory (ru_maxrss). The stage keeps one batch of images and one part of
w and scores at a time, and at the merge the whole latents and scores (N x (w_dim + K) float32) plus
their selection: so the peak may grow by about that much, while holding every image would add
N x H x W x C bytes. The script prints the three numbers side by side.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def child(n, batch_size, part_size, generator, out_dir):
    """Run prepare_data in this process and print {"peak_mib", "seconds"} as JSON on the last line."""
    sys.path.insert(0, str(ROOT))
    import prepare_data

    start = time.perf_counter()
    prepare_data.main(["--config", str(ROOT / "configs" / "demo.toml"), "--generator", generator,
                       "--n_samples", str(n), "--batch_size", str(batch_size), "--part_size", str(part_size),
                       "--out_dir", out_dir, "--no_progress"])
    seconds = time.perf_counter() - start
    print(json.dumps({"peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "seconds": seconds}))


def measure(n, batch_size, part_size, generator, work):
    """Peak RSS (MiB) and wall time of one prepare_data process for n samples."""
    out_dir = Path(work) / f"data_{n}"
    result = subprocess.run(
        [sys.executable, __file__, "--child", str(n), "--batch_size", str(batch_size), "--part_size", str(part_size),
         "--generator", generator, "--out_dir", str(out_dir)],
        capture_output=True, text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"), check=False)
    if result.returncode != 0:
        raise SystemExit(f"prepare_data for N = {n} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--factor", type=int, default=10)
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--part_size", type=int, default=1024)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--generator", help=argparse.SUPPRESS)
    parser.add_argument("--out_dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args.child, args.batch_size, args.part_size, args.generator, args.out_dir)
        return
    sys.path.insert(0, str(ROOT))
    from gradctrl import generators
    from gradctrl.formats import config

    cfg = config.load_config(ROOT / "configs" / "demo.toml")
    random = cfg.generator.random
    with tempfile.TemporaryDirectory() as work:
        generator = str(Path(work) / "demo_generator.pkl")
        generators.save_random_generator(generator, random)
        w_dim, side, columns = random["w_dim"], random["resolution"], 1 + 1 + 3  # brightness, warmth, color (3)
        rows = []
        for n in (args.n, args.n * args.factor):
            result = measure(n, args.batch_size, args.part_size, generator, work)
            rows.append((n, result["peak_mib"], result["seconds"]))
            print(f"N = {n:>7}: peak RSS {result['peak_mib']:8.1f} MiB, {result['seconds']:6.1f} s "
                  f"({n / result['seconds']:.0f} samples/s)", flush=True)
    (n1, peak1, _), (n2, peak2, _) = rows
    arrays = (n2 - n1) * (w_dim + columns) * 4 / 2**20
    images = (n2 - n1) * side * side * 3 / 2**20
    print(f"growth N -> {args.factor} N: {peak2 - peak1:+.1f} MiB; latents + scores of the extra samples: "
          f"{arrays:.1f} MiB (float32); their images alone would be {images:.1f} MiB (uint8)")


if __name__ == "__main__":
    main()
