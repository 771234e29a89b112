"""One page linking several runs' pages, for sharing a set of results.

    python -m gradctrl.report DIR [DIR ...] --out_dir PAGE_DIR [--title TEXT]     (installed: gradctrl-report)

Each DIR is the output folder of manipulate.py, evaluate.py (with or without --claims) or python -m stylegan2
train, holding its page (index.html). Writes PAGE_DIR/index.html: a row per run (a relative link to its page,
its kind, a summary: the edited attributes, the methods and claim verdicts, the kimg and KID) and, for edit
folders inside PAGE_DIR that edit one attribute on the same latents (e.g. the demo's edits/with_exclusion and
edits/without_exclusion), the edits side by side. Keep PAGE_DIR and the runs' folders together when sharing.
"""
import argparse

from stylegan2.atomic import FolderLock
from stylegan2.command_line import keep_old_spellings, run_command

from .evaluate.pages import write_report_page


def build_parser():
    parser = argparse.ArgumentParser(prog="python -m gradctrl.report", description=__doc__.split("\n\n")[0])
    parser.add_argument("dirs", nargs="+", metavar="DIR", help="run folders holding an index.html")
    parser.add_argument("--out_dir", required=True, help="folder of the report's index.html (created if missing)")
    parser.add_argument("--title", default="Results", help="the page's title (default: Results)")
    keep_old_spellings(parser, {"--out": "--out_dir"})
    return parser


def main(argv=None):
    """Run the command on ``argv`` (default: the command line) -> exit code 0; bad input exits with 2."""
    return run_command(build_parser(), _run, argv)


def _run(args):
    """Write the report page of the parsed ``args``."""
    with FolderLock(args.out_dir, "--out_dir"):
        path = write_report_page(args.dirs, args.out_dir, args.title)
        print(f"wrote {path}")


if __name__ == "__main__":
    raise SystemExit(main())
