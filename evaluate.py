"""evaluate.py: compare edit methods on held-out latents. The command is gradctrl/commands/evaluate.py; run with --help for its flags."""
import sys

from gradctrl.commands.evaluate import main

if __name__ == "__main__":
    sys.exit(main())
