"""The claims' verdicts of several ``evaluate.py --claims`` reports side by side, as a markdown table.

    python scripts/claims_table.py --report fixed claims_out/report --report tuned claims_out/report_tuned \
        [--quality fixed runs/quality/quality.json] [--out claims_out/side_by_side.md]

Each ``--report LABEL DIR`` is a column (DIR holds the run's evaluation.json); ``--quality LABEL FILE`` adds
the generator quality figures of ``python -m gradctrl.world quality`` (KID) to that column, so a verdict can
be read beside the quality of the generator it came from. Prints the table, and writes it to ``--out``.
"""
import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gradctrl.errors import UserError  # noqa: E402
from gradctrl.evaluate.claims_report import verdicts_side_by_side  # noqa: E402
from stylegan2.atomic import write_bytes  # noqa: E402
from stylegan2.command_line import run_command  # noqa: E402


def _read_json(path, what):
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise UserError(f"{what} '{path}' cannot be read as JSON ({e}): pass the file a --claims run or "
                        "`python -m gradctrl.world quality` wrote") from None


def build_parser():
    parser = argparse.ArgumentParser(prog="claims_table.py", description=__doc__.splitlines()[0])
    parser.add_argument("--report", nargs=2, action="append", required=True, metavar=("LABEL", "DIR"),
                        help="a column: its label and an evaluate.py --claims output folder")
    parser.add_argument("--quality", nargs=2, action="append", default=[], metavar=("LABEL", "FILE"),
                        help="the quality.json of the generator of the column LABEL")
    parser.add_argument("--out", help="also write the table here")
    return parser


def _run(args):
    """Read every --report and --quality, print the table and write it to --out."""
    labels = [label for label, _ in args.report]
    quality = {}
    for label, path in args.quality:
        if label not in labels:
            raise UserError(f"--quality {label}: no --report has that label (labels: {', '.join(labels)})")
        quality[label] = _read_json(path, "--quality")
    columns = []
    for label, folder in args.report:
        report = _read_json(Path(folder) / "evaluation.json", "--report")
        if "verdicts" not in report:
            raise UserError(f"--report {label} {folder}: its evaluation.json has no verdicts: pass the output "
                            "folder of an evaluate.py --claims run")
        columns.append((label, report, quality.get(label)))
    table = verdicts_side_by_side(columns)
    if args.out:
        write_bytes(args.out, table.encode())
    print(table, end="")


def main(argv=None):
    """``scripts/claims_table.py`` on ``argv`` -> exit code 0; bad input: one line on stderr, exit 2."""
    return run_command(build_parser(), _run, argv)


if __name__ == "__main__":
    sys.exit(main())
