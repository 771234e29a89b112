"""``python -m gradctrl.world COMMAND ...``: runs the command :mod:`gradctrl.commands.world_tools` (the one
command convention of both packages: bad input is one line on stderr and exit 2)."""
import sys

from gradctrl.commands.world_tools import main

sys.exit(main(sys.argv[1:]))
