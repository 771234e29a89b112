"""train.py: train the latent attribute classifier on a data directory (stage two). The command is gradctrl/commands/train.py; run with --help for its flags."""
import sys

from gradctrl.commands.train import main

if __name__ == "__main__":
    sys.exit(main())
