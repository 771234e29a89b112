"""prepare_data.py: build the data directory the classifiers learn from (stage one). The command is gradctrl/commands/prepare_data.py; run with --help for its flags."""
import sys

from gradctrl.commands.prepare_data import main

if __name__ == "__main__":
    sys.exit(main())
