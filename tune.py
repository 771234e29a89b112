"""tune.py: choose each method's W+ layers and GradCtrl's exclusion top-k on validation latents. The command is gradctrl/commands/tune.py; run with --help for its flags."""
import sys

from gradctrl.commands.tune import main

if __name__ == "__main__":
    sys.exit(main())
