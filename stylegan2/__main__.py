"""``python -m stylegan2 generate --network PKL --seeds 0-7 --truncation 0.5 --out_dir DIR`` (:mod:`stylegan2.cli`)."""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
