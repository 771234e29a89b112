"""Plot the KID curve of one or more training runs (their log.jsonl, written by ``python -m stylegan2 train``)
against kimg, with each run's real-vs-real baseline, and print the curve as a markdown table.

    python scripts/training_curve.py RUN/log.jsonl [MORE/log.jsonl ...] --out curve.png [--offset KIMG ...]

``--offset`` shifts a run's kimg (one value per log): a run started with ``--init`` from another run's
snapshot counts its kimg from 0, so giving the snapshot's kimg draws the two as one curve.
"""
import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def read_log(path):
    """The records of a log.jsonl that carry a KID -> list of dicts (kimg, kid, kid_real_baseline, ...)."""
    records = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    return [r for r in records if "kid" in r]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("logs", nargs="+", help="log.jsonl files, in training order")
    parser.add_argument("--out", required=True, help="PNG to write")
    parser.add_argument("--offset", type=float, nargs="*", default=None, help="kimg added to each log's kimg")
    args = parser.parse_args(argv)
    offsets = args.offset or [0.0] * len(args.logs)
    if len(offsets) != len(args.logs):
        parser.error(f"--offset needs one value per log ({len(args.logs)}), got {len(offsets)}")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from stylegan2.atomic import atomic_path

    fig, ax = plt.subplots(figsize=(6, 3.5))
    print("| run | kimg | KID | real-vs-real |\n| --- | --- | --- | --- |")
    for path, offset in zip(args.logs, offsets):
        records = read_log(path)
        kimg = [r["kimg"] + offset for r in records]
        ax.plot(kimg, [r["kid"] for r in records], marker="o", ms=3, label=f"{Path(path).parent.name}")
        for r, k in zip(records, kimg):
            print(f"| {Path(path).parent.name} | {k:.0f} | {r['kid']:.1f} | {r['kid_real_baseline']:.1f} |")
    baseline = read_log(args.logs[-1])[-1]["kid_real_baseline"]
    ax.axhline(baseline, color="grey", ls="--", label="real vs real")
    ax.set_yscale("symlog", linthresh=10)
    ax.set_xlabel("kimg (thousands of real images shown)")
    ax.set_ylabel("KID in the scorer's features")
    ax.legend()
    fig.tight_layout()
    with atomic_path(args.out) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
