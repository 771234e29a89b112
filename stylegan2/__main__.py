"""``python -m stylegan2 generate --network PKL --seeds 0-7 --trunc 0.5 --outdir DIR``."""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
