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

from stylegan2.atomic import atomic_path  # noqa: E402
from stylegan2.command_line import run_command  # noqa: E402
from stylegan2.errors import InputError  # noqa: E402


def read_log(path):
    """The records of a log.jsonl that carry a KID -> list of dicts (kimg, kid, kid_real_baseline, ...);
    InputError naming the file when it cannot be read or holds none."""
    try:
        records = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    except (OSError, ValueError) as e:
        raise InputError(f"'{path}' cannot be read as a training log ({e}): pass the log.jsonl of a "
                         "'python -m stylegan2 train' run") from None
    records = [r for r in records if isinstance(r, dict) and "kid" in r]
    if not records:
        raise InputError(f"'{path}' holds no KID record: the run measured none yet (--kid_samples 0, or no "
                         "snapshot written)")
    return records


def build_parser():
    parser = argparse.ArgumentParser(prog="training_curve.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("logs", nargs="+", help="log.jsonl files, in training order")
    parser.add_argument("--out", required=True, help="PNG to write")
    parser.add_argument("--offset", type=float, nargs="*", default=None, help="kimg added to each log's kimg")
    return parser


def _run(args):
    """Read every log (all before any plotting), print the table, write the plot."""
    offsets = args.offset or [0.0] * len(args.logs)
    if len(offsets) != len(args.logs):
        raise InputError(f"--offset needs one value per log ({len(args.logs)}), got {len(offsets)}")
    logs = [read_log(path) for path in args.logs]
    import matplotlib  # plotting only: matplotlib is loaded once the logs are read
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    print("| run | kimg | KID | real-vs-real |\n| --- | --- | --- | --- |")
    for path, records, offset in zip(args.logs, logs, offsets):
        kimg = [r["kimg"] + offset for r in records]
        ax.plot(kimg, [r["kid"] for r in records], marker="o", ms=3, label=f"{Path(path).parent.name}")
        for r, k in zip(records, kimg):
            print(f"| {Path(path).parent.name} | {k:.0f} | {r['kid']:.1f} | {r['kid_real_baseline']:.1f} |")
    baseline = logs[-1][-1]["kid_real_baseline"]
    ax.axhline(baseline, color="grey", ls="--", label="real vs real")
    ax.set_yscale("symlog", linthresh=10)
    ax.set_xlabel("kimg (thousands of real images shown)")
    ax.set_ylabel("KID in the scorer's features")
    ax.legend()
    fig.tight_layout()
    with atomic_path(args.out) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    print(f"wrote {args.out}")


def main(argv=None):
    """``scripts/training_curve.py`` on ``argv`` -> exit code 0; bad input: one line on stderr, exit 2."""
    return run_command(build_parser(), _run, argv)


if __name__ == "__main__":
    sys.exit(main())
