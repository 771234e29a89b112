"""project.py: project real images into the generator's W or W+ space for editing. The command is gradctrl/commands/project.py; run with --help for its flags."""
import sys

from gradctrl.commands.project import main

if __name__ == "__main__":
    sys.exit(main())
