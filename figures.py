"""figures.py: render a paper-style figure of labelled edit strips. The command is gradctrl/commands/figures.py; run with --help for its flags."""
import sys

from gradctrl.commands.figures import main

if __name__ == "__main__":
    sys.exit(main())
