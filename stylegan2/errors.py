"""The one exception type for bad input: its message is a single line naming the problem and the fix."""


class InputError(ValueError):
    """Bad user input (a file, an array, a flag). Command-line tools print its message and exit with code 2."""
