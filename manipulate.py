"""manipulate.py: edit latents with a trained classifier and render the strips (stage three). The command is gradctrl/commands/manipulate.py; run with --help for its flags."""
import sys

from gradctrl.commands.manipulate import main

if __name__ == "__main__":
    sys.exit(main())
