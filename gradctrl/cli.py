"""What every command-line tool shares: bad input becomes one line on stderr and exit code 2.

The handler is the one ``python -m stylegan2`` uses, so every command of the toolkit fails alike.
"""
from stylegan2.cli import exit_on_input_error

__all__ = ["exit_on_input_error"]
